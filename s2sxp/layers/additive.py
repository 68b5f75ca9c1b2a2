"""The recurrence of a Bahdanau decoder: additive attention queried by the state, then the cell on
[context | embedding], step after step (Bahdanau, Cho & Bengio 2015)::

    c_t, a_t = attention(hs_enc, query = s_t)                 (kernels/additive.py)
    s_{t+1} = cell([c_t | e_t], s_t)                           input width H + D

(embeddings E (N, T, D), hs_enc (N, T_enc, H), s_0 (N, H)) -> states s_1 .. s_T (N, T, H).

params: W1 (H, H), b1 (H,), W2 (H, H), b2 (H,), W3 (H, 1), b3 (1,) of the attention, then
Wx (H + D, G·H), Wh (H, G·H), b (G·H,) of the cell, the rows of Wx being [context | embedding] and
the gates those of the Time LSTM/GRU kernels (G = 4: f, g, i, o; G = 3: z, r, ĥ). With ``reset``
the cell starts every step from a zero state, so that s_t reaches step t + 1 only through the
attention query, and Wh receives no gradient. After backward, ``dh0`` is the gradient that
reached s_0.

:class:`FusedRecurrence` writes every step into arrays allocated once per batch, projects the
embedding part of the cell input for all steps with one GEMM, computes the attention keys once,
and forms every weight gradient with one GEMM over all steps; its steps run over a block of the
batch's rows and its weight gradients over a block of their columns, so that
:func:`s2sxp.parallel.for_blocks` can share them out over threads. :class:`ReferenceRecurrence`
runs the per-step references of kernels/additive.py and of the Time LSTM/GRU kernels one step at a
time: the specification the fused path must equal.
"""
from .. import kernels, parallel
from ..backend import get_array_module, ignore_overflow
from ..precision import products
from ..kernels import additive, gru, lstm
from .basic import store
from .steps import FusedSteps, GRUPart, LSTMPart, Recurrence


class _Recurrence(Recurrence):
    def __init__(self, params, cell, reset):
        super().__init__(params, cell)
        self.reset = bool(reset)


class FusedRecurrence(_Recurrence, FusedSteps):
    """The recurrence with the fused attention step and cell steps written into arrays allocated
    once per batch. The largest of them, (T, T_enc, N, H) and (T_enc, N, H), are kept and used
    again while the shapes repeat, as they do from one training batch to the next: writing into
    fresh memory costs the CPU a page fault every 4 KiB."""

    def __init__(self, params, cell, reset):
        super().__init__(params, cell, reset)
        self.cell = LSTMPart(self.reset) if self.lstm else GRUPart(self.reset)
        self._kept = {}

    def _array(self, name, shape, dtype):
        """An uninitialised array, the one of the last call under this name where it fits."""
        a = self._kept.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._kept[name] = get_array_module(self.params[0]).empty(shape, dtype=dtype)
        return a

    def start(self, hs_enc, h0, T, train, mask=None):
        """Allocate the arrays of T steps (the attention's y of one step only unless ``train``),
        compute the keys and the scaled weights; ``mask`` (N, T_enc): the padding mask."""
        W1, b1, W2, b2, W3, b3, Wx, Wh, b = self.params
        xp = get_array_module(hs_enc)
        N, T_enc, H = hs_enc.shape
        GH = Wh.shape[1]
        dt = Wh.dtype
        scale = (lstm if self.lstm else gru).gate_scale(H, dt, xp)
        self.hs_enc, self.mask = hs_enc, mask
        self.K, self.expK = additive.keys(hs_enc, W1, b1, b2)
        mm = products(xp)
        self.W2 = mm.operand(W2)                            # the query's, at every step
        self.Wc_s = mm.operand(Wx[:H] * scale)              # context rows of Wx, scaled
        self.We_s = Wx[H:] * scale                          # embedding rows
        self.b_s = b * scale
        self.train = train
        self.hbuf = xp.empty((T + 1, N, H), dtype=dt)       # hbuf[t] = s_t, the query of step t
        self.hbuf[0] = h0
        self.gates = xp.empty((T, N, GH), dtype=dt)
        self.cs = xp.empty((T, N, H), dtype=dt)
        self.as_ = xp.empty((T, N, T_enc), dtype=dt)
        self.ys = self._array("ys" if train else "y", (T if train else 1, T_enc, N, H), dt)
        self.cell.start(Wh, scale, T, N, H, xp)
        self.attention_weights = self.as_.transpose(1, 0, 2)

    def _step(self, t, rows, gx, scratch):
        """Step t for the rows ``rows`` of the batch: attention with the query s_t, then the
        cell; gx (rows, G·H) is this step's embedding part."""
        W3 = self.params[4]
        xp = get_array_module(gx)
        q = self.hbuf[t, rows]
        y = self.ys[t if self.train else 0, :, rows]
        expK = None if self.expK is None else self.expK[:, rows]
        mask = None if self.mask is None else self.mask[rows]
        additive.forward(self.K[:, rows], expK, self.hs_enc[rows], q, self.W2, W3, y,
                         self.as_[t, rows], self.cs[t, rows], mask)
        g = self.gates[t, rows]
        products(xp).matmul(self.cs[t, rows], self.Wc_s, out=g)
        g += gx
        with ignore_overflow(xp):
            self.cell.step(xp, t, rows, g, q, self.hbuf[t + 1, rows], scratch)

    def step(self, t, gx):
        """Step t for the whole batch, gx (N, G·H) its embedding part -> s_{t+1} (N, H)."""
        def block(rows):
            self._step(t, rows, gx[rows], self._scratch(rows.stop - rows.start))

        parallel.for_blocks(get_array_module(gx), gx.shape[0], block)
        return self.hbuf[t + 1]

    def reorder(self, t, index):
        """Rows of the state after step t taken in the order ``index`` (beam search)."""
        self.hbuf[t + 1] = self.hbuf[t + 1][index]
        self.cell.reorder(t, index)

    def forward(self, E, hs_enc, h0, mask=None):
        self.start(hs_enc, h0, E.shape[1], train=True, mask=mask)
        self.run_steps(E)
        return self.hbuf[1:].transpose(1, 0, 2)

    def backward(self, dhs):
        """dhs (N, T, H) -> dE (N, T, D), dhs_enc (N, T_enc, H); sets dh0."""
        W1, b1, W2, b2, W3, b3, Wx, Wh, b = self.params
        xp = get_array_module(dhs)
        T, N, H = self.cs.shape
        GH = Wh.shape[1]
        dt = Wh.dtype
        dhs_tm = dhs.transpose(1, 0, 2)
        dA = xp.empty((T, N, GH), dtype=dt)                 # d pre-activation of the gates
        dcs = xp.empty((T, N, H), dtype=dt)                 # d context
        dqws = xp.empty((T, N, H), dtype=dt)
        dss = xp.empty((T, N, self.as_.shape[2]), dtype=dt)  # d scores
        U = self._array("U", self.K.shape, dt)              # dK / (4·W3), kernels/additive.py
        tmp_att = self._array("tmp", self.K.shape, dt)
        dh0 = xp.empty((N, H), dtype=dt)
        dw3s = []
        mm = products(xp)
        Wc_T = mm.operand(xp.ascontiguousarray(Wx[:H].T))
        W2_T = mm.operand(xp.ascontiguousarray(W2.T))
        self.cell.start_back(Wh, H, xp)

        def steps(rows):
            n = rows.stop - rows.start
            dh, dc = dh0[rows], xp.zeros((n, H), dtype=dt)
            dh[...] = 0
            dw3 = xp.zeros((1, H), dtype=dt)
            scratch = self.cell.back_scratch(n, H, GH, dt, xp)
            for t in range(T - 1, -1, -1):
                dh += dhs_tm[t, rows]
                da = dA[t, rows]
                self.cell.step_back(xp, t, rows, self.gates[t, rows], self.hbuf[t, rows], dh, dc,
                                    da, scratch)
                mm.matmul(da, Wc_T, out=dcs[t, rows])
                dq = additive.backward(dcs[t, rows], self.hs_enc[rows], self.ys[t, :, rows],
                                       self.as_[t, rows], W2_T, W3, dss[t, rows], dw3,
                                       dqws[t, rows], tmp_att[:, rows])
                if self.reset:              # the cell's h_prev was a zero constant
                    dh[...] = dq
                    dc[...] = 0
                else:
                    dh += dq
            dw3s.append(dw3)
            additive.key_gradient(dss, self.ys, U, rows)

        parallel.for_blocks(xp, N, steps)
        self.dh0 = dh0

        dA2 = dA.reshape(T * N, GH)
        dA2_op = mm.operand(dA2)                            # the four products' below
        cs2, hs2 = self.cs.reshape(T * N, H), self.hbuf[:T].reshape(T * N, H)
        dWx = xp.empty_like(Wx)
        dWh = xp.zeros_like(Wh) if self.reset else xp.empty_like(Wh)
        db = xp.empty_like(b)

        def weight_grads(cols):
            dA2[:, cols].sum(axis=0, out=db[cols])
            mm.matmul(cs2.T, dA2_op[:, cols], out=dWx[:H, cols])
            mm.matmul(self.E_tm.T, dA2_op[:, cols], out=dWx[H:, cols])
            if not self.reset:
                self.cell.weight_grad(xp, cols, dA2_op, hs2, dWh)

        parallel.for_blocks(xp, GH, weight_grads, min_block=128)
        dE = parallel.matmul(mm, dA2_op, Wx[H:].T).reshape(T, N, -1).transpose(1, 0, 2)
        dhs_enc, att_grads = additive.backward_keys(U, self.hs_enc, W1, W3, sum(dw3s),
                                                    self.hbuf[:T], dqws, self.as_, dcs, tmp_att)
        store(self.grads, (*att_grads, dWx, dWh, db))
        return dE, dhs_enc


class ReferenceRecurrence(_Recurrence):
    """The same recurrence from the per-step references, one step at a time."""

    def start(self, hs_enc, h0, T, train, mask=None):
        xp = get_array_module(hs_enc)
        N, T_enc, H = hs_enc.shape
        self.hs_enc, self.mask = hs_enc, mask
        self.h = h0
        self.c = xp.zeros_like(h0)
        self.steps = []
        self.attention_weights = xp.empty((N, T, T_enc), dtype=hs_enc.dtype)

    def embedding_part(self, E):
        return E.transpose(1, 0, 2)

    def step(self, t, e):
        """Step t for the embeddings e (N, D) of its inputs -> s_{t+1} (N, H)."""
        W1, b1, W2, b2, W3, b3, Wx, Wh, b = self.params
        xp = get_array_module(e)
        c, a, att = additive.forward_reference(self.hs_enc, self.h, W1, b1, W2, b2, W3, b3,
                                               self.mask)
        self.attention_weights[:, t] = a
        x = xp.concatenate((c, e), axis=1)[:, None, :]
        h_prev = xp.zeros_like(self.h) if self.reset else self.h
        if self.lstm:
            c_prev = xp.zeros_like(self.c) if self.reset else self.c
            _, (self.h, self.c), cell = kernels.lstm.forward_reference(x, h_prev, c_prev, Wx, Wh,
                                                                       b)
        else:
            _, self.h, cell = kernels.gru.forward_reference(x, h_prev, Wx, Wh, b)
        self.steps.append((att, cell))
        return self.h

    def reorder(self, t, index):
        self.h = self.h[index]
        self.c = self.c[index]

    def forward(self, E, hs_enc, h0, mask=None):
        N, T, D = E.shape
        self.start(hs_enc, h0, T, train=True, mask=mask)
        xp = get_array_module(E)
        hs = xp.empty((N, T, h0.shape[1]), dtype=h0.dtype)
        for t in range(T):
            hs[:, t] = self.step(t, E[:, t])
        return hs

    def backward(self, dhs):
        xp = get_array_module(dhs)
        N, T, H = dhs.shape
        D = self.params[6].shape[0] - H
        grads = [xp.zeros_like(p) for p in self.params]
        dE = xp.empty((N, T, D), dtype=dhs.dtype)
        dhs_enc = xp.zeros_like(self.hs_enc)
        dh = dc = xp.zeros((N, H), dtype=dhs.dtype)
        for t in reversed(range(T)):
            att, cell = self.steps[t]
            if self.lstm:
                dx, dh_prev, dc_prev, cell_grads = kernels.lstm.backward_reference(
                    dhs[:, t:t + 1], dh, dc, cell)
            else:
                dx, dh_prev, cell_grads = kernels.gru.backward_reference(dhs[:, t:t + 1], dh,
                                                                         cell)
                dc_prev = dc
            dE[:, t] = dx[:, 0, H:]
            d_enc, dq, att_grads = additive.backward_reference(dx[:, 0, :H], att)
            dhs_enc += d_enc
            for g, d in zip(grads, (*att_grads, *cell_grads)):
                g += d
            if self.reset:
                dh, dc = dq, xp.zeros_like(dc)
            else:
                dh, dc = dh_prev + dq, dc_prev
        self.dh0 = dh
        store(self.grads, grads)
        return dE, dhs_enc

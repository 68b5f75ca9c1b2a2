"""The recurrence of an attention decoder with input feeding (Luong, Pham & Manning 2015, §3.3):
the book's dot attention after the cell, its context fed into the cell's next step::

    h_t = cell([e_t | c_{t-1}], h_{t-1})                      input width D + H, c_{-1} = 0
    c_t, a_t = attention(hs_enc, query = h_t)                 (kernels/attention.py)

(embeddings E (N, T, D), hs_enc (N, T_enc, H), h_0 (N, H)) -> states h_1 .. h_T and contexts
c_1 .. c_T (N, T, H) each, which the decoder's affine reads as [c_t | h_t]. Without the feed
(the book's AttentionDecoder) a step's attention cannot shape what the decoder does next; with it,
each step knows what it attended to last.

params: Wx (D + H, G·H) with rows [embedding | context], Wh (H, G·H), b (G·H,), the gates those
of the Time LSTM/GRU kernels (G = 4: f, g, i, o; G = 3: z, r, ĥ). After backward, ``dh0`` is the
gradient that reached h_0.

:class:`FusedFeedingRecurrence` writes every step into arrays allocated once per batch, projects
the embedding part of the cell input for all steps with one GEMM, runs the cell steps of
kernels/lstm.py and kernels/gru.py (through the cell parts of layers/steps.py), and forms the
weight gradients and the encoder states' gradient with one product over all steps each; its
steps run over blocks of the batch's rows (:func:`s2sxp.parallel.for_blocks`).
:class:`ReferenceFeedingRecurrence` runs the per-step references of the kernels one step at a
time: the specification the fused path must equal.
"""
from .. import kernels, parallel
from ..backend import get_array_module, ignore_overflow
from ..kernels import gru, lstm
from ..precision import products
from .steps import FusedSteps, GRUPart, LSTMPart, Recurrence
from .basic import store


class FusedFeedingRecurrence(Recurrence, FusedSteps):
    """The recurrence with the cell steps and each step's attention written into arrays
    allocated once per batch."""

    def __init__(self, params, cell):
        super().__init__(params, cell)
        self.cell = LSTMPart(False) if self.lstm else GRUPart(False)

    def start(self, hs_enc, h0, T, mask=None):
        """Allocate the arrays of T steps; ``mask`` (N, T_enc): the padding mask."""
        Wx, Wh, b = self.params
        xp = get_array_module(hs_enc)
        N, T_enc, H = hs_enc.shape
        D = Wx.shape[0] - H
        dt = Wh.dtype
        scale = (lstm if self.lstm else gru).gate_scale(H, dt, xp)
        self.hs_enc, self.mask = hs_enc, mask
        self.We_s = Wx[:D] * scale                          # embedding rows of Wx, scaled
        self.Wc_s = products(xp).operand(Wx[D:] * scale)    # context rows
        self.b_s = b * scale
        self.hbuf = xp.empty((T + 1, N, H), dtype=dt)       # hbuf[t] = h_t
        self.hbuf[0] = h0
        self.cbuf = xp.empty((T + 1, N, H), dtype=dt)       # cbuf[t] = c_{t-1}, fed to step t
        self.cbuf[0] = 0
        self.gates = xp.empty((T, N, Wh.shape[1]), dtype=dt)
        self.as_ = xp.empty((T, N, T_enc), dtype=dt)
        self.cell.start(Wh, scale, T, N, H, xp)
        self.attention_weights = self.as_.transpose(1, 0, 2)

    def _step(self, t, rows, gx, scratch):
        """Step t for the rows ``rows``: the cell on [e_t | c_{t-1}], then the attention queried
        by its new state; gx (rows, G·H) is this step's embedding part."""
        xp = get_array_module(gx)
        g = self.gates[t, rows]
        products(xp).matmul(self.cbuf[t, rows], self.Wc_s, out=g)
        g += gx
        h = self.hbuf[t + 1, rows]
        with ignore_overflow(xp):
            self.cell.step(xp, t, rows, g, self.hbuf[t, rows], h, scratch)
        hs_enc = self.hs_enc[rows]
        s = self.as_[t, rows]
        xp.matmul(hs_enc, h[:, :, None], out=s[:, :, None])
        if self.mask is not None:
            s += self.mask[rows]
        s -= s.max(axis=1, keepdims=True)
        xp.exp(s, out=s)
        s /= s.sum(axis=1, keepdims=True)
        xp.matmul(s[:, None, :], hs_enc, out=self.cbuf[t + 1, rows][:, None, :])

    def step(self, t, gx):
        """Step t for the whole batch, gx (N, G·H) its embedding part -> (h_{t+1}, c_{t+1})."""
        def block(rows):
            self._step(t, rows, gx[rows], self._scratch(rows.stop - rows.start))

        parallel.for_blocks(get_array_module(gx), gx.shape[0], block)
        return self.hbuf[t + 1], self.cbuf[t + 1]

    def reorder(self, t, index):
        """Rows of the state after step t taken in the order ``index`` (beam search)."""
        self.hbuf[t + 1] = self.hbuf[t + 1][index]
        self.cbuf[t + 1] = self.cbuf[t + 1][index]
        self.cell.reorder(t, index)

    def forward(self, E, hs_enc, h0, mask=None):
        """-> states (N, T, H), contexts (N, T, H)."""
        self.start(hs_enc, h0, E.shape[1], mask)
        self.run_steps(E)
        return self.hbuf[1:].transpose(1, 0, 2), self.cbuf[1:].transpose(1, 0, 2)

    def backward(self, dhs, dcs):
        """dhs, dcs (N, T, H): the gradients of the states and contexts -> dE (N, T, D),
        dhs_enc (N, T_enc, H); sets dh0."""
        Wx, Wh, b = self.params
        xp = get_array_module(dhs)
        T, N, H = self.gates.shape[0], self.hbuf.shape[1], self.hbuf.shape[2]
        D = Wx.shape[0] - H
        GH, dt = Wh.shape[1], Wh.dtype
        dhs_tm, dcs_tm = dhs.transpose(1, 0, 2), dcs.transpose(1, 0, 2)
        dA = xp.empty((T, N, GH), dtype=dt)                 # d pre-activation of the gates
        dc_all = xp.empty((T, N, H), dtype=dt)              # d c_t, from the output and the feed
        dss = xp.empty_like(self.as_)                       # d attention scores
        dh0 = xp.empty((N, H), dtype=dt)
        mm = products(xp)
        Wc_T = mm.operand(xp.ascontiguousarray(Wx[D:].T))
        self.cell.start_back(Wh, H, xp)

        def steps(rows):
            n = rows.stop - rows.start
            hs_enc = self.hs_enc[rows]
            dh, dmem = dh0[rows], xp.zeros((n, H), dtype=dt)
            dh[...] = 0
            dfeed = xp.zeros((n, H), dtype=dt)              # d c_t from step t + 1's input
            scratch = self.cell.back_scratch(n, H, GH, dt, xp)
            for t in range(T - 1, -1, -1):
                dc = dc_all[t, rows]
                xp.add(dcs_tm[t, rows], dfeed, out=dc)
                a, ds = self.as_[t, rows], dss[t, rows]
                xp.matmul(hs_enc, dc[:, :, None], out=ds[:, :, None])      # d a
                ds -= (a * ds).sum(axis=1, keepdims=True)
                ds *= a
                dh += dhs_tm[t, rows]
                dh += xp.matmul(ds[:, None, :], hs_enc)[:, 0]               # d query
                da = dA[t, rows]
                self.cell.step_back(xp, t, rows, self.gates[t, rows], self.hbuf[t, rows], dh,
                                    dmem, da, scratch)
                mm.matmul(da, Wc_T, out=dfeed)

        parallel.for_blocks(xp, N, steps)
        self.dh0 = dh0

        dA2 = dA.reshape(T * N, GH)
        cprev2, hs2 = self.cbuf[:T].reshape(T * N, H), self.hbuf[:T].reshape(T * N, H)
        dWx, dWh, db = xp.empty_like(Wx), xp.empty_like(Wh), xp.empty_like(b)

        def weight_grads(cols):
            dA2[:, cols].sum(axis=0, out=db[cols])
            mm.matmul(self.E_tm.T, dA2[:, cols], out=dWx[:D, cols])
            mm.matmul(cprev2.T, dA2[:, cols], out=dWx[D:, cols])
            self.cell.weight_grad(xp, cols, dA2, hs2, dWh)

        parallel.for_blocks(xp, GH, weight_grads, min_block=128)
        dE = parallel.matmul(mm, dA2, Wx[:D].T).reshape(T, N, D).transpose(1, 0, 2)
        # every step's share of the encoder states at once: aᵀ·dc + dsᵀ·h over the steps
        dhs_enc = xp.empty_like(self.hs_enc, order="C")
        hq = self.hbuf[1:]

        def encoder_grads(rows):
            a = self.as_[:, rows].transpose(1, 2, 0)                        # (n, T_enc, T)
            mm.matmul(a, dc_all[:, rows].transpose(1, 0, 2), out=dhs_enc[rows])
            dhs_enc[rows] += mm.matmul(dss[:, rows].transpose(1, 2, 0),
                                       hq[:, rows].transpose(1, 0, 2))

        parallel.for_blocks(xp, N, encoder_grads)
        store(self.grads, (dWx, dWh, db))
        return dE, dhs_enc


class ReferenceFeedingRecurrence(Recurrence):
    """The same recurrence from the per-step references, one step at a time."""

    def start(self, hs_enc, h0, T, mask=None):
        xp = get_array_module(hs_enc)
        N, T_enc, H = hs_enc.shape
        self.hs_enc, self.mask = hs_enc, mask
        self.h, self.c, self.mem = h0, xp.zeros_like(h0), xp.zeros_like(h0)
        self.steps = []
        self.attention_weights = xp.empty((N, T, T_enc), dtype=hs_enc.dtype)

    def embedding_part(self, E):
        return E.transpose(1, 0, 2)

    def step(self, t, e):
        """Step t for the embeddings e (N, D) of its inputs -> (h_{t+1}, c_{t+1})."""
        Wx, Wh, b = self.params
        xp = get_array_module(e)
        x = xp.concatenate((e, self.c), axis=1)[:, None, :]
        if self.lstm:
            _, (self.h, self.mem), cell = kernels.lstm.forward_reference(x, self.h, self.mem,
                                                                         Wx, Wh, b)
        else:
            _, self.h, cell = kernels.gru.forward_reference(x, self.h, Wx, Wh, b)
        cs, a, att = kernels.attention.forward_reference(self.hs_enc, self.h[:, None, :],
                                                         self.mask)
        self.c = cs[:, 0]
        self.attention_weights[:, t] = a[:, 0]
        self.steps.append((cell, att))
        return self.h, self.c

    def reorder(self, t, index):
        self.h, self.c, self.mem = self.h[index], self.c[index], self.mem[index]

    def forward(self, E, hs_enc, h0, mask=None):
        xp = get_array_module(E)
        N, T, D = E.shape
        self.start(hs_enc, h0, T, mask)
        hs = xp.empty((N, T, h0.shape[1]), dtype=h0.dtype)
        cs = xp.empty_like(hs)
        for t in range(T):
            hs[:, t], cs[:, t] = self.step(t, E[:, t])
        return hs, cs

    def backward(self, dhs, dcs):
        xp = get_array_module(dhs)
        N, T, H = dhs.shape
        D = self.params[0].shape[0] - H
        grads = [xp.zeros_like(p) for p in self.params]
        dE = xp.empty((N, T, D), dtype=dhs.dtype)
        dhs_enc = xp.zeros_like(self.hs_enc)
        dh = dmem = dfeed = xp.zeros((N, H), dtype=dhs.dtype)
        for t in reversed(range(T)):
            cell, att = self.steps[t]
            d_enc, dq = kernels.attention.backward_reference((dcs[:, t] + dfeed)[:, None, :], att)
            dhs_enc += d_enc
            dh_t = (dhs[:, t] + dq[:, 0] + dh)[:, None, :]
            if self.lstm:
                dx, dh, dmem, cell_grads = kernels.lstm.backward_reference(dh_t, None, dmem, cell)
            else:
                dx, dh, cell_grads = kernels.gru.backward_reference(dh_t, None, cell)
            dE[:, t], dfeed = dx[:, 0, :D], dx[:, 0, D:]
            for g, d in zip(grads, cell_grads):
                g += d
        self.dh0 = dh
        store(self.grads, grads)
        return dE, dhs_enc

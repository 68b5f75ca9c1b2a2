"""What the fused recurrences over a decoder's steps share (layers/additive.py's attention before
the cell, layers/feeding.py's attention after it): the parameters and gradients every recurrence
keeps, the cell's part of a step, forward and back (:class:`LSTMPart`, :class:`GRUPart`: the step
kernels of kernels/lstm.py and kernels/gru.py on rows of arrays allocated once per batch), and
the embedding part of every step's cell input with one GEMM and the loop over the steps
(:class:`FusedSteps`), a block of the batch's rows to each thread (:mod:`s2sxp.parallel`).
"""
from .. import parallel
from ..backend import get_array_module
from ..kernels import gru, lstm
from ..precision import products


class Recurrence:
    """What every decoder recurrence keeps: its parameters and their gradients, which cell it
    runs, the attention weights of its last steps and, after backward, ``dh0``, the gradient
    that reached its initial state."""

    def __init__(self, params, cell):
        self.params = list(params)
        self.grads = [get_array_module(p).zeros_like(p) for p in self.params]
        self.lstm = cell == "lstm"
        self.attention_weights = None
        self.dh0 = None


class LSTMPart:
    """What the LSTM cell adds to a fused recurrence: its memory cells, and its step forward and
    back (kernels/lstm.py)."""

    def __init__(self, reset):
        self.reset = reset

    def start(self, Wh, scale, T, N, H, xp):
        dt = Wh.dtype
        self.Wh_s = products(xp).operand(Wh * scale)
        self.c = xp.empty((T + 1, N, H), dtype=dt)         # c[t]: the memory cell after t steps
        self.c[0] = 0
        self.tanh_c = xp.empty((T, N, H), dtype=dt)
        self.zero = xp.zeros((N, H), dtype=dt)            # the cell's input state when reset

    def scratch(self, n, H, GH, dt, xp):
        return xp.empty((n, GH), dtype=dt), xp.empty((n, H), dtype=dt)

    def step(self, xp, t, rows, g, q, h, scratch):
        c_prev = self.zero[rows] if self.reset else self.c[t, rows]
        rec, tmp = scratch
        if not self.reset:                                  # a zero state adds nothing to g
            products(xp).matmul(q, self.Wh_s, out=rec)
            g += rec
        lstm.step_forward(xp, g, c_prev, self.c[t + 1, rows], self.tanh_c[t, rows], h, tmp)

    def reorder(self, t, index):
        self.c[t + 1] = self.c[t + 1][index]

    def start_back(self, Wh, H, xp):
        GH, dt = Wh.shape[1], Wh.dtype
        self.alpha = xp.ones(GH, dtype=dt)
        self.beta = xp.zeros(GH, dtype=dt)
        self.alpha[H:2 * H] = 0
        self.beta[H:2 * H] = 1
        # a row-major copy of the transposed weight, as in kernels/lstm.py's backward
        self.Wh_T = None if self.reset else products(xp).operand(xp.ascontiguousarray(Wh.T))

    def back_scratch(self, n, H, GH, dt, xp):
        return xp.empty((n, GH), dtype=dt), xp.empty((n, H), dtype=dt)

    def step_back(self, xp, t, rows, gates, h_prev, dh, dc, da, scratch):
        c_prev = self.zero[rows] if self.reset else self.c[t, rows]
        lstm.step_backward(xp, gates, c_prev, self.tanh_c[t, rows], dh, dc, da, self.Wh_T,
                           (self.alpha, self.beta), scratch)

    def weight_grad(self, xp, cols, dA2, hs2, dWh):
        products(xp).matmul(hs2.T, dA2[:, cols], out=dWh[:, cols])


class GRUPart:
    """What the GRU cell adds to a fused recurrence: r ⊙ h_prev, and its step forward and back
    (kernels/gru.py)."""

    def __init__(self, reset):
        self.reset = reset

    def start(self, Wh, scale, T, N, H, xp):
        mm = products(xp)
        self.Wh_s = (mm.operand(Wh[:, :2 * H] * scale[:2 * H]),
                     mm.operand(Wh[:, 2 * H:] * scale[2 * H:]))
        self.rh = xp.empty((T, N, H), dtype=Wh.dtype)      # r ⊙ h_prev

    def scratch(self, n, H, GH, dt, xp):
        return xp.empty((n, 2 * H), dtype=dt), xp.empty((n, H), dtype=dt)

    def step(self, xp, t, rows, g, q, h, scratch):
        if self.reset:
            gru.step_forward_from_zero(xp, g, h)
        else:
            gru.step_forward(xp, g, q, self.rh[t, rows], h, *self.Wh_s, *scratch)

    def reorder(self, t, index):
        pass

    def start_back(self, Wh, H, xp):
        if not self.reset:                                  # see kernels/gru.py
            mm = products(xp)
            self.Wh_zr_T = mm.operand(xp.ascontiguousarray(Wh[:, :2 * H].T))
            self.Wh_h_T = mm.operand(xp.ascontiguousarray(Wh[:, 2 * H:].T))

    def back_scratch(self, n, H, GH, dt, xp):
        return tuple(xp.empty((n, H), dtype=dt) for _ in range(3))

    def step_back(self, xp, t, rows, gates, h_prev, dh, dc, da, scratch):
        dhr, tmp, tmp2 = scratch
        if self.reset:
            gru.step_backward_to_zero(xp, gates, dh, da, tmp, tmp2)
        else:
            gru.step_backward(xp, gates, h_prev, dh, da, self.Wh_zr_T, self.Wh_h_T, dhr, tmp,
                              tmp2)

    def weight_grad(self, xp, cols, dA2, hs2, dWh):
        # the z and r columns see h_prev, the ĥ columns r ⊙ h_prev
        H = hs2.shape[1]
        T_N = hs2.shape[0]
        for part, inputs in ((slice(cols.start, min(cols.stop, 2 * H)), hs2),
                             (slice(max(cols.start, 2 * H), cols.stop),
                              self.rh.reshape(T_N, H))):
            if part.start < part.stop:
                products(xp).matmul(inputs.T, dA2[:, part], out=dWh[:, part])


class FusedSteps:
    """The embedding part of every step's cell input with one GEMM, the cell's scratch arrays and
    the loop over the steps. A fused recurrence sets ``We_s`` and ``b_s`` (the embedding rows of
    the cell's Wx and its bias, scaled like the gates), ``hbuf``, ``gates`` and ``cell`` in its
    ``start``."""

    def embedding_part(self, E):
        """E (N, T, D) -> E·We + b (T, N, G·H), scaled like the gates."""
        xp = get_array_module(E)
        N, T, D = E.shape
        self.E_tm = E.transpose(1, 0, 2).reshape(T * N, D)
        gx = xp.empty((T * N, self.We_s.shape[1]), dtype=self.We_s.dtype)
        mm = products(xp)
        We_s = mm.operand(self.We_s)

        def block(rows):
            mm.matmul(self.E_tm[rows], We_s, out=gx[rows])
            gx[rows] += self.b_s

        parallel.for_blocks(xp, T * N, block)
        return gx.reshape(T, N, -1)

    def _scratch(self, n):
        xp = get_array_module(self.hbuf)
        H, GH, dt = self.hbuf.shape[2], self.gates.shape[2], self.hbuf.dtype
        return self.cell.scratch(n, H, GH, dt, xp)

    def run_steps(self, E):
        """Every step (``_step``) of the batch whose embeddings are E (N, T, D), after
        ``start``; each thread runs a block of its rows."""
        N, T, D = E.shape
        gx = self.embedding_part(E)

        def steps(rows):
            scratch = self._scratch(rows.stop - rows.start)
            for t in range(T):
                self._step(t, rows, gx[t, rows], scratch)

        parallel.for_blocks(get_array_module(E), N, steps)

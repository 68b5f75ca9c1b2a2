"""Time LSTM: a fused kernel and the slow per-step reference it must equal.

Gate order f, g, i, o in one (., 4H) matrix, as in the book (ch. 6)::

    a = x·Wx + h_prev·Wh + b                      a: (N, 4H) = [a_f | a_g | a_i | a_o]
    f = σ(a_f)   g = tanh(a_g)   i = σ(a_i)   o = σ(a_o)
    c = f ⊙ c_prev + g ⊙ i
    h = o ⊙ tanh(c)

The fused kernel runs each step as one GEMM and a few elementwise passes into preallocated
time-major buffers: the step's input is the row [h_prev | x | 1] and its weight the stack
[Wh; Wx; b], so the input projection and the bias cost no pass of their own, and backward gets
[dWh; dWx; db] from one GEMM over all steps (dxs it forms step by step, while each step's
gradient is still in cache). It evaluates all four gates with one ``exp`` pass: the columns of
the stacked weight are scaled once per call by -1 (σ gates) and -2 (g), so that
y = 1 / (1 + exp(scaled a)) is σ(a) for f, i, o and σ(2a) for g, and g = 2·σ(2a) - 1 = tanh(a).
σ is taken through ``exp`` rather than as ½·tanh(a/2) + ½ (one pass fewer) because in float32
the latter keeps small gate values only to an absolute precision, 1 / (1 + exp(-a)) to a relative
one (what that does to training: benchmarks/results/design-notes.md). On a
multi-core CPU the recurrence runs over blocks of the batch in parallel (:mod:`s2sxp.parallel`).

Both kernels take xs (N, T, D), h0 and c0 (N, H) and return hs (N, T, H), (h_T, c_T) and a cache;
backward takes dhs (N, T, H) and the gradients reaching h_T, c_T (or None) and returns
dxs, dh0, dc0, (dWx, dWh, db). The fused backward also takes dhs=None for a layer whose outputs
receive no gradient but through h_T (an encoder whose last state is all the decoder sees). The
fused kernel also takes a bias of each sequence, b (N, 4H), the same at every step (how a layer
feeds PeekySeq2seq's constant input), and then returns db (N, 4H).
"""
import numpy

from .. import parallel
from ..backend import get_array_module, ignore_overflow
from ..precision import products
from . import cuda


def gate_scale(H, dtype, xp):
    """Per-column factor of the pre-activation: -1 for the σ gates f, i, o and -2 for g."""
    scale = xp.full(4 * H, -1, dtype=dtype)
    scale[H:2 * H] = -2
    return scale


def forward(xs, h0, c0, Wx, Wh, b):
    xp = get_array_module(xs)
    N, T, D = xs.shape
    H = Wh.shape[0]
    scale = gate_scale(H, Wh.dtype, xp)
    per_sequence = b.ndim == 2
    W = xp.concatenate((Wh, Wx) if per_sequence else (Wh, Wx, b[None, :]))   # (K, 4H)
    W *= scale
    mm = products(xp)
    W = mm.operand(W)
    b_s = b * scale if per_sequence else None

    # hx[t] = [h_{t-1} | x_t | 1], the input row of step t (no 1 with a bias of each sequence);
    # h_T lands in hx[T, :, :H]
    hx = xp.empty((T + 1, N, W.shape[0]), dtype=Wh.dtype)
    hx[0, :, :H] = h0
    hx[:T, :, H:H + D] = xs.transpose(1, 0, 2)
    hx[:, :, H + D:] = 1
    cbuf = xp.empty((T + 1, N, H), dtype=Wh.dtype)       # cbuf[t] = c_{t-1}
    cbuf[0] = c0
    gates = xp.empty((T, N, 4 * H), dtype=Wh.dtype)      # [f | g | i | o] of every step
    tanh_c = xp.empty((T, N, H), dtype=Wh.dtype)

    def steps(rows):
        tmp = xp.empty((rows.stop - rows.start, H), dtype=Wh.dtype)
        with ignore_overflow(xp):                         # per thread: errstate is thread-local
            for t in range(T):
                g = gates[t, rows]
                mm.matmul(hx[t, rows], W, out=g)
                if per_sequence:
                    g += b_s[rows]
                step_forward(xp, g, cbuf[t, rows], cbuf[t + 1, rows], tanh_c[t, rows],
                             hx[t + 1, rows, :H], tmp)

    parallel.for_blocks(xp, N, steps)
    hs = hx[1:, :, :H].transpose(1, 0, 2)
    cache = (hx, cbuf, tanh_c, gates, Wx, Wh)
    return hs, (hx[T, :, :H], cbuf[T]), cache


def step_forward(xp, g, c_prev, c, tanh_c, h, tmp):
    """The elementwise part of a step: scaled pre-activations g (N, 4H) -> gates in place, then
    c, tanh(c) and h (N, H) written; tmp (N, H) is scratch. One CUDA kernel on CuPy."""
    if xp is not numpy:
        cuda.lstm_forward(xp, g, c_prev, c, tanh_c, h)
        return
    activate(xp, g)
    cell_update(xp, g, c_prev, c, tanh_c, h, tmp)


def activate(xp, g):
    """Scaled pre-activations -> gates [f | g | i | o], in place (see the module docstring)."""
    H = g.shape[-1] // 4
    xp.exp(g, out=g)
    g += 1
    xp.reciprocal(g, out=g)
    g_g = g[..., H:2 * H]
    g_g *= 2
    g_g -= 1


def cell_update(xp, g, c_prev, c, tanh_c, h, tmp):
    """c = f ⊙ c_prev + g ⊙ i, h = o ⊙ tanh(c), from the gates g = [f | g | i | o]."""
    H = c.shape[1]
    xp.multiply(g[:, :H], c_prev, out=c)
    xp.multiply(g[:, H:2 * H], g[:, 2 * H:3 * H], out=tmp)
    c += tmp
    xp.tanh(c, out=tanh_c)
    xp.multiply(g[:, 3 * H:], tanh_c, out=h)


def backward(dhs, dh_T, dc_T, cache):
    hx, cbuf, tanh_c, gates, Wx, Wh = cache
    xp = get_array_module(gates)
    T, N, H4 = gates.shape
    H = H4 // 4
    D = Wx.shape[0]
    dtype = gates.dtype
    dhs_tm = None if dhs is None else dhs.transpose(1, 0, 2)   # None: no output but h_T has one

    # d(gate)/d(pre-activation) written as y·(α - y) + β: σ(1-σ) for σ columns, 1-g² for g
    alpha = xp.ones(4 * H, dtype=dtype)
    beta = xp.zeros(4 * H, dtype=dtype)
    alpha[H:2 * H] = 0
    beta[H:2 * H] = 1

    dA = xp.empty((T, N, 4 * H), dtype=dtype)
    dxs = xp.empty((T, N, D), dtype=dtype)
    dh0 = xp.zeros((N, H), dtype=dtype) if dh_T is None else dh_T.copy()
    dc0 = xp.zeros((N, H), dtype=dtype) if dc_T is None else dc_T.copy()
    # the transposed weights copied into row-major order: the per-step products against them
    # run faster than against a transposed view on some CPUs (benchmarks/results/design-notes.md)
    mm = products(xp)
    Wh_T = mm.operand(xp.ascontiguousarray(Wh.T))
    Wx_T = mm.operand(xp.ascontiguousarray(Wx.T))

    def steps(rows):
        n = rows.stop - rows.start
        dh, dc = dh0[rows], dc0[rows]
        scratch = xp.empty((n, 4 * H), dtype=dtype), xp.empty((n, H), dtype=dtype)
        for t in range(T - 1, -1, -1):
            if dhs_tm is not None:
                dh += dhs_tm[t, rows]
            step_backward(xp, gates[t, rows], cbuf[t, rows], tanh_c[t, rows], dh, dc, dA[t, rows],
                          Wh_T, (alpha, beta), scratch)
            mm.matmul(dA[t, rows], Wx_T, out=dxs[t, rows])

    K = hx.shape[2]
    dW = xp.empty((K, 4 * H), dtype=dtype)                        # [dWh; dWx; db]
    hx2, dA2 = hx[:T].reshape(T * N, K), dA.reshape(T * N, 4 * H)

    def weight_grads(cols):
        mm.matmul(hx2.T, dA2[:, cols], out=dW[:, cols])

    parallel.for_blocks(xp, N, steps)
    parallel.for_blocks(xp, 4 * H, weight_grads, min_block=128)
    db = dW[H + D] if K > H + D else dA.sum(axis=0)
    return dxs.transpose(1, 0, 2), dh0, dc0, (dW[H:H + D], dW[:H], db)


def step_backward(xp, g, c_prev, tanh_c, dh, dc, da, Wh_T, slopes, scratch):
    """One step back: dh, dc (N, H) at the step's output -> da (N, 4H) written, dh and dc replaced
    by the gradients of h_prev and c_prev (dh left as it is where Wh_T is None: a cell restarted
    from zeros at every step, whose h_prev gradient is not wanted). ``slopes``: alpha, beta (4H,)
    (see ``backward``); ``scratch``: deriv (N, 4H) and tmp (N, H). The elementwise part is one
    CUDA kernel on CuPy."""
    H = dh.shape[1]
    (alpha, beta), (deriv, tmp) = slopes, scratch
    if xp is not numpy:
        cuda.lstm_backward(xp, g, c_prev, tanh_c, dh, dc, da)
    else:
        f, gg, i, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
        # d(gate)/d(pre-activation) = y·(α - y) + β: σ(1 - σ) for f, i, o and 1 - g² for g;
        # first, so that the step's gates come from memory in one contiguous pass
        xp.subtract(alpha, g, out=deriv)
        deriv *= g
        deriv += beta
        # dc += dh ⊙ o ⊙ (1 - tanh(c)²)
        xp.multiply(tanh_c, tanh_c, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp
        xp.multiply(dh, tanh_c, out=da[:, 3 * H:])          # d o
        xp.multiply(dc, c_prev, out=da[:, :H])               # d f
        xp.multiply(dc, i, out=da[:, H:2 * H])               # d g
        xp.multiply(dc, gg, out=da[:, 2 * H:3 * H])          # d i
        dc *= f                                              # dc_prev
        da *= deriv
    if Wh_T is not None:
        products(xp).matmul(da, Wh_T, out=dh)                # dh_prev


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def forward_reference(xs, h0, c0, Wx, Wh, b):
    """The book's formulation, one time step at a time."""
    xp = get_array_module(xs)
    N, T, D = xs.shape
    H = Wh.shape[0]
    hs = xp.empty((N, T, H), dtype=Wh.dtype)
    h, c = h0, c0
    steps = []
    for t in range(T):
        x = xs[:, t, :]
        a = xp.dot(x, Wx) + xp.dot(h, Wh) + b
        f = _sigmoid(xp, a[:, :H])
        g = xp.tanh(a[:, H:2 * H])
        i = _sigmoid(xp, a[:, 2 * H:3 * H])
        o = _sigmoid(xp, a[:, 3 * H:])
        c_next = f * c + g * i
        h_next = o * xp.tanh(c_next)
        steps.append((x, h, c, f, g, i, o, c_next))
        hs[:, t, :] = h_next
        h, c = h_next, c_next
    return hs, (h, c), (steps, Wx, Wh, b)


def backward_reference(dhs, dh_T, dc_T, cache):
    steps, Wx, Wh, b = cache
    xp = get_array_module(Wx)
    N, T, H = dhs.shape
    D = Wx.shape[0]
    dxs = xp.empty((N, T, D), dtype=Wx.dtype)
    dWx, dWh, db = xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)
    dh = xp.zeros((N, H), dtype=Wx.dtype) if dh_T is None else dh_T
    dc = xp.zeros((N, H), dtype=Wx.dtype) if dc_T is None else dc_T
    for t in reversed(range(T)):
        x, h_prev, c_prev, f, g, i, o, c_next = steps[t]
        dh_next = dhs[:, t, :] + dh
        tanh_c = xp.tanh(c_next)
        ds = dc + (dh_next * o) * (1 - tanh_c ** 2)
        dc = ds * f
        df = ds * c_prev * f * (1 - f)
        dg = ds * i * (1 - g ** 2)
        di = ds * g * i * (1 - i)
        do = dh_next * tanh_c * o * (1 - o)
        da = xp.hstack((df, dg, di, do))
        dWx += xp.dot(x.T, da)
        dWh += xp.dot(h_prev.T, da)
        db += da.sum(axis=0)
        dxs[:, t, :] = xp.dot(da, Wx.T)
        dh = xp.dot(da, Wh.T)
    return dxs, dh, dc, (dWx, dWh, db)

"""Time GRU: a fused kernel and the slow per-step reference it must equal.

Weights (., 3H) in the order z, r, h, as the book writes the GRU::

    z = σ(x·Wxz + h_prev·Whz + bz)
    r = σ(x·Wxr + h_prev·Whr + br)
    ĥ = tanh(x·Wxh + (r ⊙ h_prev)·Whh + bh)
    h = (1 - z) ⊙ h_prev + z ⊙ ĥ

The fused kernel computes x·Wx + b for all T steps with one GEMM; per step it does h_prev·[Whz|Whr]
(one GEMM and one ``exp`` pass for both σ gates, the z and r columns of the weights negated once per
call so that σ(a) = 1 / (1 + exp(-a))), then (r ⊙ h_prev)·Whh and one ``exp`` for
ĥ = tanh(a) = 2·σ(2a) - 1, its columns scaled by -2 (``gate_scale``); σ through ``exp`` for the
reason kernels/lstm.py gives. Backward forms dWx, dWh, db and dxs with one GEMM each (two for dWh)
over all steps.

Both kernels take xs (N, T, D) and h0 (N, H) and return hs (N, T, H), h_T and a cache; backward
takes dhs (N, T, H) and the gradient reaching h_T (or None) and returns dxs, dh0, (dWx, dWh, db).
The fused backward also takes dhs=None where no output receives a gradient but through h_T.
The fused kernel also takes a bias of each sequence, b (N, 3H), the same at every step (how a layer
feeds PeekySeq2seq's constant input), and then returns db (N, 3H).
"""
import numpy

from .. import parallel
from ..backend import get_array_module, ignore_overflow
from ..precision import products
from . import cuda


def gate_scale(H, dtype, xp):
    """Per-column factor of the pre-activation: -1 for the σ gates z, r and -2 for ĥ."""
    scale = xp.full(3 * H, -1, dtype=dtype)
    scale[2 * H:] = -2
    return scale


def forward(xs, h0, Wx, Wh, b):
    xp = get_array_module(xs)
    N, T, D = xs.shape
    H = Wh.shape[0]
    scale = gate_scale(H, Wh.dtype, xp)
    mm = products(xp)

    # gates: (T, N, 3H); pre-activations first, then overwritten in place by [z | r | ĥ]
    xs_tm = xs.transpose(1, 0, 2).reshape(T * N, D)
    gates = mm.matmul(xs_tm, Wx * scale).reshape(T, N, 3 * H)
    gates += b * scale
    Wh_zr = mm.operand(Wh[:, :2 * H] * scale[:2 * H])
    Wh_h = mm.operand(Wh[:, 2 * H:] * scale[2 * H:])
    hbuf = xp.empty((T + 1, N, H), dtype=Wh.dtype)    # hbuf[t] = h_{t-1}; hbuf[0] = h0
    rh = xp.empty((T, N, H), dtype=Wh.dtype)          # r ⊙ h_prev
    hbuf[0] = h0

    def steps(rows):
        n = rows.stop - rows.start
        rec_zr = xp.empty((n, 2 * H), dtype=Wh.dtype)
        rec_h = xp.empty((n, H), dtype=Wh.dtype)
        with ignore_overflow(xp):                     # per thread: errstate is thread-local
            for t in range(T):
                step_forward(xp, gates[t, rows], hbuf[t, rows], rh[t, rows], hbuf[t + 1, rows],
                             Wh_zr, Wh_h, rec_zr, rec_h)

    parallel.for_blocks(xp, N, steps)

    hs = hbuf[1:].transpose(1, 0, 2)
    cache = (xs_tm, hbuf, rh, gates, Wx, Wh, b.shape)
    return hs, hbuf[T], cache


def step_forward(xp, g, h_prev, rh, h, Wh_zr, Wh_h, rec_zr, rec_h):
    """One step: g (N, 3H) holds x·Wx + b with the columns of z and r scaled by -1 and those of ĥ
    by -2, Wh_zr and Wh_h the column blocks of Wh likewise -> gates [z | r | ĥ] in place,
    rh = r ⊙ h_prev and h (N, H) written; rec_zr (N, 2H) and rec_h (N, H) are scratch. The
    elementwise work between the two GEMMs, and after the second, is one CUDA kernel each on
    CuPy."""
    mm = products(xp)
    mm.matmul(h_prev, Wh_zr, out=rec_zr)
    if xp is not numpy:
        cuda.gru_gates(xp, g, rec_zr, h_prev, rh)
        mm.matmul(rh, Wh_h, out=rec_h)
        cuda.gru_state(xp, g, rec_h, h_prev, h)
        return
    H = h.shape[1]
    zr, hh = g[:, :2 * H], g[:, 2 * H:]
    zr += rec_zr
    _sigmoid_(xp, zr)
    z, r = zr[:, :H], zr[:, H:]
    xp.multiply(r, h_prev, out=rh)
    mm.matmul(rh, Wh_h, out=rec_h)
    hh += rec_h
    _sigmoid_(xp, hh)
    hh *= 2
    hh -= 1
    xp.subtract(hh, h_prev, out=h)
    h *= z
    h += h_prev


def step_forward_from_zero(xp, g, h):
    """``step_forward`` for h_prev = 0, a cell restarted at every step: no recurrent products, and
    r, which meets only the zero state, is not evaluated (g[:, H:2H] keeps its pre-activation).
    g -> [z | · | ĥ] in place, h = z ⊙ ĥ written."""
    H = h.shape[1]
    z, hh = g[:, :H], g[:, 2 * H:]
    _sigmoid_(xp, z)
    _sigmoid_(xp, hh)
    hh *= 2
    hh -= 1
    xp.multiply(z, hh, out=h)


def _sigmoid_(xp, a):
    """1 / (1 + exp(a)) in place: σ of the negated pre-activation a."""
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)


def backward(dhs, dh_T, cache):
    xs_tm, hbuf, rh, gates, Wx, Wh, b_shape = cache
    xp = get_array_module(gates)
    T, N, H3 = gates.shape
    H = H3 // 3
    D = xs_tm.shape[1]
    dhs_tm = None if dhs is None else dhs.transpose(1, 0, 2)   # None: no output but h_T has one
    # row-major copies of the transposed blocks: see kernels/lstm.py's backward
    mm = products(xp)
    Wh_zr_T = mm.operand(xp.ascontiguousarray(Wh[:, :2 * H].T))
    Wh_h_T = mm.operand(xp.ascontiguousarray(Wh[:, 2 * H:].T))

    dA = xp.empty((T, N, 3 * H), dtype=gates.dtype)
    dxs = xp.empty((T, N, D), dtype=gates.dtype)
    dh0 = xp.zeros((N, H), dtype=gates.dtype) if dh_T is None else dh_T.copy()
    Wx_T = mm.operand(xp.ascontiguousarray(Wx.T))

    def steps(rows):
        n = rows.stop - rows.start
        dh = dh0[rows]
        dhr = xp.empty((n, H), dtype=gates.dtype)
        tmp = xp.empty((n, H), dtype=gates.dtype)
        tmp2 = xp.empty((n, H), dtype=gates.dtype)
        for t in range(T - 1, -1, -1):
            if dhs_tm is not None:
                dh += dhs_tm[t, rows]
            step_backward(xp, gates[t, rows], hbuf[t, rows], dh, dA[t, rows], Wh_zr_T, Wh_h_T,
                          dhr, tmp, tmp2)
            mm.matmul(dA[t, rows], Wx_T, out=dxs[t, rows])

    dA2 = dA.reshape(T * N, 3 * H)
    hs2, rh2 = hbuf[:T].reshape(T * N, H), rh.reshape(T * N, H)
    dWx, dWh = xp.empty_like(Wx), xp.empty_like(Wh)
    db = xp.empty(b_shape, dtype=gates.dtype)

    def weight_grads(cols):
        # the z and r columns see h_prev, the ĥ columns r ⊙ h_prev
        for part, inputs in ((slice(cols.start, min(cols.stop, 2 * H)), hs2),
                             (slice(max(cols.start, 2 * H), cols.stop), rh2)):
            if part.start < part.stop:
                mm.matmul(inputs.T, dA2_op[:, part], out=dWh[:, part])
        mm.matmul(xs_tm.T, dA2_op[:, cols], out=dWx[:, cols])
        dA[:, :, cols].sum(axis=tuple(range(3 - len(b_shape))), out=db[..., cols])

    parallel.for_blocks(xp, N, steps)
    dA2_op = mm.operand(dA2)                                  # both products' in weight_grads
    parallel.for_blocks(xp, 3 * H, weight_grads, min_block=128)
    return dxs.transpose(1, 0, 2), dh0, (dWx, dWh, db)


def step_backward(xp, g, h_prev, dh, da, Wh_zr_T, Wh_h_T, dhr, tmp, tmp2):
    """One GRU step back: dh (N, H) at the step's output, gates g = [z | r | ĥ] -> da (N, 3H)
    written, dh replaced by dh_prev. Wh_zr_T, Wh_h_T: the transposed column blocks of Wh;
    dhr, tmp, tmp2: (N, H) scratch."""
    H = dh.shape[1]
    mm = products(xp)
    if xp is not numpy:
        cuda.gru_backward_1(xp, g, h_prev, dh, da)
        mm.matmul(da[:, 2 * H:], Wh_h_T, out=dhr)
        cuda.gru_backward_2(xp, g, h_prev, dhr, dh, da)
        mm.matmul(da[:, :2 * H], Wh_zr_T, out=tmp)
        dh += tmp
        return
    z, r, hh = g[:, :H], g[:, H:2 * H], g[:, 2 * H:]
    # d a_h = dh ⊙ z ⊙ (1 - ĥ²)
    xp.multiply(hh, hh, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= z
    xp.multiply(tmp, dh, out=da[:, 2 * H:])
    # d a_z = dh ⊙ (ĥ - h_prev) ⊙ z(1 - z)
    xp.subtract(hh, h_prev, out=tmp)
    tmp *= dh
    xp.subtract(1, z, out=tmp2)
    tmp2 *= z
    xp.multiply(tmp, tmp2, out=da[:, :H])
    # d(r ⊙ h_prev), then d a_r = d(rh) ⊙ h_prev ⊙ r(1 - r)
    mm.matmul(da[:, 2 * H:], Wh_h_T, out=dhr)
    xp.subtract(1, r, out=tmp2)
    tmp2 *= r
    tmp2 *= h_prev
    xp.multiply(dhr, tmp2, out=da[:, H:2 * H])
    # dh_prev = dh ⊙ (1 - z) + d(rh) ⊙ r + [d a_z | d a_r]·[Whz | Whr]ᵀ
    mm.matmul(da[:, :2 * H], Wh_zr_T, out=tmp)
    xp.multiply(dhr, r, out=tmp2)
    tmp += tmp2
    xp.subtract(1, z, out=tmp2)
    dh *= tmp2
    dh += tmp


def step_backward_to_zero(xp, g, dh, da, tmp, tmp2):
    """``step_backward`` for h_prev = 0 (see ``step_forward_from_zero``), where the gradient of
    h_prev is not wanted: da (N, 3H) written from dh, d a_r = 0."""
    H = dh.shape[1]
    z, hh = g[:, :H], g[:, 2 * H:]
    # d a_h = dh ⊙ z ⊙ (1 - ĥ²)
    xp.multiply(hh, hh, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= z
    xp.multiply(tmp, dh, out=da[:, 2 * H:])
    # d a_z = dh ⊙ ĥ ⊙ z(1 - z)
    xp.subtract(1, z, out=tmp2)
    tmp2 *= z
    tmp2 *= hh
    xp.multiply(tmp2, dh, out=da[:, :H])
    da[:, H:2 * H] = 0


def _sigmoid(xp, x):
    return 1 / (1 + xp.exp(-x))


def forward_reference(xs, h0, Wx, Wh, b):
    """The book's formulation, one time step at a time."""
    xp = get_array_module(xs)
    N, T, D = xs.shape
    H = Wh.shape[0]
    Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:]
    Whz, Whr, Whh = Wh[:, :H], Wh[:, H:2 * H], Wh[:, 2 * H:]
    bz, br, bh = b[:H], b[H:2 * H], b[2 * H:]
    hs = xp.empty((N, T, H), dtype=Wh.dtype)
    h = h0
    steps = []
    for t in range(T):
        x = xs[:, t, :]
        z = _sigmoid(xp, xp.dot(x, Wxz) + xp.dot(h, Whz) + bz)
        r = _sigmoid(xp, xp.dot(x, Wxr) + xp.dot(h, Whr) + br)
        h_hat = xp.tanh(xp.dot(x, Wxh) + xp.dot(r * h, Whh) + bh)
        h_next = (1 - z) * h + z * h_hat
        steps.append((x, h, z, r, h_hat))
        hs[:, t, :] = h_next
        h = h_next
    return hs, h, (steps, Wx, Wh, b)


def backward_reference(dhs, dh_T, cache):
    steps, Wx, Wh, b = cache
    xp = get_array_module(Wx)
    N, T, H = dhs.shape
    D = Wx.shape[0]
    Wxz, Wxr, Wxh = Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:]
    Whz, Whr, Whh = Wh[:, :H], Wh[:, H:2 * H], Wh[:, 2 * H:]
    dxs = xp.empty((N, T, D), dtype=Wx.dtype)
    dWx, dWh, db = xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)
    dh = xp.zeros((N, H), dtype=Wx.dtype) if dh_T is None else dh_T
    for t in reversed(range(T)):
        x, h_prev, z, r, h_hat = steps[t]
        dh_next = dhs[:, t, :] + dh
        dh_hat = dh_next * z
        dh_prev = dh_next * (1 - z)
        dt = dh_hat * (1 - h_hat ** 2)
        dbh = dt.sum(axis=0)
        dWhh = xp.dot((r * h_prev).T, dt)
        dhr = xp.dot(dt, Whh.T)
        dWxh = xp.dot(x.T, dt)
        dx = xp.dot(dt, Wxh.T)
        dh_prev += r * dhr
        dz = dh_next * h_hat - dh_next * h_prev
        dt = dz * z * (1 - z)
        dbz = dt.sum(axis=0)
        dWhz = xp.dot(h_prev.T, dt)
        dh_prev += xp.dot(dt, Whz.T)
        dWxz = xp.dot(x.T, dt)
        dx += xp.dot(dt, Wxz.T)
        dr = dhr * h_prev
        dt = dr * r * (1 - r)
        dbr = dt.sum(axis=0)
        dWhr = xp.dot(h_prev.T, dt)
        dh_prev += xp.dot(dt, Whr.T)
        dWxr = xp.dot(x.T, dt)
        dx += xp.dot(dt, Wxr.T)
        dWx += xp.hstack((dWxz, dWxr, dWxh))
        dWh += xp.hstack((dWhz, dWhr, dWhh))
        db += xp.hstack((dbz, dbr, dbh))
        dxs[:, t, :] = dx
        dh = dh_prev
    return dxs, dh, (dWx, dWh, db)

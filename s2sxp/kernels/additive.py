"""Additive (Bahdanau) attention for one decoder step: a fused kernel and the slow reference.

For a query q (N, H), usually the decoder's previous state, against the encoder states
hs_enc (N, T, H) (Bahdanau, Cho & Bengio 2015; TensorFlow's "NMT with attention" tutorial)::

    K = hs_enc·W1 + b1                       keys      (N, T, H)
    e = tanh(K + q·W2 + b2)                            (N, T, H)
    s = e·W3 + b3 + m                        score     (N, T)       W3: (H, 1)
    a = softmax(s)                           weights   (N, T)       over encoder time
    c = Σ_t a[:, t] · hs_enc[:, t]           context   (N, H)

and back, for the gradient dc (N, H) reaching the context::

    da = hs_enc·dc                   ds = a ⊙ (da - Σ_t a ⊙ da)
    dpre = (ds ⊗ W3) ⊙ (1 - e²)      (N, T, H), the gradient of K + q·W2 + b2
    dq = (Σ_t dpre)·W2ᵀ   dW2 = qᵀ·Σ_t dpre   db2 = Σ dpre   dW3 = Σ ds·e   db3 = Σ ds
    dhs_enc = a ⊗ dc + dK·W1ᵀ        dW1 = hs_encᵀ·dK       db1 = Σ dK       with dK = dpre

m is the padding mask, 0 at a row's real encoder steps and -inf past its length (or no mask at
all): padded steps get the weight 0 and with it ds = 0, so nothing flows back into them.
b3 moves every score by the same amount, which the softmax ignores: its gradient Σ ds is zero.
b1 and b2 act only through their sum and receive the same gradient. Both are kept because the
published model has them.

The fused kernel serves a decoder that attends once per step. ``keys`` computes K once per batch;
``forward`` runs one step; ``backward`` runs one step back, adding that step's share of dW3 into
an accumulator and leaving what dK needs; after the last step back ``key_gradient`` forms dK and
``backward_keys`` forms dW1, db1, dW2, db2, dW3, db3 and dhs_enc with one product each over all
steps. The step functions write into arrays the caller allocates once per batch, time-major:
ys (T_dec, T, N, H), as_ (T_dec, N, T), dss (T_dec, N, T), qs, cs, dcs and dqws (T_dec, N, H).
The keys and everything of their shape (y, dK) are held time-major, (T, N, H): the per-step
terms of shape (N, H) then broadcast over the leading axis, and NumPy runs each pass over the
contiguous (N, H) block of every encoder step at full speed (a batch-major (N, T, H) pass
broadcasting an (N, 1, H) term runs its inner loop over only H elements at a time). tanh is taken
with ``exp``, so that the split below leaves no transcendental pass per step: the keys and q·W2
are scaled by -2 so that the kernel
holds y = 1 / (1 + exp(-2·pre)) = σ(2·pre), and e = 2y - 1, e·W3 = 2·(y·W3) - ΣW3 (a constant the
softmax drops), 1 - e² = 4·y·(1 - y). On NumPy, while the exponents stay small (see
EXP_SPLIT_LIMIT), exp(-2·pre) is taken as the product exp(-2·(K + b2))·exp(-2·q·W2), so that the
exp over (T, N, H) is done once per batch, and per step y = v / (exp(-2·(K + b2)) + v) with
v = exp(2·q·W2) (N, H) costs one addition and one division over (T, N, H).

The reference, ``forward_reference``/``backward_reference``, is one step written out as above and
recomputes K for every query, as the published code did.
"""
import numpy

from .. import parallel
from ..backend import get_array_module, ignore_overflow
from ..precision import products

#: On NumPy, exp(k + u) is taken as exp(k)·exp(u) while every |k| and |u| is at most this (the
#: product then stays between e^-80 and e^80, inside float32's normal range).
EXP_SPLIT_LIMIT = 40.0


def keys(hs_enc, W1, b1, b2):
    """K = -2·(hs_enc·W1 + b1 + b2) (T, N, H), time-major: the keys and the constant part of every
    step's pre-activation, scaled for the exp pass of ``forward``; and exp(K) where ``forward``
    may use it (see EXP_SPLIT_LIMIT), else None."""
    xp = get_array_module(hs_enc)
    N, T, H = hs_enc.shape
    hs2 = hs_enc.transpose(1, 0, 2).reshape(T * N, H)     # a view where the layout allows
    K = xp.empty((T, N, H), dtype=W1.dtype)
    K2 = K.reshape(T * N, H)
    mm = products(xp)
    W1_s, bias = mm.operand(-2 * W1), -2 * (b1 + b2)
    split = xp is numpy
    expK = xp.empty_like(K) if split else None
    small = []

    def block(rows):
        k = K2[rows]
        mm.matmul(hs2[rows], W1_s, out=k)
        k += bias
        if split:
            small.append(max(float(k.max()), -float(k.min())) <= EXP_SPLIT_LIMIT)
            if small[-1]:
                xp.exp(k, out=expK.reshape(T * N, H)[rows])

    parallel.for_blocks(xp, T * N, block)
    return K, (expK if split and all(small) else None)


def forward(K, expK, hs_enc, q, W2, W3, y, a, c, mask=None):
    """One step for the query q (N, H), given K and expK (T, N, H) from ``keys``; mask (N, T) or
    None.

    Writes y = σ(2·(K + q·W2 + b2)) = (1 + e) / 2 (T, N, H), the weights a (N, T) and the
    context c (N, H) into the arrays given.
    """
    xp = get_array_module(K)
    u = products(xp).matmul(q, W2)
    u *= -2
    if expK is not None and float(abs(u).max()) <= EXP_SPLIT_LIMIT:
        # 1 / (1 + exp(K)·exp(u)) = v / (exp(K) + v) with v = exp(-u): one exp over (N, H)
        v = xp.exp(-u)
        xp.add(expK, v, out=y)
        xp.divide(v, y, out=y)
    else:
        xp.add(K, u, out=y)
        with ignore_overflow(xp):
            xp.exp(y, out=y)
        y += 1
        xp.reciprocal(y, out=y)
    xp.matmul(y.transpose(1, 0, 2), W3, out=a[:, :, None])
    a *= 2                                  # s = 2·(y·W3) + constant
    if mask is not None:
        a += mask
    a -= a.max(axis=1, keepdims=True)
    xp.exp(a, out=a)
    a /= a.sum(axis=1, keepdims=True)
    xp.matmul(a[:, None, :], hs_enc, out=c[:, None, :])


def backward(dc, hs_enc, y, a, W2_T, W3, ds, dw3, dqw, tmp):
    """One step back from dc (N, H); returns dq (N, H).

    Writes the gradient of the scores, ds (N, T), and dqw = Σ_t dpre (N, H), the gradient of
    q·W2 + b2, into the arrays given, adds Σ ds·y into dw3 (1, H) and overwrites y with y·(1 - y),
    from which ``key_gradient`` forms dK after the last step back. W2_T is W2ᵀ copied into
    row-major order once per backward (the per-step product against it runs faster than against
    the transposed view, as in kernels/lstm.py's backward); ``tmp`` (y's shape) is scratch.
    """
    xp = get_array_module(y)
    xp.matmul(hs_enc, dc[:, :, None], out=ds[:, :, None])          # da
    ds -= (a * ds).sum(axis=1, keepdims=True)
    ds *= a
    dw3 += xp.matmul(ds[:, None, :], y.transpose(1, 0, 2)).sum(axis=0)
    # dpre = (ds ⊗ W3) ⊙ (1 - e²) = 4·W3 ⊙ ds ⊗ y·(1 - y)
    xp.multiply(y, y, out=tmp)
    xp.subtract(y, tmp, out=y)
    xp.matmul(ds[:, None, :], y.transpose(1, 0, 2), out=dqw[:, None, :])
    dqw *= 4 * W3[:, 0]
    return products(xp).matmul(dqw, W2_T)


def key_gradient(dss, gs, U, rows=slice(None)):
    """U = Σ_t ds_t ⊗ y_t·(1 - y_t) = dK / (4·W3) (T, N, H) over the decoder steps, for the batch
    rows ``rows``, from every step's ds, dss (T_dec, N, T), and y·(1 - y), gs (T_dec, T, N, H), as
    ``backward`` leaves them.

    One small product (1, T_dec)·(T_dec, H) for each encoder step and batch row, which reads each
    step's y·(1 - y) once and writes U once. Adding ds ⊗ y·(1 - y) into U at every step instead
    costs a product and an addition over (T, N, H) per step.
    """
    xp = get_array_module(U)
    xp.matmul(dss[:, rows].transpose(2, 1, 0)[:, :, None, :], gs[:, :, rows].transpose(1, 2, 0, 3),
              out=U[:, rows, None, :])


def backward_keys(U, hs_enc, W1, W3, dw3, qs, dqws, as_, dcs, tmp=None):
    """After the last step back and ``key_gradient``: dhs_enc (N, T, H) and
    (dW1, db1, dW2, db2, dW3, db3), from one product each over all decoder steps (U: (T, N, H);
    qs, dqws, dcs: (T_dec, N, H); as_: (T_dec, N, T); tmp: scratch of U's shape).

    dK = 4·W3 ⊙ U is never formed: the factor goes onto W1 and onto dW1's columns. dW3 is
    Σ ds·e = 2·Σ ds·y - Σ ds with Σ ds = 0 (Σ_t a = 1), and db3 = Σ ds = 0.
    """
    xp = get_array_module(U)
    T, N, H = U.shape
    w3 = 4 * W3[:, 0]
    U2, hs2 = U.reshape(T * N, H), hs_enc.transpose(1, 0, 2).reshape(T * N, H)
    qs2, dqws2 = qs.reshape(-1, H), dqws.reshape(-1, H)
    mm = products(xp)
    W1_w3_T = mm.operand((W1 * w3).T)
    dhs = xp.empty_like(U)                                  # time-major
    dhs2 = dhs.reshape(T * N, H)
    ctx = xp.empty_like(U) if tmp is None else tmp
    dW1, dW2 = xp.empty_like(W1), xp.empty((H, H), dtype=U.dtype)

    def keys_block(rows):
        mm.matmul(U2[rows], W1_w3_T, out=dhs2[rows])

    def context_block(rows):                                # Σ_t a_t ⊗ dc_t, into ctx
        mm.matmul(as_[:, rows].transpose(1, 2, 0), dcs[:, rows].transpose(1, 0, 2),
                  out=ctx[:, rows].transpose(1, 0, 2))
        dhs[:, rows] += ctx[:, rows]

    db1, db2 = xp.empty(H, dtype=U.dtype), xp.empty(H, dtype=U.dtype)

    def columns_block(cols):
        mm.matmul(hs2.T, U2[:, cols], out=dW1[:, cols])
        mm.matmul(qs2.T, dqws2[:, cols], out=dW2[:, cols])
        U2[:, cols].sum(axis=0, out=db1[cols])
        dqws2[:, cols].sum(axis=0, out=db2[cols])

    parallel.for_blocks(xp, T * N, keys_block)
    parallel.for_blocks(xp, N, context_block)
    parallel.for_blocks(xp, H, columns_block, min_block=128)
    dW1 *= w3
    db1 *= w3
    dW3 = 2 * dw3.reshape(H, 1)
    db3 = xp.zeros(1, dtype=U.dtype)
    return dhs.transpose(1, 0, 2), (dW1, db1, dW2, db2, dW3, db3)


def forward_reference(hs_enc, q, W1, b1, W2, b2, W3, b3, mask=None):
    """One step as the equations read, for the query q (N, H) -> c (N, H), a (N, T), cache."""
    xp = get_array_module(hs_enc)
    e = xp.tanh(xp.matmul(hs_enc, W1) + b1 + (xp.dot(q, W2) + b2)[:, None, :])
    s = xp.matmul(e, W3)[:, :, 0] + b3
    if mask is not None:
        s = s + mask
    a = xp.exp(s - s.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    c = (a[:, :, None] * hs_enc).sum(axis=1)
    return c, a, (hs_enc, q, e, a, W1, W2, W3)


def backward_reference(dc, cache):
    """-> dhs_enc (N, T, H), dq (N, H), (dW1, db1, dW2, db2, dW3, db3)."""
    hs_enc, q, e, a, W1, W2, W3 = cache
    xp = get_array_module(hs_enc)
    dhs_enc = a[:, :, None] * dc[:, None, :]
    da = (hs_enc * dc[:, None, :]).sum(axis=2)
    ds = a * (da - (a * da).sum(axis=1, keepdims=True))
    dW3 = (e * ds[:, :, None]).sum(axis=(0, 1))[:, None]
    db3 = ds.sum().reshape(1)
    dpre = ds[:, :, None] * W3[:, 0] * (1 - e ** 2)
    dW1 = xp.tensordot(hs_enc, dpre, axes=([0, 1], [0, 1]))
    db1 = dpre.sum(axis=(0, 1))
    dhs_enc += xp.matmul(dpre, W1.T)
    dqw = dpre.sum(axis=1)
    dW2 = xp.dot(q.T, dqw)
    db2 = dqw.sum(axis=0)
    dq = xp.dot(dqw, W2.T)
    return dhs_enc, dq, (dW1, db1, dW2, db2, dW3, db3)

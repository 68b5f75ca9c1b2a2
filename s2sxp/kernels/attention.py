"""Dot-product attention over all decoder steps at once, and its per-step reference.

For every decoder state h_t (the query) against the encoder states hs_enc (book, ch. 8)::

    s_t = hs_enc · h_t + m             score      (N, T_enc)
    a_t = softmax(s_t)                 weights    (N, T_enc)
    c_t = Σ_j a_t[j] · hs_enc[:, j]    context    (N, H)

m is the padding mask, 0 at a row's real encoder steps and -inf past its length (or no mask at
all): padded steps then get the weight 0, and with it no gradient.

The fused kernel does all T_dec steps with batched matrix products (over blocks of the batch in
parallel on a multi-core CPU, :mod:`s2sxp.parallel`); backward likewise::

    da = dc · hs_encᵀ        ds = a ⊙ (da - Σ_j a ⊙ da)
    dhs_enc = aᵀ · dc + dsᵀ · hs_dec      dhs_dec = ds · hs_enc

forward(hs_enc (N, T_enc, H), hs_dec (N, T_dec, H), mask (N, T_enc) or None) -> cs (N, T_dec, H),
a (N, T_dec, T_enc), cache; backward(dcs, cache) -> dhs_enc, dhs_dec.
"""
from .. import parallel
from ..backend import get_array_module
from ..precision import products


def forward(hs_enc, hs_dec, mask=None):
    xp = get_array_module(hs_enc)
    mm = products(xp)
    N, T_dec, H = hs_dec.shape
    T_enc = hs_enc.shape[1]
    cs = xp.empty((N, T_dec, H), dtype=hs_dec.dtype)
    a = xp.empty((N, T_dec, T_enc), dtype=hs_dec.dtype)

    def block(rows):
        s = mm.matmul(hs_dec[rows], hs_enc[rows].transpose(0, 2, 1), out=a[rows])
        if mask is not None:
            s += mask[rows, None, :]
        s -= s.max(axis=2, keepdims=True)
        xp.exp(s, out=s)
        s /= s.sum(axis=2, keepdims=True)
        mm.matmul(s, hs_enc[rows], out=cs[rows])

    parallel.for_blocks(xp, N, block)
    return cs, a, (hs_enc, hs_dec, a)


def backward(dcs, cache):
    hs_enc, hs_dec, a = cache
    xp = get_array_module(hs_enc)
    mm = products(xp)
    dhs_enc = xp.empty_like(hs_enc, order="C")
    dhs_dec = xp.empty_like(hs_dec, order="C")

    def block(rows):
        a_, hs_enc_ = a[rows], hs_enc[rows]
        da = mm.matmul(dcs[rows], hs_enc_.transpose(0, 2, 1))   # (n, T_dec, T_enc)
        ds = a_ * da
        da -= ds.sum(axis=2, keepdims=True)
        xp.multiply(a_, da, out=ds)
        mm.matmul(a_.transpose(0, 2, 1), dcs[rows], out=dhs_enc[rows])
        dhs_enc[rows] += mm.matmul(ds.transpose(0, 2, 1), hs_dec[rows])
        mm.matmul(ds, hs_enc_, out=dhs_dec[rows])

    parallel.for_blocks(xp, hs_enc.shape[0], block)
    return dhs_enc, dhs_dec


def forward_reference(hs_enc, hs_dec, mask=None):
    """The book's TimeAttention: one decoder step at a time, weights then weighted sum."""
    xp = get_array_module(hs_enc)
    N, T_dec, H = hs_dec.shape
    T_enc = hs_enc.shape[1]
    cs = xp.empty((N, T_dec, H), dtype=hs_enc.dtype)
    weights = xp.empty((N, T_dec, T_enc), dtype=hs_enc.dtype)
    for t in range(T_dec):
        h = hs_dec[:, t, :]
        s = (hs_enc * h[:, None, :]).sum(axis=2)
        if mask is not None:
            s = s + mask
        e = xp.exp(s - s.max(axis=1, keepdims=True))
        a = e / e.sum(axis=1, keepdims=True)
        cs[:, t, :] = (hs_enc * a[:, :, None]).sum(axis=1)
        weights[:, t, :] = a
    return cs, weights, (hs_enc, hs_dec, weights)


def backward_reference(dcs, cache):
    hs_enc, hs_dec, weights = cache
    xp = get_array_module(hs_enc)
    N, T_dec, H = hs_dec.shape
    dhs_enc = xp.zeros_like(hs_enc)
    dhs_dec = xp.empty_like(hs_dec)
    for t in range(T_dec):
        h, a, dc = hs_dec[:, t, :], weights[:, t, :], dcs[:, t, :]
        dhs_enc += a[:, :, None] * dc[:, None, :]
        da = (dc[:, None, :] * hs_enc).sum(axis=2)
        ds = a * (da - (a * da).sum(axis=1, keepdims=True))
        dhs_enc += ds[:, :, None] * h[:, None, :]
        dhs_dec[:, t, :] = (ds[:, :, None] * hs_enc).sum(axis=1)
    return dhs_enc, dhs_dec

"""Dot-product attention over all decoder steps at once, and its per-step reference.

For every decoder state h_t (the query) against the encoder states hs_enc (book, ch. 8)::

    s_t = hs_enc · h_t                 score      (N, T_enc)
    a_t = softmax(s_t)                 weights    (N, T_enc)
    c_t = Σ_j a_t[j] · hs_enc[:, j]    context    (N, H)

The fused kernel does all T_dec steps with batched matrix products; backward likewise::

    da = dc · hs_encᵀ        ds = a ⊙ (da - Σ_j a ⊙ da)
    dhs_enc = aᵀ · dc + dsᵀ · hs_dec      dhs_dec = ds · hs_enc

forward(hs_enc (N, T_enc, H), hs_dec (N, T_dec, H)) -> cs (N, T_dec, H), a (N, T_dec, T_enc), cache;
backward(dcs, cache) -> dhs_enc, dhs_dec.
"""
from ..backend import get_array_module


def forward(hs_enc, hs_dec):
    xp = get_array_module(hs_enc)
    s = xp.matmul(hs_dec, hs_enc.transpose(0, 2, 1))     # (N, T_dec, T_enc)
    s -= s.max(axis=2, keepdims=True)
    a = xp.exp(s, out=s)
    a /= a.sum(axis=2, keepdims=True)
    cs = xp.matmul(a, hs_enc)                             # (N, T_dec, H)
    return cs, a, (hs_enc, hs_dec, a)


def backward(dcs, cache):
    hs_enc, hs_dec, a = cache
    xp = get_array_module(hs_enc)
    da = xp.matmul(dcs, hs_enc.transpose(0, 2, 1))       # (N, T_dec, T_enc)
    ds = a * (da - (a * da).sum(axis=2, keepdims=True))
    dhs_enc = xp.matmul(a.transpose(0, 2, 1), dcs)
    dhs_enc += xp.matmul(ds.transpose(0, 2, 1), hs_dec)
    dhs_dec = xp.matmul(ds, hs_enc)
    return dhs_enc, dhs_dec


def forward_reference(hs_enc, hs_dec):
    """The book's TimeAttention: one decoder step at a time, weights then weighted sum."""
    xp = get_array_module(hs_enc)
    N, T_dec, H = hs_dec.shape
    T_enc = hs_enc.shape[1]
    cs = xp.empty((N, T_dec, H), dtype=hs_enc.dtype)
    weights = xp.empty((N, T_dec, T_enc), dtype=hs_enc.dtype)
    for t in range(T_dec):
        h = hs_dec[:, t, :]
        s = (hs_enc * h[:, None, :]).sum(axis=2)
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

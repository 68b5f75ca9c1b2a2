"""What the layers of a model that reads right-padded batches need to know of the padding: which
steps of each row are real (``lengths`` (N,): the real steps of each row), a mask for attention
scores, and the state at each row's last real step."""
import numpy

from ..backend import get_array_module


def padding_mask(lengths, T, dtype):
    """(N, T): 0 at each row's first lengths[n] steps and -inf after, for the attention scores;
    None where ``lengths`` is None (no row is padded)."""
    if lengths is None:
        return None
    xp = get_array_module(lengths)
    real = xp.arange(T)[None, :] < lengths[:, None]
    return xp.where(real, 0, -numpy.inf).astype(dtype)


def real_steps(lengths, T, dtype):
    """(N, T): 1 at each row's first lengths[n] steps and 0 after (padding)."""
    xp = get_array_module(lengths)
    return (xp.arange(T)[None, :] < lengths[:, None]).astype(dtype)


def last_states(hs, lengths):
    """The state of each row's last real step: hs (N, T, H) -> (N, H)."""
    if lengths is None:
        return hs[:, -1]
    xp = get_array_module(hs)
    return hs[xp.arange(hs.shape[0]), lengths - 1]


def add_to_last_states(dhs, dh, lengths):
    """The gradient of :func:`last_states`, added into dhs (N, T, H)."""
    if lengths is None:
        dhs[:, -1] += dh
        return
    xp = get_array_module(dhs)
    dhs[xp.arange(dhs.shape[0]), lengths - 1] += dh


def reversed_real_steps(x, lengths):
    """Each row of x (N, T, ...) with its first lengths[n] steps in reverse order and its padding
    where it was: what a backward-running recurrent layer reads, so that it starts at the row's
    last real step. Its own inverse, and so its own gradient."""
    xp = get_array_module(x)
    if lengths is None:
        return xp.ascontiguousarray(x[:, ::-1])
    t = xp.arange(x.shape[1])[None, :]
    index = xp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)          # (N, T)
    return x[xp.arange(x.shape[0])[:, None], index]

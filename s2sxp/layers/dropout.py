"""Dropout (Srivastava et al., 2014) whose masks are a function of where they fall, not of a
stream of random numbers: each element is kept when a hash of (its row's key, the dropout site,
its step, its unit) is at least ``p`` of the 32-bit range, and scaled by 1 / (1 - p)::

    seed_n  = splitmix64(model seed, key_n) >> 32        one per row, on the host
    z       = fmix32(seed_n ^ fmix32(site · 2³² / φ + t · D + d))
    keep    = z >= p · 2³²          y = x · keep / (1 - p)

A row's key names the sentence and the update (the trainer gives ``epoch · N_data + index``), so
a sentence gets the same masks whichever batch, share of a batch or rank it lands in, and
padding or the batch's width change nothing: training split over threads or MPI ranks makes the
updates of one process. fmix32 is MurmurHash3's finaliser, splitmix64 Steele et al.'s (2014)
mixer; both pass the usual tests of randomness on such counters. Without keys (evaluation,
decoding) the layers pass their input through.
"""
import numpy

from ..backend import get_array_module

_GOLDEN32 = 0x9E3779B9
_MASK64 = (1 << 64) - 1


def fmix32(z, xp):
    """MurmurHash3's 32-bit finaliser of a uint32 array, in place where it can."""
    z ^= z >> xp.uint32(16)
    z *= xp.uint32(0x85EBCA6B)
    z ^= z >> xp.uint32(13)
    z *= xp.uint32(0xC2B2AE35)
    z ^= z >> xp.uint32(16)
    return z


def row_seeds(seed, keys):
    """(N,) uint32 seeds of rows whose keys are ``keys`` (N,) (non-negative integers), for a
    model seeded with ``seed``: splitmix64 of (seed, key), its high half."""
    z = (numpy.asarray(keys, dtype=numpy.uint64)
         + numpy.uint64((int(seed) * 0x9E3779B97F4A7C15) & _MASK64))
    with numpy.errstate(over="ignore"):
        z += numpy.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)
        z ^= z >> numpy.uint64(31)
    return (z >> numpy.uint64(32)).astype(numpy.uint32)


def keep_mask(seeds, site, shape, p, xp):
    """(N, T, D) bool: which elements a dropout of rate ``p`` at ``site`` keeps, for rows of
    ``seeds`` (N,) uint32 on the device."""
    N, T, D = shape
    position = xp.arange(T * D, dtype=xp.uint32).reshape(T, D)
    position += xp.uint32((site * _GOLDEN32) & 0xFFFFFFFF)
    position = fmix32(position, xp)
    z = xp.bitwise_xor(seeds[:, None, None], position[None])          # (N, T, D)
    z = fmix32(z, xp)
    return z >= xp.uint32(min(int(p * 2.0 ** 32), 0xFFFFFFFF))


class Noise:
    """The row seeds of the forward in progress, shared by the dropout layers of one model:
    None outside training (every dropout then passes its input through)."""

    def __init__(self, p):
        self.p = float(p)
        self.seeds = None


class TimeDropout:
    """x (N, T, D) -> x · keep / (1 - p), the mask (:func:`keep_mask`) at ``site`` for the rows of
    ``noise.seeds``; the identity where those are None or p is 0."""

    def __init__(self, noise, site):
        self.noise, self.site = noise, site
        self.params, self.grads = [], []
        self.scale = None             # keep / (1 - p) of the last forward, or None

    def forward(self, x):
        noise = self.noise
        if noise.seeds is None or noise.p == 0:
            self.scale = None
            return x
        xp = get_array_module(x)
        keep = keep_mask(noise.seeds, self.site, x.shape, noise.p, xp)
        self.scale = keep.astype(x.dtype)
        self.scale *= x.dtype.type(1 / (1 - noise.p))
        return x * self.scale

    def backward(self, dout):
        return dout if self.scale is None else dout * self.scale


#: The dropout sites of a decoder (an encoder's are its layers' numbers): the embeddings, what
#: goes into the output layer, then the input of each layer above the first (1002, 1003, ...).
DECODER_SITES = (1000, 1001)


def decoder_drops(noise, layers):
    """The TimeDropout layers of a decoder of ``layers`` recurrent layers, at DECODER_SITES and
    after; None without dropout."""
    if not noise:
        return None
    return [TimeDropout(noise, site)
            for site in DECODER_SITES + tuple(1002 + i for i in range(layers - 1))]

"""What every model shares: parameter initialisation, flat parameter/gradient buffers, the book's
training API (``forward(xs, ts) -> loss``, ``backward()``, ``params``, ``grads``) and batched
greedy decoding."""
import contextlib

import numpy

from .. import backend, parallel
from ..layers import CELLS, TimeEmbedding, TimeSoftmaxWithLoss


class Initializer:
    """The book's initialisation, drawn on the host from one seeded generator (so that every backend
    starts from the same weights) and moved to the active backend in its float dtype."""

    def __init__(self, seed=None):
        self.rng = numpy.random.default_rng(seed)
        self.dtype = backend.dtype

    def randn(self, *shape, scale=1.0):
        return backend.to_device(self.rng.standard_normal(shape) * scale, self.dtype)

    def zeros(self, *shape):
        return backend.xp.zeros(shape, dtype=self.dtype)

    def embedding(self, V, D):
        return TimeEmbedding(self.randn(V, D, scale=0.01))

    def rnn(self, cell, D, H, stateful, impl):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
        layer, gates = CELLS[cell]
        return layer(self.randn(D, gates * H, scale=1 / numpy.sqrt(D)),
                     self.randn(H, gates * H, scale=1 / numpy.sqrt(H)),
                     self.zeros(gates * H), stateful=stateful, impl=impl)


def flatten(layers):
    """Put every parameter (and every gradient) of ``layers`` into one contiguous buffer and rebind
    each layer's arrays to views of it, so that clipping and the optimiser can treat the whole model
    as one array. Returns (params, grads, flat_params, flat_grads) in layer order."""
    arrays = [p for layer in layers for p in layer.params]
    xp = backend.get_array_module(arrays[0])
    sizes = [p.size for p in arrays]
    flat_params = xp.empty(sum(sizes), dtype=arrays[0].dtype)
    flat_grads = xp.zeros_like(flat_params)
    params, grads = [], []
    offset = 0
    for layer in layers:
        for i, p in enumerate(layer.params):
            view = flat_params[offset:offset + p.size].reshape(p.shape)
            view[...] = p
            layer.params[i] = view
            layer.grads[i] = flat_grads[offset:offset + p.size].reshape(p.shape)
            params.append(view)
            grads.append(layer.grads[i])
            offset += p.size
    return params, grads, flat_params, flat_grads


class Seq2seqBase:
    """A model made of an ``encoder`` and a ``decoder``; subclasses build them in ``__init__`` and
    then call ``_finish()``. The encoder's ``forward(xs)`` returns what the decoder needs (its
    ``forward(xs, enc)`` / ``generate(enc, start_id, n)``); the decoder's ``backward`` returns the
    gradient of that for the encoder's ``backward``."""

    kind = None
    #: True where every GEMM-heavy step of forward, backward and generate splits the batch over
    #: threads itself (:mod:`s2sxp.parallel`); BLAS is then held to one thread meanwhile. The
    #: per-step references never split, so they keep BLAS's own threads.
    splits_batch = False
    #: The training settings this family is published with (the book's for its three models).
    recipe = {"lr": 0.001, "reverse": True, "max_grad": 5.0, "optimizer": "adam"}

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused",
                 seed=None):
        self.config = dict(vocab_size=int(vocab_size), wordvec_size=int(wordvec_size),
                           hidden_size=int(hidden_size), cell=cell)
        self.impl = impl
        self.init = Initializer(seed)
        self.loss_layer = TimeSoftmaxWithLoss()
        self._forward_kept = False          # what backward needs: kept by forward, until used

    def _finish(self, layers):
        self.params, self.grads, self.flat_params, self.flat_grads = flatten(layers)
        del self.init

    def _region(self):
        if self.splits_batch and self.impl == "fused":
            return parallel.region(self.xp)
        return contextlib.nullcontext()

    @property
    def xp(self):
        return backend.get_array_module(self.flat_params)

    def _ids(self, a):
        """Integer ids on the model's device."""
        return self.xp.asarray(a)

    def forward(self, xs, ts):
        """Mean cross-entropy of the decoder fed ts[:, :-1] against ts[:, 1:] (teacher forcing)."""
        xs, ts = self._ids(xs), self._ids(ts)
        with self._region():
            enc = self.encoder.forward(xs)
            score = self.decoder.forward(ts[:, :-1], enc)
            loss = self.loss_layer.forward(score, ts[:, 1:])
        self._forward_kept = True
        return loss

    def backward(self, dout=1):
        """Gradients of the last forward's loss into ``grads``; once per forward, and not after a
        generate, which replaces what forward kept."""
        if not self._forward_kept:
            raise RuntimeError(f"{type(self).__name__}: backward() needs its own forward(xs, ts) "
                               "first (each backward uses up what the forward kept, and "
                               "generate() replaces it)")
        self._forward_kept = False
        with self._region():
            dscore = self.loss_layer.backward(dout)
            denc = self.decoder.backward(dscore)
            self.encoder.backward(denc)

    def generate(self, xs, start_id, sample_size):
        """Greedy decoding of every question in ``xs`` (N, T) at once -> ids (N, sample_size)."""
        xs = self._ids(xs)
        if xs.ndim == 1:
            xs = xs[None, :]
        self._forward_kept = False
        with self._region():
            enc = self.encoder.forward(xs)
            return self.decoder.generate(enc, start_id, sample_size)

    @property
    def attention_weights(self):
        """Attention weights of the last forward/generate, (N, T_dec, T_enc), or None."""
        return getattr(self.decoder, "attention_weights", None)

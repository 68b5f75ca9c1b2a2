"""Seq2seq and PeekySeq2seq (book, ch. 7): an LSTM (or GRU) encoder whose last hidden state
starts the decoder; Peeky also feeds that state to every decoder step and to the output affine."""
import numpy

from ..backend import get_array_module
from ..layers import TimeAffine
from .base import Seq2seqBase


class Encoder:
    """xs (N, T) -> the last hidden state (N, H)."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=False, impl=impl)
        self.layers = [self.embed, self.rnn]

    def forward(self, xs):
        self.rnn.forward(self.embed.forward(xs))
        return self.rnn.h

    def backward(self, dh):
        self.embed.backward(self.rnn.backward(None, dh))          # only h_T reached the decoder


def _greedy(step, xp, N, start_id, sample_size):
    """Feed each step's argmax to the next: step(ids (N, 1), t) -> scores (N, 1, V)."""
    ids = xp.full((N, 1), start_id, dtype=numpy.int32)
    sampled = xp.empty((N, sample_size), dtype=numpy.int32)
    for t in range(sample_size):
        ids = step(ids, t).argmax(axis=2).astype(numpy.int32)
        sampled[:, t] = ids[:, 0]
    return sampled


class Decoder:
    """(xs (N, T), h (N, H)) -> scores (N, T, V)."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=True, impl=impl)
        self.affine = TimeAffine(init.randn(H, V, scale=1 / numpy.sqrt(H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]

    def forward(self, xs, h):
        self.rnn.set_state(h)
        return self.affine.forward(self.rnn.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        self.embed.backward(self.rnn.backward(self.affine.backward(dscore)))
        return self.rnn.dh

    def generate(self, h, start_id, sample_size):
        self.rnn.set_state(h)
        step = lambda ids, t: self.affine.forward(self.rnn.forward(self.embed.forward(ids)))
        return _greedy(step, get_array_module(h), h.shape[0], start_id, sample_size)


class PeekyDecoder:
    """Like Decoder, with the encoder state h concatenated to every step's input and output."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, H + D, H, stateful=True, impl=impl)
        self.affine = TimeAffine(init.randn(H + H, V, scale=1 / numpy.sqrt(H + H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]
        self.H = H

    def _step(self, xs, h):
        xp = get_array_module(h)
        N, T = xs.shape
        hs = xp.broadcast_to(h[:, None, :], (N, T, self.H))
        out = self.rnn.forward(self.embed.forward(xs), peek=h)
        return self.affine.forward(xp.concatenate((hs, out), axis=2))

    def forward(self, xs, h):
        self.rnn.set_state(h)
        return self._step(xs, h)

    def backward(self, dscore):
        H = self.H
        dout = self.affine.backward(dscore)
        dhs = dout[:, :, :H].sum(axis=1)
        self.embed.backward(self.rnn.backward(dout[:, :, H:]))
        dhs += self.rnn.dpeek
        return self.rnn.dh + dhs

    def generate(self, h, start_id, sample_size):
        self.rnn.set_state(h)
        return _greedy(lambda ids, t: self._step(ids, h), get_array_module(h), h.shape[0],
                       start_id, sample_size)


class Seq2seq(Seq2seqBase):
    """The book's baseline: encoder's last state -> decoder."""

    splits_batch = True
    kind = "seq2seq"
    decoder_class = Decoder

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused", seed=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = Encoder(self.init, V, D, H, cell, impl)
        self.decoder = self.decoder_class(self.init, V, D, H, cell, impl)
        self._finish(self.encoder.layers + self.decoder.layers)


class PeekySeq2seq(Seq2seq):
    """Seq2seq whose decoder sees the encoder state at every step (book, ch. 7.4)."""

    kind = "peeky"
    decoder_class = PeekyDecoder

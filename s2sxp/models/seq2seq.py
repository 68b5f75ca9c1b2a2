"""Seq2seq and PeekySeq2seq (book, ch. 7): an LSTM (or GRU) encoder whose last hidden state
starts the decoder; Peeky also feeds that state to every decoder step and to the output affine."""
import numpy

from ..backend import get_array_module
from ..layers import TimeAffine
from ..layers.padding import last_states
from .base import Seq2seqBase
from .decoder import reorder_state


class Encoder:
    """xs (N, T) -> the state of each row's last real step (N, H) (the last step unless
    ``lengths`` says otherwise)."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=False, impl=impl)
        self.layers = [self.embed, self.rnn]
        self.lengths = None

    def forward(self, xs, lengths=None):
        self.lengths = lengths
        hs = self.rnn.forward(self.embed.forward(xs))
        return self.rnn.h if lengths is None else last_states(hs, lengths)

    def backward(self, dh):
        if self.lengths is None:                                  # only h_T reached the decoder
            self.embed.backward(self.rnn.backward(None, dh))
            return
        xp = get_array_module(dh)
        dhs = xp.zeros(self.rnn.hs_shape, dtype=dh.dtype)
        dhs[xp.arange(dh.shape[0]), self.lengths - 1] = dh
        self.embed.backward(self.rnn.backward(dhs))


class Decoder:
    """(xs (N, T), h (N, H)) -> scores (N, T, V)."""

    step_weights = None

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=True, impl=impl)
        self.affine = TimeAffine(init.randn(H, V, scale=1 / numpy.sqrt(H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]

    def forward(self, xs, h, lengths=None):
        self.rnn.set_state(h)
        return self.affine.forward(self.rnn.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        self.embed.backward(self.rnn.backward(self.affine.backward(dscore)))
        return self.rnn.dh

    def start(self, h, lengths, steps):
        self.rnn.set_state(h)

    def step(self, ids, t):
        return self.affine.forward(self.rnn.forward(self.embed.forward(ids)))

    def reorder(self, index):
        reorder_state(self.rnn, index)


class PeekyDecoder(Decoder):
    """Like Decoder, with the encoder state h concatenated to every step's input and output."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, H + D, H, stateful=True, impl=impl)
        self.affine = TimeAffine(init.randn(H + H, V, scale=1 / numpy.sqrt(H + H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]
        self.H = H
        self.h = None

    def _step(self, xs, h):
        xp = get_array_module(h)
        N, T = xs.shape
        hs = xp.broadcast_to(h[:, None, :], (N, T, self.H))
        out = self.rnn.forward(self.embed.forward(xs), peek=h)
        return self.affine.forward(xp.concatenate((hs, out), axis=2))

    def forward(self, xs, h, lengths=None):
        self.rnn.set_state(h)
        return self._step(xs, h)

    def backward(self, dscore):
        H = self.H
        dout = self.affine.backward(dscore)
        dhs = dout[:, :, :H].sum(axis=1)
        self.embed.backward(self.rnn.backward(dout[:, :, H:]))
        dhs += self.rnn.dpeek
        return self.rnn.dh + dhs

    def start(self, h, lengths, steps):
        self.rnn.set_state(h)
        self.h = h

    def step(self, ids, t):
        return self._step(ids, self.h)


class Seq2seq(Seq2seqBase):
    """The book's baseline: encoder's last state -> decoder. Its subclasses (the book's other two
    models) change the ``encoder_class`` and ``decoder_class`` it is built of."""

    splits_batch = True
    kind = "seq2seq"
    encoder_class = Encoder
    decoder_class = Decoder

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused", seed=None,
                 pad_id=None, *, source_vocab_size=None, label_smoothing=0.0, xp=None,
                 dtype=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed, pad_id,
                         source_vocab_size=source_vocab_size, label_smoothing=label_smoothing,
                         xp=xp, dtype=dtype)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = self.encoder_class(self.init, self.source_vocab_size, D, H, cell, impl)
        self.decoder = self.decoder_class(self.init, V, D, H, cell, impl)
        self._finish(self.encoder.layers + self.decoder.layers)


class PeekySeq2seq(Seq2seq):
    """Seq2seq whose decoder sees the encoder state at every step (book, ch. 7.4)."""

    kind = "peeky"
    decoder_class = PeekyDecoder

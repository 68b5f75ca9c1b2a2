"""AttentionSeq2seq (book, ch. 8): dot-product attention over all encoder states after the decoder
LSTM; the context and the decoder state, concatenated, go to the output affine."""
import numpy

from ..backend import get_array_module
from ..layers import TimeAffine, TimeAttention
from ..layers.padding import add_to_last_states, last_states, padding_mask
from .seq2seq import Encoder, Seq2seq, reorder_state


class AttentionEncoder(Encoder):
    """xs (N, T) -> all hidden states hs (N, T, H)."""

    def forward(self, xs, lengths=None):
        return self.rnn.forward(self.embed.forward(xs))

    def backward(self, dhs):
        self.embed.backward(self.rnn.backward(dhs))


class AttentionDecoder:
    """(xs (N, T_dec), hs_enc (N, T_enc, H)) -> scores (N, T_dec, V); starts from the state of
    each row's last real encoder step and attends to its real steps only."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=True, impl=impl)
        self.attention = TimeAttention(impl=impl)
        self.affine = TimeAffine(init.randn(2 * H, V, scale=1 / numpy.sqrt(2 * H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]
        self.H = H
        self.attention_weights = self.step_weights = None
        self.hs_enc = self.lengths = self.mask = None

    def _step(self, xs):
        xp = get_array_module(self.hs_enc)
        hs_dec = self.rnn.forward(self.embed.forward(xs))
        cs = self.attention.forward(self.hs_enc, hs_dec, self.mask)
        return self.affine.forward(xp.concatenate((cs, hs_dec), axis=2))

    def start(self, hs_enc, lengths, steps=None):
        self.hs_enc, self.lengths = hs_enc, lengths
        self.mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        self.rnn.set_state(last_states(hs_enc, lengths))

    def forward(self, xs, hs_enc, lengths=None):
        self.start(hs_enc, lengths)
        score = self._step(xs)
        self.attention_weights = self.attention.attention_weights
        return score

    def backward(self, dscore):
        H = self.H
        dout = self.affine.backward(dscore)
        dcs, dhs_dec = dout[:, :, :H], dout[:, :, H:]
        dhs_enc, dhs_dec_att = self.attention.backward(dcs)
        dout = self.rnn.backward(dhs_dec + dhs_dec_att)
        self.embed.backward(dout)
        add_to_last_states(dhs_enc, self.rnn.dh, self.lengths)
        return dhs_enc

    def step(self, ids, t):
        score = self._step(ids)
        self.step_weights = self.attention.attention_weights[:, 0, :]
        return score

    def reorder(self, index):
        reorder_state(self.rnn, index)


class AttentionSeq2seq(Seq2seq):
    """Encoder states -> LSTM decoder -> dot attention -> affine over [context | state]."""

    kind = "attention"
    encoder_class = AttentionEncoder
    decoder_class = AttentionDecoder

"""AttentionSeq2seq (book, ch. 8): dot-product attention over all encoder states after the decoder
LSTM; the context and the decoder state, concatenated, go to the output affine."""
import numpy

from ..backend import get_array_module
from ..layers import TimeAffine, TimeAttention
from .base import Seq2seqBase
from .seq2seq import Encoder, _greedy


class AttentionEncoder(Encoder):
    """xs (N, T) -> all hidden states hs (N, T, H)."""

    def forward(self, xs):
        return self.rnn.forward(self.embed.forward(xs))

    def backward(self, dhs):
        self.embed.backward(self.rnn.backward(dhs))


class AttentionDecoder:
    """(xs (N, T_dec), hs_enc (N, T_enc, H)) -> scores (N, T_dec, V); starts from hs_enc[:, -1]."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        self.rnn = init.rnn(cell, D, H, stateful=True, impl=impl)
        self.attention = TimeAttention(impl=impl)
        self.affine = TimeAffine(init.randn(2 * H, V, scale=1 / numpy.sqrt(2 * H)), init.zeros(V))
        self.layers = [self.embed, self.rnn, self.affine]
        self.H = H
        self.attention_weights = None

    def _step(self, xs, hs_enc):
        xp = get_array_module(hs_enc)
        hs_dec = self.rnn.forward(self.embed.forward(xs))
        cs = self.attention.forward(hs_enc, hs_dec)
        return self.affine.forward(xp.concatenate((cs, hs_dec), axis=2))

    def forward(self, xs, hs_enc):
        self.rnn.set_state(hs_enc[:, -1, :])
        score = self._step(xs, hs_enc)
        self.attention_weights = self.attention.attention_weights
        return score

    def backward(self, dscore):
        H = self.H
        dout = self.affine.backward(dscore)
        dcs, dhs_dec = dout[:, :, :H], dout[:, :, H:]
        dhs_enc, dhs_dec_att = self.attention.backward(dcs)
        dout = self.rnn.backward(dhs_dec + dhs_dec_att)
        self.embed.backward(dout)
        dhs_enc[:, -1, :] += self.rnn.dh
        return dhs_enc

    def generate(self, hs_enc, start_id, sample_size):
        xp = get_array_module(hs_enc)
        N, T_enc, _ = hs_enc.shape
        self.rnn.set_state(hs_enc[:, -1, :])
        weights = xp.empty((N, sample_size, T_enc), dtype=hs_enc.dtype)

        def step(ids, t):
            score = self._step(ids, hs_enc)
            weights[:, t, :] = self.attention.attention_weights[:, 0, :]
            return score

        sampled = _greedy(step, xp, N, start_id, sample_size)
        self.attention_weights = weights
        return sampled


class AttentionSeq2seq(Seq2seqBase):
    """Encoder states -> LSTM decoder -> dot attention -> affine over [context | state]."""

    splits_batch = True
    kind = "attention"

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused", seed=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.encoder = AttentionEncoder(self.init, V, D, H, cell, impl)
        self.decoder = AttentionDecoder(self.init, V, D, H, cell, impl)
        self._finish(self.encoder.layers + self.decoder.layers)

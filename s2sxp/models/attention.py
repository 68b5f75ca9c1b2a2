"""AttentionSeq2seq (book, ch. 8): dot-product attention over all encoder states after the decoder
LSTM; the context and the decoder state, concatenated, go to the output affine. With input
feeding (Luong et al. 2015), each step's context is also fed into the decoder cell's next step
(layers/feeding.py)."""
import numpy

from ..backend import get_array_module
from ..layers import CELLS, TimeAffine, TimeAttention, is_fused
from ..layers.feeding import FusedFeedingRecurrence, ReferenceFeedingRecurrence
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


class FeedingAttentionDecoder:
    """AttentionDecoder with input feeding: the cell reads [embedding | previous context], the
    recurrence of layers/feeding.py; the affine reads [context | state] as the book's does."""

    def __init__(self, init, V, D, H, cell, impl):
        self.embed = init.embedding(V, D)
        G = CELLS[cell][1]
        params = [init.randn(D + H, G * H, scale=1 / numpy.sqrt(D + H)),
                  init.randn(H, G * H, scale=1 / numpy.sqrt(H)), init.zeros(G * H)]
        recurrence = FusedFeedingRecurrence if is_fused(impl) else ReferenceFeedingRecurrence
        self.recurrence = recurrence(params, cell)
        self.affine = TimeAffine(init.randn(2 * H, V, scale=1 / numpy.sqrt(2 * H)), init.zeros(V))
        self.layers = [self.embed, self.recurrence, self.affine]
        self.H = H
        self.attention_weights = self.step_weights = None
        self.lengths = None
        self._t = -1

    def forward(self, xs, hs_enc, lengths=None):
        self.lengths = lengths
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        hs, cs = self.recurrence.forward(self.embed.forward(xs), hs_enc,
                                         last_states(hs_enc, lengths), mask)
        self.attention_weights = self.recurrence.attention_weights
        return self.affine.forward(get_array_module(hs).concatenate((cs, hs), axis=2))

    def backward(self, dscore):
        H = self.H
        dout = self.affine.backward(dscore)
        dE, dhs_enc = self.recurrence.backward(dout[:, :, H:], dout[:, :, :H])
        self.embed.backward(dE)
        add_to_last_states(dhs_enc, self.recurrence.dh0, self.lengths)
        return dhs_enc

    def start(self, hs_enc, lengths, steps):
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        self.recurrence.start(hs_enc, last_states(hs_enc, lengths), steps, mask)
        self._t = -1

    def step(self, ids, t):
        rec = self.recurrence
        self._t = t
        h, c = rec.step(t, rec.embedding_part(self.embed.forward(ids))[0])
        self.step_weights = rec.attention_weights[:, t]
        return self.affine.forward(get_array_module(h).concatenate((c, h), axis=1)[:, None, :])

    def reorder(self, index):
        self.recurrence.reorder(self._t, index)


class AttentionSeq2seq(Seq2seq):
    """Encoder states -> LSTM decoder -> dot attention -> affine over [context | state].

    ``input_feeding=True``: the decoder cell also reads the previous step's context (zeros at
    the first step), so that its Wx has D + H rows, [embedding | context]; params are otherwise
    in the same order (FeedingAttentionDecoder)."""

    kind = "attention"
    encoder_class = AttentionEncoder
    decoder_class = AttentionDecoder

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused", seed=None,
                 pad_id=None, *, input_feeding=False, source_vocab_size=None,
                 label_smoothing=0.0, xp=None, dtype=None):
        if input_feeding:
            self.decoder_class = FeedingAttentionDecoder
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed, pad_id,
                         source_vocab_size=source_vocab_size, label_smoothing=label_smoothing,
                         xp=xp, dtype=dtype)
        if input_feeding:
            self.config["input_feeding"] = True

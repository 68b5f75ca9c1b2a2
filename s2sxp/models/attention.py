"""AttentionSeq2seq (book, ch. 8): dot-product attention over all encoder states after the decoder
LSTM; the context and the decoder state, concatenated, go to the output affine. With input
feeding (Luong et al. 2015), each step's context is also fed into the decoder cell's next step
(layers/feeding.py); a deeper encoder (models/encoder.py), more decoder layers and dropout make it
a translator's model, as they do the Bahdanau one."""
import weakref

import numpy

from ..backend import asnumpy, get_array_module
from ..layers import CELLS, TimeAttention, is_fused
from ..layers.feeding import FusedFeedingRecurrence, ReferenceFeedingRecurrence
from ..layers.output import ChunkedOutputLoss
from ..layers.padding import add_to_last_states, last_states, padding_mask
from .base import Seq2seqBase
from .decoder import StackedDecoder, reorder_state
from .encoder import RecurrentEncoder
from .seq2seq import Encoder


class AttentionEncoder(Encoder):
    """xs (N, T) -> all hidden states hs (N, T, H)."""

    def forward(self, xs, lengths=None):
        return self.rnn.forward(self.embed.forward(xs))

    def backward(self, dhs):
        self.embed.backward(self.rnn.backward(dhs))


class _Stacked(StackedDecoder):
    """What both attention decoders share besides the stack: the affine over
    [context | top state]."""

    def _scores(self, cs, top, decoding=False):
        """The scores of [context | top state], or in training without ``scores`` that vector,
        for the output layer and loss in one (layers/output.py)."""
        out = self._out(get_array_module(cs).concatenate((cs, top), axis=2))
        return self.affine.forward(out) if self.scores or decoding else out

    def _back_scores(self, dscore):
        """-> the gradients of the contexts and of the attentive layer's states."""
        dout = self._back_out(self.affine.backward(dscore) if self.scores else dscore)
        return dout[:, :, :self.H], self._back_top(dout[:, :, self.H:])


class AttentionDecoder(_Stacked):
    """(xs (N, T_dec), hs_enc (N, T_enc, H)) -> scores (N, T_dec, V), or with ``scores=False``
    the vectors [context | state] (N, T_dec, 2H) that go into the affine; starts from the state
    of each row's last real encoder step and attends to its real steps only. With ``layers``
    above 1, plain cells stacked over the attentive one, the top one's states beside the
    contexts; with ``noise``, dropout (models/decoder.py)."""

    def _attentive(self, init, D, H, cell, impl):
        self.rnn = init.rnn(cell, D, H, stateful=True, impl=impl)
        self.attention_layer = TimeAttention(impl=impl)
        self.hs_enc = self.mask = None
        return self.rnn

    def _step(self, xs, decoding=False):
        hs_dec = self.rnn.forward(self._embed(xs))
        cs = self.attention_layer.forward(self.hs_enc, hs_dec, self.mask)
        return self._scores(cs, self._top(hs_dec), decoding)

    def start(self, hs_enc, lengths, steps=None):
        self.hs_enc, self.lengths = hs_enc, lengths
        self.mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        self.rnn.set_state(last_states(hs_enc, lengths))
        self._reset_stack()

    def forward(self, xs, hs_enc, lengths=None):
        self.start(hs_enc, lengths)
        score = self._step(xs)
        self.attention_weights = self.attention_layer.attention_weights
        return score

    def backward(self, dscore):
        dcs, dhs_dec = self._back_scores(dscore)
        dhs_enc, dhs_dec_att = self.attention_layer.backward(dcs)
        self._back_embed(self.rnn.backward(dhs_dec + dhs_dec_att))
        add_to_last_states(dhs_enc, self.rnn.dh, self.lengths)
        return dhs_enc

    def step(self, ids, t):
        score = self._step(ids, decoding=True)
        self.step_weights = self.attention_layer.attention_weights[:, 0, :]
        return score

    def reorder(self, index):
        reorder_state(self.rnn, index)
        self._reorder_stack(index)


class FeedingAttentionDecoder(_Stacked):
    """AttentionDecoder with input feeding: the cell reads [embedding | previous context], the
    recurrence of layers/feeding.py; the affine reads [context | state] as the book's does (with
    ``layers``, the top layer's state)."""

    def _attentive(self, init, D, H, cell, impl):
        G = CELLS[cell][1]
        params = [init.randn(D + H, G * H, scale=1 / numpy.sqrt(D + H)),
                  init.randn(H, G * H, scale=1 / numpy.sqrt(H)), init.zeros(G * H)]
        recurrence = FusedFeedingRecurrence if is_fused(impl) else ReferenceFeedingRecurrence
        self.recurrence = recurrence(params, cell)
        self._t = -1
        return self.recurrence

    def forward(self, xs, hs_enc, lengths=None):
        self.lengths = lengths
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        hs, cs = self.recurrence.forward(self._embed(xs), hs_enc, last_states(hs_enc, lengths),
                                         mask)
        self.attention_weights = self.recurrence.attention_weights
        self._reset_stack()
        return self._scores(cs, self._top(hs))

    def backward(self, dscore):
        dcs, dhs = self._back_scores(dscore)
        dE, dhs_enc = self.recurrence.backward(dhs, dcs)
        self._back_embed(dE)
        add_to_last_states(dhs_enc, self.recurrence.dh0, self.lengths)
        return dhs_enc

    def start(self, hs_enc, lengths, steps):
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        self.recurrence.start(hs_enc, last_states(hs_enc, lengths), steps, mask)
        self._reset_stack()
        self._t = -1

    def step(self, ids, t):
        rec = self.recurrence
        self._t = t
        h, c = rec.step(t, rec.embedding_part(self.embed.forward(ids))[0])
        self.step_weights = rec.attention_weights[:, t]
        return self._scores(c[:, None, :], self._top(h[:, None, :]), decoding=True)

    def reorder(self, index):
        self.recurrence.reorder(self._t, index)
        self._reorder_stack(index)


class BookAttention:
    """``model.decoder.attention`` as the book's scripts read it (its ch08/visualize_attention.py,
    after ``model.forward(x, t)``): ``attention_weights``, a list with one (N, T_enc) host array
    per decoder step of the model's last forward or decoding (None before any), every row of the
    batch, however the model split it over threads."""

    def __init__(self, model):
        self.model = weakref.ref(model)

    @property
    def attention_weights(self):
        weights = self.model().attention_weights
        if weights is None:
            return None
        weights = asnumpy(weights)                                   # (N, T_dec, T_enc)
        return [weights[:, t] for t in range(weights.shape[1])]


class AttentionSeq2seq(Seq2seqBase):
    """Encoder states -> LSTM decoder -> dot attention -> affine over [context | state].

    ``input_feeding=True``: the decoder cell also reads the previous step's context (zeros at
    the first step), so that its Wx has D + H rows, [embedding | context]
    (FeedingAttentionDecoder). ``encoder_layers`` and ``bidirectional`` make the encoder that of
    models/encoder.py (layers of cells, each running forward or both ways, a bridge to the width
    H); ``decoder_layers`` stacks plain cells over the attentive one, the top one's states going
    to the affine beside the contexts; ``dropout`` drops that part of the embeddings, of the
    inputs of the layers above the first and of [context | state] before the affine while
    training. params: the book's, in its order (Wx of the decoder cell with the context rows
    where it is fed), then those of the decoder's extra layers. ``decoder.attention`` gives the
    weights in the book's layout (:class:`BookAttention`)."""

    kind = "attention"
    splits_batch = True

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="lstm", impl="fused", seed=None,
                 pad_id=None, *, input_feeding=False, encoder_layers=1, decoder_layers=1,
                 bidirectional=False, dropout=0.0, source_vocab_size=None, label_smoothing=0.0,
                 xp=None, dtype=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed, pad_id,
                         source_vocab_size=source_vocab_size, label_smoothing=label_smoothing,
                         xp=xp, dtype=dtype)
        o = self._options(input_feeding=input_feeding, encoder_layers=encoder_layers,
                          decoder_layers=decoder_layers, bidirectional=bidirectional,
                          dropout=dropout)
        V, D, H = vocab_size, wordvec_size, hidden_size
        noise = self._noise(o["dropout"])
        if o["encoder_layers"] > 1 or o["bidirectional"] or noise:
            self.encoder = RecurrentEncoder(self.init, self.source_vocab_size, D, H, cell, impl,
                                            o["encoder_layers"], o["bidirectional"], noise)
        else:
            self.encoder = AttentionEncoder(self.init, self.source_vocab_size, D, H, cell, impl)
        decoder = FeedingAttentionDecoder if o["input_feeding"] else AttentionDecoder
        fused = is_fused(impl)
        self.decoder = decoder(self.init, V, D, H, cell, impl, o["decoder_layers"], noise,
                               scores=not fused)
        if fused:               # the output affine and the loss in blocks of rows, as one
            self.loss_layer = ChunkedOutputLoss(self.decoder.affine, self.loss_layer.ignore_label,
                                                label_smoothing)
        self.decoder.attention = BookAttention(self)
        self._finish(self.encoder.layers + self.decoder.layers)

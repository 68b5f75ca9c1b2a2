"""BahdanauSeq2seq: additive attention queried by the decoder's previous state, its context fed
into the decoder cell (Bahdanau, Cho & Bengio 2015, as TensorFlow's "NMT with attention"
tutorial builds it, brought into the book's framework by a published extension of chapter 8).

Decoder step t, for t = 0 .. T_dec - 1, with s_0 the initial state taken from the encoder::

    c_t, a_t = attention(hs_enc, query = s_t)                 (kernels/additive.py)
    s_{t+1} = cell([c_t | embed(y_{t-1})], s_t)                input width H + D
    score_t = s_{t+1}·W + b                                    over the vocabulary

The recurrence (attention and cell, step after step) is the layer of layers/additive.py, fused or
its per-step reference.
"""
import numpy

from ..layers import CELLS, FusedRecurrence, ReferenceRecurrence, is_fused
from ..layers.basic import TiedTimeAffine
from ..layers.padding import add_to_last_states, last_states, padding_mask, real_steps
from ..layers.output import ChunkedOutputLoss
from . import options
from .base import Seq2seqBase
from .decoder import StackedDecoder
from .encoder import RecurrentEncoder


def _recurrence_params(init, D, H, G):
    """The recurrence's parameters (layers/additive.py): the attention's, then the cell's."""
    r = 1 / numpy.sqrt(H)
    return [init.randn(H, H, scale=r), init.zeros(H), init.randn(H, H, scale=r), init.zeros(H),
            init.randn(H, 1, scale=r), init.zeros(1),
            init.randn(H + D, G * H, scale=1 / numpy.sqrt(H + D)),
            init.randn(H, G * H, scale=r), init.zeros(G * H)]


class BahdanauDecoder(StackedDecoder):
    """(xs (N, T), hs_enc (N, T_enc, H)) -> scores (N, T, V), or with ``scores=False`` the states
    (N, T, H) that go into the output affine (then the loss's: layers/output.py). With ``layers``
    above 1, that many recurrent layers in all: plain cells (from zero states) over the attentive
    recurrence's states, before the affine. With ``noise`` (training with dropout), dropout on
    the embeddings, on the inputs of the layers above the first and on the states before the
    affine."""

    affine_width = 1

    def __init__(self, init, V, D, H, cell, impl, options, noise=None, scores=True):
        """``options``: the model's, ``init_state``, ``reset_state_each_step``, ``tie_weights``
        and ``decoder_layers`` (models/options.py)."""
        self.init_state, self.reset = options["init_state"], options["reset_state_each_step"]
        super().__init__(init, V, D, H, cell, impl, options["decoder_layers"], noise, scores,
                         options["tie_weights"])

    def _attentive(self, init, D, H, cell, impl):
        recurrence = FusedRecurrence if is_fused(impl) else ReferenceRecurrence
        self.recurrence = recurrence(_recurrence_params(init, D, H, CELLS[cell][1]), cell,
                                     self.reset)
        self._t = -1
        return self.recurrence

    def _initial_state(self, hs_enc, lengths):
        """s_0: the sum of the real encoder states, or the last of them."""
        if self.init_state == "last":
            return last_states(hs_enc, lengths)
        if lengths is None:
            return hs_enc.sum(axis=1)
        real = real_steps(lengths, hs_enc.shape[1], hs_enc.dtype)
        return (hs_enc * real[:, :, None]).sum(axis=1)

    def forward(self, xs, hs_enc, lengths=None):
        self.lengths = lengths
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        hs = self.recurrence.forward(self._embed(xs), hs_enc,
                                     self._initial_state(hs_enc, lengths), mask)
        self.attention_weights = self.recurrence.attention_weights
        self._reset_stack()
        hs = self._out(self._top(hs))
        return self.affine.forward(hs) if self.scores else hs

    def backward(self, dscore):
        dhs = self._back_out(self.affine.backward(dscore) if self.scores else dscore)
        dE, dhs_enc = self.recurrence.backward(self._back_top(dhs))
        self._back_embed(dE)
        if isinstance(self.affine, TiedTimeAffine):
            self.affine.add_to_embedding()
        dh0, lengths = self.recurrence.dh0, self.lengths
        if self.init_state == "last":
            add_to_last_states(dhs_enc, dh0, lengths)
        elif lengths is None:
            dhs_enc += dh0[:, None, :]
        else:
            dhs_enc += dh0[:, None, :] * real_steps(lengths, dhs_enc.shape[1], dhs_enc.dtype)[
                :, :, None]
        return dhs_enc

    def start(self, hs_enc, lengths, steps):
        mask = padding_mask(lengths, hs_enc.shape[1], hs_enc.dtype)
        self.recurrence.start(hs_enc, self._initial_state(hs_enc, lengths), steps, train=False,
                              mask=mask)
        self._reset_stack()
        self._t = -1

    def step(self, ids, t):
        rec = self.recurrence
        self._t = t
        gx = rec.embedding_part(self.embed.forward(ids))[0]
        score = self.affine.forward(self._top(rec.step(t, gx)[:, None, :]))
        self.step_weights = rec.attention_weights[:, t]
        return score

    def reorder(self, index):
        self.recurrence.reorder(self._t, index)
        self._reorder_stack(index)


class BahdanauSeq2seq(Seq2seqBase):
    """Encoder states -> additive attention queried by the decoder's previous state -> cell on
    [context | embedding] -> affine.

    The encoder is an embedding and a Time GRU/LSTM over the question (not reversed), all states
    kept. The decoder starts from s_0, the sum over time of the encoder states
    (``init_state="sum"``, the published variant's choice) or the last of them (``"last"``);
    s_0 and every later state are the attention's queries. For the LSTM, s is h and the decoder's
    first memory cell c_0 is zero, as in the book's AttentionDecoder. The gradient reaching s_0
    goes back to the encoder states it was made from.

    ``reset_state_each_step=False`` (default): the cell carries its state from step to step, as in
    Bahdanau et al. (2015). ``True``: the cell starts every step from a zero state (h and c), as in
    the TensorFlow tutorial and the published code; s_t then reaches step t + 1 only through the
    attention query, and Wh receives no gradient.

    ``encoder_layers`` and ``bidirectional`` make the encoder deeper (models/encoder.py: layers of
    cells, each running forward or both ways, with a bridge to the width H); ``decoder_layers``
    stacks plain cells over the decoder's attentive one; ``dropout`` (0 to
    below 1) drops that part of the embeddings, of the inputs of every encoder layer after the
    first and of the decoder states before the output affine while training (layers/dropout.py),
    and nothing when decoding. ``tie_weights`` makes the output layer's weights the target
    embedding's, transposed (the embedding and hidden sizes must then be equal), and leaves the
    output W out of params.

    params, in this order: encoder embedding W (V, D), encoder cell Wx (D, G·H), Wh (H, G·H),
    b (G·H,) (with more layers or both directions, the cells of models/encoder.py and the
    bridge); decoder embedding W (V, D); attention W1 (H, H), b1 (H,), W2 (H, H), b2 (H,),
    W3 (H, 1), b3 (1,); decoder cell Wx (H + D, G·H) with rows [context | embedding], Wh, b;
    affine W (H, V), b (V,). G = 3 for the GRU, 4 for the LSTM. See kernels/additive.py for b1,
    b2, b3.
    """

    kind = "bahdanau"
    splits_batch = True
    #: Adam from lr 1e-2, halved every 350 iterations (an epoch of the date data): at a constant
    #: rate, once the loss is near zero, Adam's steps stay about lr in size while the gradients
    #: shrink, and a model that has learned can diverge (benchmarks/results/convergence.md).
    recipe = {"lr": 1e-2, "lr_half_life": 350, "anneal_at": 0.99, "reverse": False,
              "max_grad": 5.0, "optimizer": "adam"}

    @classmethod
    def batch_bytes(cls, N, T_enc, T_dec, H, V):
        """Those of every model, and the additive attention's y of every step."""
        return super().batch_bytes(N, T_enc, T_dec, H, V) + 4 * N * 2 * T_dec * T_enc * H

    def __init__(self, vocab_size, wordvec_size, hidden_size, cell="gru", impl="fused", seed=None,
                 init_state="sum", reset_state_each_step=False, pad_id=None, *,
                 encoder_layers=1, decoder_layers=1, bidirectional=False, dropout=0.0,
                 tie_weights=False,
                 source_vocab_size=None, label_smoothing=0.0, xp=None, dtype=None):
        if tie_weights and wordvec_size != hidden_size:
            raise ValueError(f"tied output weights need the embedding size ({wordvec_size}) to "
                             f"equal the hidden size ({hidden_size})")
        super().__init__(vocab_size, wordvec_size, hidden_size, cell, impl, seed, pad_id,
                         source_vocab_size=source_vocab_size, label_smoothing=label_smoothing,
                         xp=xp, dtype=dtype)
        kept = {"init_state": options.checked("init_state", init_state),
                "reset_state_each_step": options.checked("reset_state_each_step",
                                                         reset_state_each_step)}
        self.config.update(kept)              # recorded even where they are the defaults
        o = dict(kept, **self._options(encoder_layers=encoder_layers,
                                       decoder_layers=decoder_layers, bidirectional=bidirectional,
                                       dropout=dropout, tie_weights=tie_weights))
        V, D, H = vocab_size, wordvec_size, hidden_size
        noise = self._noise(o["dropout"])
        fused = is_fused(impl)
        self.encoder = RecurrentEncoder(self.init, self.source_vocab_size, D, H, cell, impl,
                                        o["encoder_layers"], o["bidirectional"], noise)
        self.decoder = BahdanauDecoder(self.init, V, D, H, cell, impl, o, noise, scores=not fused)
        if fused:               # the output affine and the loss in blocks of rows, as one
            self.loss_layer = ChunkedOutputLoss(self.decoder.affine, self.loss_layer.ignore_label,
                                                label_smoothing)
        self._finish(self.encoder.layers + self.decoder.layers)

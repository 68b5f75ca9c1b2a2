"""What the attention decoders share above and around their attentive recurrence: how they are
made, dropout on the embeddings, plain cells stacked over the attentive layer (each from a zero
state, with dropout before it), dropout on what goes into the output layer, and the reordering of
recurrent states that beam search asks of every decoder::

    e   = dropout(embed(y))                                    site 1000
    s   = attentive layer(e, ...)                              the model's own
    top = rnn_L(dropout(... rnn_2(dropout(s))))               sites 1002, 1003, ...
    out = dropout(top, or [context | top])                     site 1001, then the affine

(layers/dropout.py: DECODER_SITES). In decoding the stacked cells carry their states from step to
step, and beam search reorders them with the attentive layer's.
"""
import numpy

from ..layers import TimeAffine
from ..layers.basic import TiedTimeAffine
from ..layers.dropout import decoder_drops


def reorder_state(rnn, index):
    """Rows of a recurrent layer's state taken in the order ``index`` (beam search)."""
    rnn.h = rnn.h[index]
    if getattr(rnn, "c", None) is not None:
        rnn.c = rnn.c[index]


class StackedDecoder:
    """An attention decoder's embedding, attentive layer, output affine, stacked cells and
    dropout, made in that order (the order their parameters are drawn and listed in): a subclass
    makes its attentive layer in :meth:`_attentive` and says how wide the affine's input is
    (:attr:`affine_width`, in H). With ``scores=False`` its forward returns what goes into the
    affine, for the output layer and loss in one (layers/output.py); with ``tie``, the affine's
    weights are the embedding's, transposed."""

    #: The affine reads [context | state] (2) or the state alone (1): that many times H.
    affine_width = 2

    def __init__(self, init, V, D, H, cell, impl, layers=1, noise=None, scores=True, tie=False):
        self.embed = init.embedding(V, D)
        attentive = self._attentive(init, D, H, cell, impl)
        if tie:
            self.affine = TiedTimeAffine(self.embed, init.zeros(V))
        else:
            width = self.affine_width * H
            self.affine = TimeAffine(init.randn(width, V, scale=1 / numpy.sqrt(width)),
                                     init.zeros(V))
        self._stack(init, cell, H, impl, layers, noise)
        self.layers = [self.embed, attentive, self.affine] + self.rnns
        self.scores = scores
        self.H = H
        self.attention_weights = self.step_weights = None
        self.lengths = None

    def _attentive(self, init, D, H, cell, impl):
        """Make the layer the attention is in (kept as an attribute); returns it."""
        raise NotImplementedError

    def _stack(self, init, cell, H, impl, layers, noise):
        """``layers`` - 1 plain cells of width H over the attentive one, and the dropout."""
        self.rnns = [init.rnn(cell, H, H, stateful=True, impl=impl) for _ in range(layers - 1)]
        self.drops = decoder_drops(noise, layers)

    def _embed(self, xs):
        E = self.embed.forward(xs)
        return self.drops[0].forward(E) if self.drops else E

    def _back_embed(self, dE):
        self.embed.backward(self.drops[0].backward(dE) if self.drops else dE)

    def _top(self, hs):
        """The states of the top cell over those of the attentive layer, hs (N, T, H)."""
        for i, rnn in enumerate(self.rnns):
            hs = rnn.forward(self.drops[2 + i].forward(hs) if self.drops else hs)
        return hs

    def _back_top(self, dtop):
        """The gradient of the top states -> that of the attentive layer's."""
        for i in reversed(range(len(self.rnns))):
            dtop = self.rnns[i].backward(dtop)
            if self.drops:
                dtop = self.drops[2 + i].backward(dtop)
        return dtop

    def _out(self, x):
        """What goes into the output layer, with its dropout."""
        return self.drops[1].forward(x) if self.drops else x

    def _back_out(self, dx):
        return self.drops[1].backward(dx) if self.drops else dx

    def _reset_stack(self):
        for rnn in self.rnns:
            rnn.reset_state()

    def _reorder_stack(self, index):
        for rnn in self.rnns:
            reorder_state(rnn, index)

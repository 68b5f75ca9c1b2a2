"""What the attention decoders share above and around their attentive recurrence: dropout on the
embeddings, plain cells stacked over the attentive layer (each from a zero state, with dropout
before it), and dropout on what goes into the output layer::

    e   = dropout(embed(y))                                    site 1000
    s   = attentive layer(e, ...)                              the model's own
    top = rnn_L(dropout(... rnn_2(dropout(s))))               sites 1002, 1003, ...
    out = dropout(top, or [context | top])                     site 1001, then the affine

(layers/dropout.py: DECODER_SITES). In decoding the stacked cells carry their states from step to
step, and beam search reorders them with the attentive layer's.
"""
from ..layers.dropout import decoder_drops
from .seq2seq import reorder_state


class StackedDecoder:
    """A decoder's embedding, stacked cells and dropout: a subclass calls :meth:`_stack` in its
    constructor, after making ``embed``."""

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

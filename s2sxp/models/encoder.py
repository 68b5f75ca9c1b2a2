"""A deeper encoder: layers of recurrent cells over the source, each running forward, or forward
and backward (bidirectional, Schuster & Paliwal 1997; Bahdanau et al. 2015), with dropout on the
embeddings and between the layers::

    x_0 = dropout(embed(xs))                                   (N, T, D)
    x_l = [rnn_l(x_{l-1}) | reverse(rnn'_l(reverse(x_{l-1})))]  (N, T, 2H), or rnn_l(x_{l-1})
          with dropout before every layer after the first
    hs  = x_L · W + b                                          (N, T, H), bidirectional only

``reverse`` turns each row's real steps around and leaves its padding where it is
(layers/padding.py), so that the backward cell starts at the row's last real token. The bridge
W (2H, H) brings the two directions to the width the decoder attends over and starts from.
"""
import numpy

from ..backend import get_array_module
from ..layers import TimeAffine
from ..layers.dropout import TimeDropout
from ..layers.padding import reversed_real_steps


class RecurrentEncoder:
    """xs (N, T) -> hs (N, T, H). params: embedding W (V, D); for each layer the forward cell's
    Wx, Wh, b (and the backward cell's); the bridge's W (2H, H), b (H,) where bidirectional.
    One forward layer is the book's AttentionEncoder, with the same parameters."""

    def __init__(self, init, V, D, H, cell, impl, layers=1, bidirectional=False, noise=None):
        directions = 2 if bidirectional else 1
        self.embed = init.embedding(V, D)
        self.rnns = [[init.rnn(cell, D if i == 0 else directions * H, H, stateful=False,
                               impl=impl) for _ in range(directions)] for i in range(layers)]
        self.drops = [TimeDropout(noise, site=i) for i in range(layers)] if noise else None
        self.bridge = None
        if bidirectional:
            self.bridge = TimeAffine(init.randn(2 * H, H, scale=1 / numpy.sqrt(2 * H)),
                                     init.zeros(H))
        self.layers = ([self.embed] + [rnn for pair in self.rnns for rnn in pair]
                       + ([self.bridge] if self.bridge else []))
        self.H, self.lengths = H, None

    def forward(self, xs, lengths=None):
        self.lengths = lengths
        x = self.embed.forward(xs)
        for i, rnns in enumerate(self.rnns):
            if self.drops:
                x = self.drops[i].forward(x)
            hs = rnns[0].forward(x)
            if len(rnns) == 2:
                back = rnns[1].forward(reversed_real_steps(x, lengths))
                hs = get_array_module(hs).concatenate(
                    (hs, reversed_real_steps(back, lengths)), axis=2)
            x = hs
        return x if self.bridge is None else self.bridge.forward(x)

    def backward(self, dhs):
        xp = get_array_module(dhs)
        if self.bridge is not None:
            dhs = self.bridge.backward(dhs)
        H, lengths = self.H, self.lengths
        for i in reversed(range(len(self.rnns))):
            rnns = self.rnns[i]
            if len(rnns) == 1:
                dx = rnns[0].backward(dhs)
            else:
                dx = rnns[0].backward(xp.ascontiguousarray(dhs[:, :, :H]))
                dx += reversed_real_steps(
                    rnns[1].backward(reversed_real_steps(dhs[:, :, H:], lengths)), lengths)
            dhs = self.drops[i].backward(dx) if self.drops else dx
        self.embed.backward(dhs)

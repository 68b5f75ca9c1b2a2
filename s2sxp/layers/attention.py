"""Dot-product attention over a whole decoded sequence (book, ch. 8)."""
from .. import kernels
from .recurrent import is_fused


class TimeAttention:
    """(hs_enc (N, T_enc, H), hs_dec (N, T_dec, H)) -> contexts (N, T_dec, H); no parameters.
    ``mask`` (N, T_enc), 0 where a row's encoder step is real and -inf where it is padding (see
    :func:`s2sxp.layers.padding.padding_mask`), keeps the weights of padded steps at zero.

    ``attention_weights`` keeps the weights of the last forward, (N, T_dec, T_enc).
    """

    def __init__(self, impl="fused"):
        self.params, self.grads = [], []
        fused = is_fused(impl)
        k = kernels.attention
        self._forward = k.forward if fused else k.forward_reference
        self._backward = k.backward if fused else k.backward_reference
        self.attention_weights = None
        self.cache = None

    def forward(self, hs_enc, hs_dec, mask=None):
        cs, self.attention_weights, self.cache = self._forward(hs_enc, hs_dec, mask)
        return cs

    def backward(self, dcs):
        return self._backward(dcs, self.cache)

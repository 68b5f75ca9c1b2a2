"""Time LSTM and Time GRU layers over a whole sequence (book, ch. 6).

``impl="fused"`` runs the fused kernel, ``impl="reference"`` the book's per-step formulation; both
live in :mod:`s2sxp.kernels`. A ``stateful`` layer starts from the state its last forward ended
in (or the one given by ``set_state``); after backward, ``dh`` holds the gradient that reached the
initial state.
"""
from .. import kernels
from ..backend import get_array_module
from .basic import store

IMPLS = ("fused", "reference")


def _check_impl(impl):
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    return impl == "fused"


class TimeLSTM:
    """xs (N, T, D) -> hs (N, T, H); params Wx (D, 4H), Wh (H, 4H), b (4H,), gates f, g, i, o."""

    def __init__(self, Wx, Wh, b, stateful=False, impl="fused"):
        xp = get_array_module(Wx)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.stateful = stateful
        fused = _check_impl(impl)
        k = kernels.lstm
        self._forward = k.forward if fused else k.forward_reference
        self._backward = k.backward if fused else k.backward_reference
        self.h = self.c = None
        self.dh = None
        self.cache = None

    def forward(self, xs):
        Wx, Wh, b = self.params
        xp = get_array_module(xs)
        N, H = xs.shape[0], Wh.shape[0]
        if not self.stateful or self.h is None:
            self.h = xp.zeros((N, H), dtype=Wh.dtype)
        if not self.stateful or self.c is None:
            self.c = xp.zeros((N, H), dtype=Wh.dtype)
        hs, (self.h, self.c), self.cache = self._forward(xs, self.h, self.c, Wx, Wh, b)
        return hs

    def backward(self, dhs):
        dxs, self.dh, _, grads = self._backward(dhs, None, None, self.cache)
        store(self.grads, grads)
        return dxs

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h = self.c = None


class TimeGRU:
    """xs (N, T, D) -> hs (N, T, H); params Wx (D, 3H), Wh (H, 3H), b (3H,), gates z, r, h."""

    def __init__(self, Wx, Wh, b, stateful=False, impl="fused"):
        xp = get_array_module(Wx)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.stateful = stateful
        fused = _check_impl(impl)
        k = kernels.gru
        self._forward = k.forward if fused else k.forward_reference
        self._backward = k.backward if fused else k.backward_reference
        self.h = None
        self.dh = None
        self.cache = None

    def forward(self, xs):
        Wx, Wh, b = self.params
        xp = get_array_module(xs)
        N, H = xs.shape[0], Wh.shape[0]
        if not self.stateful or self.h is None:
            self.h = xp.zeros((N, H), dtype=Wh.dtype)
        hs, self.h, self.cache = self._forward(xs, self.h, Wx, Wh, b)
        return hs

    def backward(self, dhs):
        dxs, self.dh, grads = self._backward(dhs, None, self.cache)
        store(self.grads, grads)
        return dxs

    def set_state(self, h, c=None):
        self.h = h

    def reset_state(self):
        self.h = None


CELLS = {"lstm": (TimeLSTM, 4), "gru": (TimeGRU, 3)}

"""Time LSTM and Time GRU layers over a whole sequence (book, ch. 6).

``impl="fused"`` runs the fused kernel, ``impl="reference"`` the book's per-step formulation; both
live in :mod:`s2sxp.kernels`. A ``stateful`` layer starts from the state its last forward ended
in (or the one given by ``set_state``); after backward, ``dh`` holds the gradient that reached the
initial state.

``forward(xs, peek)`` also feeds an input ``peek`` (N, P) that is the same at every step, before
xs (PeekySeq2seq's encoder state): Wx then has P + D rows. The reference concatenates it to every
step's input as the book does; the fused layer applies Wx[:P] to it once, peek·Wx[:P] + b being a
bias of each sequence, and after backward ``dpeek`` holds its gradient either way.
"""
from .. import kernels, parallel
from ..backend import get_array_module
from ..precision import products
from .basic import store

IMPLS = ("fused", "reference")


def is_fused(impl):
    """True for ``impl="fused"``, False for ``"reference"``; ValueError for anything else."""
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r}; choose one of {', '.join(IMPLS)}")
    return impl == "fused"


class _TimeRNN:
    """What TimeLSTM and TimeGRU share: the kernel chosen by ``impl``, the state carried between
    calls when ``stateful``, the ``peek`` input (see the module docstring) and the gradients
    ``backward`` takes. A subclass names its ``kernel`` module and its ``state_names``, and runs
    the kernel in ``_run`` and ``_run_back``."""

    kernel = None
    state_names = ("h",)

    def __init__(self, Wx, Wh, b, stateful=False, impl="fused"):
        xp = get_array_module(Wx)
        self.params = [Wx, Wh, b]
        self.grads = [xp.zeros_like(Wx), xp.zeros_like(Wh), xp.zeros_like(b)]
        self.stateful = stateful
        self.fused = fused = is_fused(impl)
        self._forward = self.kernel.forward if fused else self.kernel.forward_reference
        self._backward = self.kernel.backward if fused else self.kernel.backward_reference
        self.reset_state()
        self.dh = self.dpeek = None
        self.peek = None
        self.cache = None
        self.hs_shape = None

    def forward(self, xs, peek=None):
        Wh = self.params[1]
        xp = get_array_module(xs)
        N, H = xs.shape[0], Wh.shape[0]
        for name in self.state_names:
            if not self.stateful or getattr(self, name) is None:
                setattr(self, name, xp.zeros((N, H), dtype=Wh.dtype))
        xs, Wx, b = self._peek_inputs(xs, peek)
        hs, self.cache = self._run(xs, Wx, Wh, b)
        self.hs_shape = hs.shape
        return hs

    def backward(self, dhs, dh_last=None):
        dxs, grads = self._run_back(*self._output_grads(dhs, dh_last))
        dxs, grads = self._peek_grads(dxs, grads)
        store(self.grads, grads)
        return dxs

    def reset_state(self):
        for name in self.state_names:
            setattr(self, name, None)

    def _output_grads(self, dhs, dh_last):
        """(dhs, dh_T) for the kernel from ``backward``'s arguments: dhs (N, T, H), the gradient of
        every output, or None where only the last output receives one, dh_last (N, H), which
        is then the gradient reaching h_T (the fused kernels skip the zeros; the references take
        them written out)."""
        if dhs is None and not self.fused:
            xp = get_array_module(dh_last)
            dhs = xp.zeros(self.hs_shape, dtype=dh_last.dtype)
        return dhs, dh_last

    def _peek_inputs(self, xs, peek):
        """(xs, Wx, b) for the kernel."""
        Wx, Wh, b = self.params
        self.peek = peek
        if peek is None:
            return xs, Wx, b
        xp = get_array_module(xs)
        N, T, _ = xs.shape
        P = peek.shape[1]
        if not self.fused:
            return xp.concatenate((xp.broadcast_to(peek[:, None, :], (N, T, P)), xs), axis=2), Wx, b
        bias = parallel.matmul(products(xp), peek, Wx[:P])
        bias += b
        return xs, Wx[P:], bias

    def _peek_grads(self, dxs, grads):
        """The layer's (dWx, dWh, db) and dxs from the kernel's; sets dpeek."""
        peek = self.peek
        if peek is None:
            self.dpeek = None
            return dxs, grads
        P = peek.shape[1]
        dWx, dWh, db = grads
        if not self.fused:
            self.dpeek = dxs[:, :, :P].sum(axis=1)
            return dxs[:, :, P:], grads
        Wx = self.params[0]
        xp = get_array_module(dxs)
        mm = products(xp)
        self.dpeek = parallel.matmul(mm, db, Wx[:P].T)
        dWx_all = xp.empty_like(Wx)
        parallel.matmul(mm, peek.T, db, out=dWx_all[:P])
        dWx_all[P:] = dWx
        return dxs, (dWx_all, dWh, db.sum(axis=0))


class TimeLSTM(_TimeRNN):
    """xs (N, T, D) -> hs (N, T, H); params Wx (D, 4H), Wh (H, 4H), b (4H,), gates f, g, i, o."""

    kernel = kernels.lstm
    state_names = ("h", "c")

    def _run(self, xs, Wx, Wh, b):
        hs, (self.h, self.c), cache = self._forward(xs, self.h, self.c, Wx, Wh, b)
        return hs, cache

    def _run_back(self, dhs, dh_last):
        dxs, self.dh, _, grads = self._backward(dhs, dh_last, None, self.cache)
        return dxs, grads

    def set_state(self, h, c=None):
        self.h, self.c = h, c


class TimeGRU(_TimeRNN):
    """xs (N, T, D) -> hs (N, T, H); params Wx (D, 3H), Wh (H, 3H), b (3H,), gates z, r, h."""

    kernel = kernels.gru

    def _run(self, xs, Wx, Wh, b):
        hs, self.h, cache = self._forward(xs, self.h, Wx, Wh, b)
        return hs, cache

    def _run_back(self, dhs, dh_last):
        dxs, self.dh, grads = self._backward(dhs, dh_last, self.cache)
        return dxs, grads

    def set_state(self, h, c=None):
        self.h = h


CELLS = {"lstm": (TimeLSTM, 4), "gru": (TimeGRU, 3)}

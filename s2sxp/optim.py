"""Optimisers and gradient clipping (book, ch. 1 and 6); the learning-rate schedules they are
driven by live in :mod:`s2sxp.schedule`.

Each optimiser's ``update(params, grads)`` takes the lists a model exposes. When the model keeps
its parameters in one flat buffer (``model.flat_params``/``flat_grads``), ``step(model)`` updates
that buffer in a few whole-model passes instead of one set of passes per parameter. An optimiser's
state lives on the device of the parameters it updates.
"""
import math

import numpy

from . import parallel
from .backend import get_array_module
from .schedule import halving, plateaus, scheduled_rate, stalls  # noqa: F401 (their old home)


def grad_norm(grads):
    """Global L2 norm of a list of gradient arrays, as a 0-d device array."""
    xp = get_array_module(grads[0])
    return xp.sqrt(sum((g * g).sum() for g in grads))


def clip_grads(grads, max_norm):
    """Scale every gradient by max_norm / (‖g‖ + 1e-6) when that is below 1 (‖g‖: the global
    norm), as the book does; gradients within the bound are left untouched."""
    total = float(grad_norm(grads))
    rate = max_norm / (total + 1e-6)
    if rate < 1:
        for g in grads:
            g *= g.dtype.type(rate)


class SGD:
    """p ← p - lr·g."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for p, g in zip(params, grads):
            p -= self.lr * g

    def step(self, model):
        self.update([model.flat_params], [model.flat_grads])

    def state_dict(self):
        return {"lr": self.lr}

    def load_state_dict(self, state):
        self.lr = float(state["lr"])


class Adam:
    """Adam (Kingma & Ba, 2015) with the book's bias correction folded into the step size::

        lr_t = lr · √(1 - β2^t) / (1 - β1^t)
        m ← m + (1 - β1)(g - m)      v ← v + (1 - β2)(g² - v)
        p ← p - lr_t · m / (√v + 1e-7)
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        xp = get_array_module(params[0])
        if self.m is None:
            self.m = [xp.zeros_like(p) for p in params]
            self.v = [xp.zeros_like(p) for p in params]
        elif get_array_module(self.m[0]) is not xp:            # loaded from a file
            self.m = [xp.asarray(a) for a in self.m]
            self.v = [xp.asarray(a) for a in self.v]
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for arrays in zip(params, grads, self.m, self.v):
            if arrays[0].ndim == 1:     # a flat buffer: blocks of it in parallel on several cores
                def block(r, arrays=arrays):
                    self._update(xp, *(a[r] for a in arrays), lr_t)

                parallel.for_blocks(xp, arrays[0].size, block, min_block=1 << 16)
            else:
                self._update(xp, *arrays, lr_t)

    def _update(self, xp, p, g, m, v, lr_t):
        """The update above, in place through one scratch array (temporaries would be fresh memory,
        a page fault every 4 KiB, at every step)."""
        t = xp.subtract(g, m)
        t *= 1 - self.beta1
        m += t
        xp.multiply(g, g, out=t)
        t -= v
        t *= 1 - self.beta2
        v += t
        xp.sqrt(v, out=t)
        t += 1e-7
        xp.divide(m, t, out=t)
        t *= lr_t
        p -= t

    def step(self, model):
        self.update([model.flat_params], [model.flat_grads])

    def state_dict(self):
        state = {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "iter": self.iter}
        if self.m is not None:
            state["m"], state["v"] = self.m, self.v
        return state

    def load_state_dict(self, state):
        self.lr, self.beta1, self.beta2 = (float(state[k]) for k in ("lr", "beta1", "beta2"))
        self.iter = int(state["iter"])
        if "m" in state:
            self.m = [numpy.array(a) for a in state["m"]]       # moved to the device at update
            self.v = [numpy.array(a) for a in state["v"]]


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


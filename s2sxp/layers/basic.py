"""Embedding, affine, softmax and the softmax-with-loss layers (book, ch. 1-6).

Every layer has ``params`` and ``grads`` (same order and shapes), ``forward`` and ``backward``.
Gradients are written into the arrays of ``grads`` in place, so a model may keep all of them in one
flat buffer.
"""
import numpy

from .. import parallel
from ..backend import get_array_module
from ..precision import products


def store(grads, values):
    """Write each computed gradient into its (possibly shared) gradient array."""
    for g, v in zip(grads, values):
        g[...] = v


class Embedding:
    """Rows of W picked by integer ids: (N,) -> (N, D).

    Backward sums the gradient rows of each id: on the CPU, the rows sorted by id and each run of
    one id summed at once (``add.reduceat``), which beats ``add.at`` and a product with a one-hot
    matrix there (benchmarks/results/design-notes.md); on the GPU with ``add.at``, whose atomic
    adds are fast there.
    """

    def __init__(self, W):
        self.params = [W]
        self.grads = [get_array_module(W).zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        W, = self.params
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        W, = self.params
        xp = get_array_module(W)
        dW = self.grads[0]
        ids = self.idx.reshape(-1)
        dout = dout.reshape(-1, W.shape[1])
        dW[...] = 0
        if xp is numpy:
            order = numpy.argsort(ids, kind="stable")
            ids = ids[order]
            starts = numpy.flatnonzero(numpy.r_[True, ids[1:] != ids[:-1]])
            dW[ids[starts]] = numpy.add.reduceat(dout[order], starts, axis=0)
        else:
            xp.add.at(dW, ids, dout)
        return None


class TimeEmbedding(Embedding):
    """Embedding over a batch of sequences: (N, T) -> (N, T, D)."""


class Affine:
    """x·W + b: (N, D) -> (N, M).

    On a multi-core CPU the products run over blocks of the rows of x (dW: of the rows of W) in
    parallel (:mod:`s2sxp.parallel`), as they must inside a model that holds BLAS to one thread.
    """

    def __init__(self, W, b):
        xp = get_array_module(W)
        self.params = [W, b]
        self.grads = [xp.zeros_like(W), xp.zeros_like(b)]
        self.x = None
        self._out = None

    @property
    def weights(self):
        """(W, b) as this layer uses them."""
        return self.params[0], self.params[1]

    @property
    def weight_grads(self):
        """(dW, db): where backward writes the gradients of W and b."""
        return self.grads[0], self.grads[1]

    def forward(self, x):
        """x·W + b, written into the array of the last call where the shape is the same (a
        decoder's output at every step is as large as its vocabulary; fresh memory would cost a
        page fault every 4 KiB): a caller keeps what it needs of it before the next call."""
        W, b = self.weights
        xp = get_array_module(x)
        self.x = x
        shape = (x.shape[0], W.shape[1])
        out = self._out
        if out is None or out.shape != shape or out.dtype != W.dtype \
                or get_array_module(out) is not xp:
            out = self._out = xp.empty(shape, dtype=W.dtype)
        mm = products(xp)
        W = mm.operand(W)

        def block(rows):
            mm.matmul(x[rows], W, out=out[rows])
            out[rows] += b

        parallel.for_blocks(xp, x.shape[0], block)
        return out

    def backward(self, dout):
        W, b = self.weights
        xp = get_array_module(dout)
        x = self.x
        dW, db = self.weight_grads
        dx = xp.empty_like(x, order="C")
        mm = products(xp)
        W_T = mm.operand(W.T)
        parallel.for_blocks(xp, x.shape[0], lambda rows: mm.matmul(dout[rows], W_T, out=dx[rows]))
        parallel.for_blocks(xp, W.shape[0],
                            lambda rows: mm.matmul(x[:, rows].T, dout, out=dW[rows]))
        dout.sum(axis=0, out=db)
        return dx


class TimeAffine(Affine):
    """x·W + b over a batch of sequences: (N, T, D) -> (N, T, M)."""

    def forward(self, x):
        N, T, D = x.shape
        return super().forward(x.reshape(N * T, D)).reshape(N, T, -1)

    def backward(self, dout):
        N, T, M = dout.shape
        return super().backward(dout.reshape(N * T, M)).reshape(N, T, -1)


class TiedTimeAffine(TimeAffine):
    """x·Eᵀ + b: an output layer whose weights are an embedding's E (V, H), transposed (Press &
    Wolf 2017; Inan et al. 2017). Its only parameter is b; backward writes the gradient of Eᵀ
    into ``dW`` (H, V), which the model adds to the embedding's gradient once that has been
    written (:meth:`add_to_embedding`)."""

    def __init__(self, embedding, b):
        super().__init__(embedding.params[0].T, b)
        self.embedding = embedding
        self.params, self.grads = [b], [get_array_module(b).zeros_like(b)]
        self.dW = None

    @property
    def weights(self):
        return self.embedding.params[0].T, self.params[0]

    @property
    def weight_grads(self):
        E = self.embedding.params[0]
        if self.dW is None or self.dW.shape != E.T.shape or self.dW.dtype != E.dtype:
            self.dW = get_array_module(E).zeros(E.T.shape, dtype=E.dtype)
        return self.dW, self.grads[0]

    def add_to_embedding(self):
        """dE += dWᵀ: the output layer's part of the shared weights' gradient."""
        self.embedding.grads[0] += self.dW.T


def softmax(x):
    """Softmax over the last axis, shifted by the maximum for stability."""
    xp = get_array_module(x)
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


class Softmax:
    """Softmax over the last axis."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = softmax(x)
        return self.out

    def backward(self, dout):
        dx = self.out * dout
        dx -= self.out * dx.sum(axis=-1, keepdims=True)
        return dx


class TimeSoftmaxWithLoss:
    """Mean cross-entropy of softmax(xs) against integer targets, over every (n, t) whose target
    is not ``ignore_label``. xs: (N, T, V), ts: (N, T) -> a 0-d loss that stays on the device.

    With ``smoothing`` ε the target distribution is (1 - ε) on the target and ε spread evenly
    over the vocabulary (label smoothing, Szegedy et al. 2016)::

        loss = -(1 - ε)·log p[t] - ε·mean_v log p[v]      dx = p - (1 - ε)·onehot(t) - ε / V
    """

    def __init__(self, ignore_label=-1, smoothing=0.0):
        self.params, self.grads = [], []
        self.ignore_label = ignore_label
        self.smoothing = float(smoothing)
        self.cache = None
        self.count = None       # targets counted in the last forward's mean (0-d)

    def forward(self, xs, ts):
        xp = get_array_module(xs)
        N, T, V = xs.shape
        xs = xs.reshape(N * T, V)
        ts = ts.reshape(N * T)
        mask = ts != self.ignore_label
        ts = xp.where(mask, ts, 0)
        # log p = (x_t - max) - log Σ exp(x - max): finite even where p underflows to 0
        rows = xp.arange(N * T)
        shift = xp.subtract(xs, xs.max(axis=1, keepdims=True))
        ys = xp.exp(shift)
        total = ys.sum(axis=1, keepdims=True)
        log_p = shift[rows, ts] - xp.log(total[:, 0])
        if self.smoothing:
            mean_log_p = shift.mean(axis=1) - xp.log(total[:, 0])
            log_p = (1 - self.smoothing) * log_p + self.smoothing * mean_log_p
        ys /= total
        self.count = mask.sum()
        count = xp.maximum(self.count, 1).astype(ys.dtype)
        loss = -(log_p * mask).sum() / count
        self.cache = (ys, ts, mask, count, (N, T, V))
        return loss

    def backward(self, dout=1):
        ys, ts, mask, count, shape = self.cache
        xp = get_array_module(ys)
        dx = ys.copy()
        if self.smoothing:
            dx -= self.smoothing / dx.shape[1]
        dx[xp.arange(ts.shape[0]), ts] -= 1 - self.smoothing
        dx *= (dout / count) * mask[:, None]
        return dx.reshape(shape)

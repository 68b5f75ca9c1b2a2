"""The output layer and its loss as one: affine, log-softmax and cross-entropy over the target
vocabulary, with their gradients, in blocks of rows (as fused "linear cross-entropy" kernels do),
so that the N·T × V scores are never held at once::

    for each block of the rows whose target counts (padding is skipped altogether):
        z = h·W + b                      (B, V), into one scratch array
        log p_t = z_t - max z - log Σ exp(z - max z)
        loss -= (1 - ε) log p_t + ε · mean(log p)          (ε: label smoothing)
        dz = (softmax(z) - (1 - ε) onehot(t) - ε / V) / count
        dh = dz·Wᵀ      dW += hᵀ·dz      db += Σ dz

The gradients are made in the forward, the loss being the last layer: ``backward(dout)`` only
scales them by dout and puts dh back among the padded rows. The reference is the book's pair,
:class:`~s2sxp.layers.TimeAffine` then :class:`~s2sxp.layers.TimeSoftmaxWithLoss`, which the
tests hold this to; decoding uses the affine alone.
"""
from .. import parallel
from ..backend import get_array_module
from ..precision import products


class ChunkedOutputLoss:
    """(hs (N, T, H), ts (N, T)) -> the mean cross-entropy of the targets that are not
    ``ignore_label``, through ``affine``'s W (H, V) and b (V,) (its ``weights``), whose gradients
    it writes (into its ``weight_grads``).
    ``count``: the targets of the last forward's mean."""

    #: Scores in one block at most (elements): 16 MiB of float32.
    BLOCK = 1 << 22

    def __init__(self, affine, ignore_label=-1, smoothing=0.0):
        self.affine = affine
        self.params, self.grads = [], []          # the affine's, which its model lists
        self.ignore_label = ignore_label
        self.smoothing = float(smoothing)
        self.count = None
        self.cache = None

    def forward(self, hs, ts):
        W, b = self.affine.weights
        dW, db = self.affine.weight_grads
        xp = get_array_module(hs)
        N, T, H = hs.shape
        V = W.shape[1]
        real = xp.flatnonzero(ts.reshape(-1) != self.ignore_label)
        n = int(real.size)
        h, t = hs.reshape(N * T, H)[real], ts.reshape(-1)[real]          # (n, H), (n,)
        count = max(n, 1)
        eps = self.smoothing
        dh = xp.empty((n, H), dtype=W.dtype)
        dW[...] = 0
        db[...] = 0
        B = max(1, min(n, self.BLOCK // V))
        z = xp.empty((B, V), dtype=W.dtype)
        dW_part = xp.empty_like(dW) if n > B else None
        mm = products(xp)
        W_op, W_T = mm.operand(W), mm.operand(W.T)
        loss = 0.0
        for start in range(0, n, B):
            hb, tb = h[start:start + B], t[start:start + B]
            zb, rows = z[:len(hb)], xp.arange(len(hb))
            hb = mm.operand(hb)                                        # here and for dW
            parallel.matmul(mm, hb, W_op, out=zb)
            zb += b
            zb -= zb.max(axis=1, keepdims=True)
            log_p = zb[rows, tb]
            mean_z = zb.mean(axis=1) if eps else None
            xp.exp(zb, out=zb)
            total = zb.sum(axis=1)
            log_total = xp.log(total)
            log_p = log_p - log_total
            if eps:
                log_p = (1 - eps) * log_p + eps * (mean_z - log_total)
            loss = loss - log_p.sum()
            zb /= total[:, None]                                       # softmax(z)
            if eps:
                zb -= eps / V
            zb[rows, tb] -= 1 - eps
            zb *= zb.dtype.type(1 / count)
            db += zb.sum(axis=0)
            zb = mm.operand(zb)                                        # for dh and dW
            parallel.matmul(mm, zb, W_T, out=dh[start:start + B])
            if dW_part is None:
                parallel.matmul(mm, hb.T, zb, out=dW)
            else:
                parallel.matmul(mm, hb.T, zb, out=dW_part)
                dW += dW_part
        self.count = xp.asarray(n)
        self.cache = (real, dh, hs.shape)
        return loss / count

    def backward(self, dout=1):
        real, dh, shape = self.cache
        xp = get_array_module(dh)
        dhs = xp.zeros((shape[0] * shape[1], shape[2]), dtype=dh.dtype)
        dhs[real] = dh
        if dout != 1:
            dhs *= dhs.dtype.type(dout)
            for g in self.affine.weight_grads:
                g *= g.dtype.type(dout)
        return dhs.reshape(shape)

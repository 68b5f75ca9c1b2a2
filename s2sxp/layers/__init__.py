"""Layers with the book's interface: ``params``, ``grads``, ``forward``, ``backward``."""
from .attention import TimeAttention
from .basic import (Affine, Embedding, Softmax, TimeAffine, TimeEmbedding, TimeSoftmaxWithLoss,
                    softmax)
from .recurrent import CELLS, IMPLS, TimeGRU, TimeLSTM

__all__ = ["Affine", "CELLS", "Embedding", "IMPLS", "Softmax", "TimeAffine", "TimeAttention",
           "TimeEmbedding", "TimeGRU", "TimeLSTM", "TimeSoftmaxWithLoss", "softmax"]

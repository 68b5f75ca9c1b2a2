"""Layers with the book's interface: ``params``, ``grads``, ``forward``, ``backward``."""
from .additive import FusedRecurrence, ReferenceRecurrence
from .attention import TimeAttention
from .basic import (Affine, Embedding, Softmax, TimeAffine, TimeEmbedding, TimeSoftmaxWithLoss,
                    softmax)
from .recurrent import CELLS, IMPLS, TimeGRU, TimeLSTM, is_fused

__all__ = ["Affine", "CELLS", "Embedding", "FusedRecurrence", "IMPLS", "ReferenceRecurrence",
           "Softmax", "TimeAffine", "TimeAttention", "TimeEmbedding", "TimeGRU", "TimeLSTM",
           "TimeSoftmaxWithLoss", "is_fused", "softmax"]

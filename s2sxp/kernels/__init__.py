"""The hot core: fused Time LSTM/GRU and attention kernels, each beside its per-step reference.

Each module exposes ``forward``/``backward`` (the fused kernel) and
``forward_reference``/``backward_reference`` (the book's per-step formulation, the specification).
"""
from . import attention, gru, lstm

__all__ = ["attention", "gru", "lstm"]

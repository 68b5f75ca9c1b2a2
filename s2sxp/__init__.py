"""s2sxp: the sequence-to-sequence models of Deep Learning from Scratch 2, chapters 7-8, with
hand-written forward and backward passes on NumPy (CPU) or CuPy (NVIDIA GPU)."""
from . import backend, datasets, kernels, layers, models, optim
from .metrics import evaluate, show_examples
from .models import AttentionSeq2seq, PeekySeq2seq, Seq2seq
from .optim import SGD, Adam, clip_grads
from .trainer import Trainer
from .vocab import Vocab

__version__ = "0.1.0"

__all__ = ["Adam", "AttentionSeq2seq", "PeekySeq2seq", "SGD", "Seq2seq", "Trainer", "Vocab",
           "backend", "clip_grads", "datasets", "evaluate", "kernels", "layers", "models",
           "optim", "show_examples"]

"""s2sxp: the sequence-to-sequence models of Deep Learning from Scratch 2, chapters 7-8, with
hand-written forward and backward passes on NumPy (CPU) or CuPy (NVIDIA GPU).

The names below are imported on first use, so that ``import s2sxp`` (and the command line's
start) is quick; ``s2sxp.Trainer`` and ``from s2sxp import Trainer`` work as usual.
"""
import importlib

__version__ = "0.1.0"

#: Where each name of the package's face lives.
_HOMES = {"AttentionSeq2seq": "models", "PeekySeq2seq": "models", "Seq2seq": "models",
          "Adam": "optim", "SGD": "optim", "clip_grads": "optim", "Trainer": "trainer",
          "Vocab": "vocab", "evaluate": "metrics", "show_examples": "metrics"}
_MODULES = ("backend", "datasets", "kernels", "layers", "models", "optim", "precision")

__all__ = sorted([*_HOMES, *_MODULES])


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])

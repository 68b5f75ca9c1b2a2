"""Saving and loading models (``.npz``, no pickle), and importing the book's parameter pickles.

A saved model holds its parameters in the book's order, the model kind, sizes and cell, the
vocabulary, and any extra metadata (for example whether the inputs were reversed). Files are
written atomically: to a temporary file beside the target, then renamed over it.
"""
import json
import os
import pickle
import tempfile
import zipfile

import numpy

from . import backend
from .datasets import Vocab

FORMAT = "s2sxp-model/1"


class CheckpointError(ValueError):
    """A saved model or parameter file that cannot be used: corrupt, truncated or mismatched."""


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def model_meta(model, vocab=None, **extra):
    """The description of ``model`` that :func:`load` needs to rebuild it."""
    meta = {"format": FORMAT, "kind": model.kind, "config": model.config, **extra}
    if vocab is not None:
        meta["vocab"] = "".join(vocab.chars)
    return meta


def save(model, path, vocab=None, **extra):
    """Write ``model`` (and ``vocab``, and JSON-able ``extra`` metadata) to ``path`` (.npz)."""
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    arrays = {f"param_{i}": backend.asnumpy(p) for i, p in enumerate(model.params)}
    arrays["meta"] = numpy.array(json.dumps(model_meta(model, vocab, **extra)))
    atomic_write(path, lambda f: numpy.savez(f, **arrays))


def read(path):
    """(meta dict, list of host parameter arrays) from a file written by :func:`save`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with numpy.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            count = sum(1 for k in f.files if k.startswith("param_"))
            params = [f[f"param_{i}"] for i in range(count)]
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable s2sxp model file (truncated or "
                              f"corrupt?): {e}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta, params


def set_params(model, params, source):
    """Copy host arrays into the model's parameters, after checking their number and shapes."""
    if len(params) != len(model.params):
        raise CheckpointError(f"{source} holds {len(params)} parameter arrays but a "
                              f"{model.kind} model has {len(model.params)}")
    for i, (p, new) in enumerate(zip(model.params, params)):
        if tuple(new.shape) != tuple(p.shape):
            raise CheckpointError(f"{source}: parameter {i} has shape {tuple(new.shape)}, the "
                                  f"{model.kind} model expects {tuple(p.shape)}")
    for p, new in zip(model.params, params):
        p[...] = backend.to_device(new, p.dtype)


def load(path, **options):
    """The model saved at ``path``, on the active backend; ``model.vocab`` and ``model.meta`` hold
    the saved vocabulary (or None) and metadata. ``options`` go to the model's constructor."""
    from .models import MODELS

    meta, params = read(path)
    kind = meta.get("kind")
    if kind not in MODELS:
        raise CheckpointError(f"{path} holds a model of unknown kind {kind!r}")
    try:
        model = MODELS[kind](**meta["config"], **options)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the {kind} model from {meta.get('config')}"
                              f": {e}") from None
    set_params(model, params, path)
    model.vocab = Vocab(meta["vocab"]) if "vocab" in meta else None
    model.meta = meta
    return model


class _ArraysOnly(pickle.Unpickler):
    """Unpickles lists of NumPy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise CheckpointError(f"refusing to load {module}.{name}: a book parameter file holds "
                              "only a list of NumPy arrays")


def import_book_params(model, path):
    """Load a parameter pickle written by the book's ``BaseModel.save_params`` (a list of float16
    arrays, in the book's parameter order) into ``model``; nothing but arrays is unpickled."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            params = _ArraysOnly(f).load()
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable parameter pickle: {e}") from None
    if not isinstance(params, (list, tuple)) or not all(isinstance(p, numpy.ndarray)
                                                         for p in params):
        raise CheckpointError(f"{path} does not hold a list of NumPy arrays")
    set_params(model, [numpy.asarray(p, dtype=numpy.float64) for p in params], path)
    return model

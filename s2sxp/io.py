"""Saving and loading models and training checkpoints (``.npz``, no pickle), and importing the
book's parameter pickles.

A saved model holds its parameters in the book's order, the model kind, sizes and cell, the
vocabulary, and any extra metadata (for example whether the inputs were reversed). A checkpoint
holds the same and, beside it, the optimizer's state (Adam's m, v and step count) and the
trainer's (epoch, shuffling generator, loss history), so that training carries on exactly where it
stopped; :func:`load` reads a checkpoint as a model too. Files are written atomically
(:func:`s2sxp.files.atomic_write`).
"""
import json
import os
import zipfile

import numpy

from . import backend, pickles, vocab as vocabs
from .backend import get_array_module
from .files import atomic_write
from .models import MODELS
from .optim import OPTIMIZERS

FORMAT = "s2sxp-model/1"
CHECKPOINT_FORMAT = "s2sxp-checkpoint/1"


class CheckpointError(ValueError):
    """A saved model or parameter file that cannot be used: corrupt, truncated or mismatched."""


def _vocab_meta(vocab):
    return vocab.to_dict() if hasattr(vocab, "to_dict") else "".join(vocab.tokens)


def model_meta(model, vocab=None, source_vocab=None, **extra):
    """The description of ``model`` that :func:`load` needs to rebuild it: with its vocabulary,
    and the sources' where they have one of their own."""
    meta = {"format": FORMAT, "kind": model.kind, "config": model.config, **extra}
    if vocab is not None:
        meta["vocab"] = _vocab_meta(vocab)
    if source_vocab is not None and source_vocab is not vocab:
        meta["source_vocab"] = _vocab_meta(source_vocab)
    return meta


class NonFiniteParameters(CheckpointError, FloatingPointError):
    """A model whose parameters hold NaN or infinity: such a model is never written, and a file
    that holds one is not loaded."""


def _params_arrays(model, path):
    """{param_i: host array} of the model; NonFiniteParameters where one is not finite."""
    arrays = {f"param_{i}": backend.asnumpy(p) for i, p in enumerate(model.params)}
    _check_finite(arrays.values(), f"{os.fspath(path)} was not written: the {model.kind} model")
    return arrays


def _check_finite(params, what):
    bad = [i for i, p in enumerate(params) if not numpy.isfinite(p).all()]
    if bad:
        raise NonFiniteParameters(f"{what} holds NaN or infinite values (parameter "
                                  f"{', '.join(map(str, bad[:5]))})")


def save(model, path, vocab=None, source_vocab=None, **extra):
    """Write ``model`` (and ``vocab``, the sources' ``source_vocab`` where they have their own,
    and JSON-able ``extra`` metadata) to ``path`` (.npz), atomically; NonFiniteParameters where
    a parameter is not finite (nothing is written)."""
    atomic_write(path, model_writer(model, path, vocab, source_vocab, **extra))


def model_writer(model, path, vocab=None, source_vocab=None, **extra):
    """What :func:`save` writes, as a function of the open file, for :func:`s2sxp.files.commit`
    (``path`` names the file in errors)."""
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    if source_vocab is None and vocab is getattr(model, "vocab", None):
        source_vocab = getattr(model, "source_vocab", None)
    arrays = _params_arrays(model, path)
    arrays["meta"] = numpy.array(json.dumps(model_meta(model, vocab, source_vocab, **extra)))
    return lambda f: numpy.savez(f, **arrays)


def _read_npz(path, what="s2sxp model file"):
    """(meta dict, {name: host array}) of an ``.npz`` file written by this module."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved model at {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":
        raise CheckpointError(f"{path} is not a readable {what}: "
                              + ("the file is empty" if not head else "it is not an .npz archive"))
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a readable {what} (truncated or corrupt?): it "
                              "does not end as a zip archive does")
    _check_sizes(path, what)
    try:
        f = numpy.load(path, allow_pickle=False)
        if not isinstance(f, numpy.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k != "meta"}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable {what} (truncated or corrupt?): "
                              f"{e}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a readable {what} (corrupt metadata)")
    if meta.get("format") not in (FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r} "
                              f"or {CHECKPOINT_FORMAT!r}")
    return meta, arrays


def _check_sizes(path, what):
    """CheckpointError where an array's header claims more values than its member of the archive
    holds (a crafted or damaged file would have NumPy allocate what the header claims)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    header = HEADERS.get(numpy.lib.format.read_magic(member))
                    if header is None:
                        continue
                    shape, _, dtype = header(member)
                    claimed = int(numpy.prod(shape, dtype=object)) * dtype.itemsize
                    if claimed > info.file_size:
                        raise CheckpointError(
                            f"{path} is not a readable {what}: {info.filename} claims "
                            f"{claimed} bytes of values in {info.file_size}")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is not a readable {what} (truncated or corrupt?): "
                              f"{e}") from None


#: The readers of the .npy headers numpy.savez writes, by format version.
HEADERS = {(1, 0): numpy.lib.format.read_array_header_1_0,
           (2, 0): numpy.lib.format.read_array_header_2_0}
#: The largest size a saved model may name: its vocabulary, embedding or hidden size.
MAX_SIZE = 1 << 22


def _check_config(config, arrays, path):
    """CheckpointError where a saved model's sizes are not whole numbers its own arrays have as
    dimensions: building a model from crafted sizes could allocate without bound."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the model's config is not a dict")
    dimensions = {d for a in arrays for d in a.shape}
    for name in ("vocab_size", "source_vocab_size", "wordvec_size", "hidden_size"):
        value = config.get(name)
        if value is None and name == "source_vocab_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
            raise CheckpointError(f"{path}: the model's {name} is {value!r}, not a size from 1 "
                                  f"to {MAX_SIZE}")
        if value not in dimensions:
            raise CheckpointError(f"{path}: the model's {name} {value} is no size of the "
                                  "arrays it holds")


def _params(arrays, path):
    count = sum(1 for k in arrays if k.startswith("param_"))
    try:
        return [arrays[f"param_{i}"] for i in range(count)]
    except KeyError as e:
        raise CheckpointError(f"{path} is missing parameter array {e}") from None


def read(path):
    """(meta dict, list of host parameter arrays) from a file written by :func:`save` or
    :func:`save_checkpoint`."""
    meta, arrays = _read_npz(path)
    params = _params(arrays, os.fspath(path))
    _check_finite(params, os.fspath(path))
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
        p[...] = get_array_module(p).asarray(new, dtype=p.dtype)


def load(path, **options):
    """The model saved at ``path``, on the active backend; ``model.vocab`` and ``model.meta`` hold
    the saved vocabulary (or None) and metadata. ``options`` go to the model's constructor."""
    meta, params = read(path)
    kind = meta.get("kind")
    if kind not in MODELS:
        raise CheckpointError(f"{path} holds a model of unknown kind {kind!r}")
    _check_config(meta.get("config"), params, path)
    try:
        model = MODELS[kind](**meta["config"], **options)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the {kind} model from {meta.get('config')}"
                              f": {e}") from None
    set_params(model, params, path)
    try:
        model.vocab = vocabs.from_meta(meta["vocab"]) if "vocab" in meta else None
        model.source_vocab = (vocabs.from_meta(meta["source_vocab"]) if "source_vocab" in meta
                              else model.vocab)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} holds a broken vocabulary: {e}") from None
    model.meta = meta
    return model


def _pack(state, name, arrays):
    """A JSON-able copy of a nested state (dicts, lists, numbers, strings, arrays) whose arrays
    are moved into ``arrays`` under dotted names and replaced by ``{"__array__": name}``."""
    if isinstance(state, dict):
        return {str(k): _pack(v, f"{name}.{k}", arrays) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_pack(v, f"{name}.{i}", arrays) for i, v in enumerate(state)]
    if isinstance(state, (numpy.ndarray, numpy.generic)) or type(state).__module__.startswith(
            "cupy"):
        arrays[name] = backend.asnumpy(state)
        return {"__array__": name}
    return state


def _unpack(state, arrays):
    if isinstance(state, dict):
        if set(state) == {"__array__"}:
            return arrays[state["__array__"]]
        return {k: _unpack(v, arrays) for k, v in state.items()}
    if isinstance(state, list):
        return [_unpack(v, arrays) for v in state]
    return state


def save_checkpoint(path, model, optimizer, trainer, vocab=None, source_vocab=None, **extra):
    """Write the model (as :func:`save` does), ``optimizer.state_dict()`` and
    ``trainer.state_dict()`` to ``path`` (.npz), atomically; NonFiniteParameters where a
    parameter is not finite."""
    atomic_write(path, checkpoint_writer(path, model, optimizer, trainer, vocab, source_vocab,
                                         **extra))


def checkpoint_writer(path, model, optimizer, trainer, vocab=None, source_vocab=None, **extra):
    """What :func:`save_checkpoint` writes, as a function of the open file."""
    names = [k for k, cls in OPTIMIZERS.items() if type(optimizer) is cls]
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    arrays = _params_arrays(model, path)
    meta = model_meta(model, vocab, source_vocab, **extra)
    meta["format"] = CHECKPOINT_FORMAT
    meta["optimizer"] = {"name": names[0] if names else type(optimizer).__name__,
                         "state": _pack(optimizer.state_dict(), "optimizer", arrays)}
    meta["trainer"] = _pack(trainer.state_dict(), "trainer", arrays)
    arrays["meta"] = numpy.array(json.dumps(meta))
    return lambda f: numpy.savez(f, **arrays)


class Checkpoint:
    """What :func:`read_checkpoint` returns: ``meta`` (kind, config, vocab, extra metadata),
    ``params`` (host arrays), ``optimizer`` (its name), ``optimizer_state`` and ``trainer_state``
    (as their ``state_dict`` gave them) and ``vocab`` (a :class:`~s2sxp.vocab.Vocab`, a
    :class:`~s2sxp.vocab.TokenVocab` or None)."""

    def __init__(self, path, meta, params, optimizer, optimizer_state, trainer_state, vocab,
                 source_vocab=None):
        self.path, self.meta, self.params = path, meta, params
        self.optimizer, self.optimizer_state = optimizer, optimizer_state
        self.trainer_state, self.vocab = trainer_state, vocab
        self.source_vocab = vocab if source_vocab is None else source_vocab

    @property
    def kind(self):
        return self.meta.get("kind")

    @property
    def epoch(self):
        return int(self.trainer_state["epoch"])


def read_checkpoint(path):
    """The :class:`Checkpoint` at ``path``; CheckpointError when it is unreadable or incomplete."""
    path = os.fspath(path)
    meta, arrays = _read_npz(path, "s2sxp checkpoint")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a saved model, not a training checkpoint (it holds no "
                              "optimizer or trainer state)")
    try:
        optimizer = meta["optimizer"]["name"]
        optimizer_state = _unpack(meta["optimizer"]["state"], arrays)
        trainer_state = _unpack(meta["trainer"], arrays)
        int(trainer_state["epoch"])
        vocab = vocabs.from_meta(meta["vocab"]) if "vocab" in meta else None
        source_vocab = (vocabs.from_meta(meta["source_vocab"]) if "source_vocab" in meta
                        else None)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} is an incomplete or corrupt checkpoint: {e!r}") from None
    params = _params(arrays, path)
    _check_finite(params, path)
    return Checkpoint(path, meta, params, optimizer, optimizer_state,
                      trainer_state, vocab, source_vocab)


def restore(checkpoint, model, optimizer, trainer):
    """Load a :class:`Checkpoint`'s parameters, optimizer state and trainer state into a freshly
    built ``model``, ``optimizer`` and ``trainer`` of the same kind and sizes."""
    path = checkpoint.path
    if checkpoint.kind != model.kind:
        raise CheckpointError(f"{path} holds a model of kind {checkpoint.kind!r}, not "
                              f"{model.kind!r}")
    set_params(model, checkpoint.params, path)
    for key in ("m", "v"):
        for a in checkpoint.optimizer_state.get(key) or []:
            if getattr(a, "shape", None) != tuple(model.flat_params.shape):
                raise CheckpointError(f"{path}: optimizer state {key!r} has shape "
                                      f"{getattr(a, 'shape', None)}, the model has "
                                      f"{model.flat_params.size} parameters")
    try:
        optimizer.load_state_dict(checkpoint.optimizer_state)
        trainer.load_state_dict(checkpoint.trainer_state)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} holds unusable optimizer or trainer state: {e!r}") from None


def import_book_params(model, path):
    """Load a parameter file written by the book's ``BaseModel.save_params`` (a list of float16
    arrays, in the book's parameter order) into ``model``, as ``model.load_params(path)`` does:
    read by :func:`s2sxp.pickles.read`, which unpickles nothing but plain float arrays of the
    model's own sizes and refuses non-finite values; CheckpointError where it refuses."""
    try:
        params = pickles.read(path, model)
    except pickles.BookFileError as e:
        raise CheckpointError(str(e)) from None
    set_params(model, params, os.fspath(path))
    return model

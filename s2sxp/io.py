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

import jsonschema
import numpy

from . import backend, pickles, vocab as vocabs
from .backend import get_array_module
from .files import atomic_write
from .models import MODELS
from .models.shapes import param_shapes
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
    """{param_i: a host copy of each parameter} of the model (a writer made now writes the
    model as it is now); NonFiniteParameters where one is not finite."""
    arrays = {f"param_{i}": numpy.array(backend.asnumpy(p)) for i, p in enumerate(model.params)}
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


class _Npz:
    """An ``.npz`` file of ours, open for reading: every member's header is read and checked
    (what it claims against what it holds) before any values are, and a member's values are read
    only when asked for, so that a crafted file cannot make NumPy allocate what it claims."""

    def __init__(self, path, what):
        self.path, self.what = os.fspath(path), what
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no saved model at {self.path}")
        with open(self.path, "rb") as f:
            head = f.read(4)
        if head[:2] != b"PK":
            raise self.error("the file is empty" if not head else "it is not an .npz archive")
        if not zipfile.is_zipfile(self.path):
            raise self.error("it does not end as a zip archive does (truncated or corrupt?)")
        try:
            self.archive = zipfile.ZipFile(self.path)
            self.headers = {}
            for info in self.archive.infolist():
                self.headers[info.filename.removesuffix(".npy")] = self._header(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, TypeError) as e:
            self.close()
            raise self.error(f"{e} (truncated or corrupt?)") from None

    def error(self, problem):
        return CheckpointError(f"{self.path} is not a readable {self.what}: {problem}")

    def _header(self, info):
        """(shape, dtype) of a member; CheckpointError where its values claim more bytes than
        it holds."""
        with self.archive.open(info) as member:
            header = HEADERS.get(numpy.lib.format.read_magic(member))
            if header is None:
                raise ValueError(f"{info.filename} is not an array of a known .npy version")
            shape, _, dtype = header(member)
        claimed = int(numpy.prod(shape, dtype=object)) * dtype.itemsize
        if claimed > info.file_size:
            raise ValueError(f"{info.filename} claims {claimed} bytes of values in "
                             f"{info.file_size}")
        return shape, dtype

    def array(self, name):
        """The values of the member ``name``."""
        try:
            with self.archive.open(f"{name}.npy") as member:
                return numpy.lib.format.read_array(member, allow_pickle=False)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
            raise self.error(f"{name}: {e} (truncated or corrupt?)") from None

    def meta(self):
        """The metadata (a dict, of one of our formats), read within :data:`MAX_META_BYTES`."""
        if "meta" not in self.headers:
            raise self.error("it holds no metadata")
        shape, dtype = self.headers["meta"]
        if shape != () or dtype.kind not in "US" or dtype.itemsize > MAX_META_BYTES:
            raise self.error("its metadata is not one string of at most "
                             f"{MAX_META_BYTES >> 20} MiB")
        try:
            meta = json.loads(str(self.array("meta")))
        except ValueError:
            raise self.error("corrupt metadata") from None
        if not isinstance(meta, dict):
            raise self.error("corrupt metadata")
        if meta.get("format") not in (FORMAT, CHECKPOINT_FORMAT):
            raise CheckpointError(f"{self.path} has format {meta.get('format')!r}, expected "
                                  f"{FORMAT!r} or {CHECKPOINT_FORMAT!r}")
        return meta

    def params(self, shapes):
        """The parameter arrays, checked against ``shapes`` (the model's own) before they are
        read."""
        count = sum(1 for k in self.headers if k.startswith("param_"))
        if count != len(shapes):
            raise CheckpointError(f"{self.path} holds {count} parameter arrays, its model has "
                                  f"{len(shapes)}")
        for i, expected in enumerate(shapes):
            shape, dtype = self.headers.get(f"param_{i}", (None, None))
            if shape is None:
                raise CheckpointError(f"{self.path} is missing parameter array 'param_{i}'")
            if dtype.kind != "f":
                raise CheckpointError(f"{self.path}: parameter {i} holds {dtype}, not floating "
                                      "point numbers")
            if tuple(shape) != tuple(expected):
                raise CheckpointError(f"{self.path}: parameter {i} has shape {tuple(shape)}, its "
                                      f"model has {tuple(expected)}")
        return [self.array(f"param_{i}") for i in range(count)]

    def close(self):
        if getattr(self, "archive", None) is not None:
            self.archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: The readers of the .npy headers numpy.savez writes, by format version.
HEADERS = {(1, 0): numpy.lib.format.read_array_header_1_0,
           (2, 0): numpy.lib.format.read_array_header_2_0}
#: The largest size a saved model may name: its vocabulary, embedding or hidden size.
MAX_SIZE = 1 << 22
#: The most layers a saved model may name (each stack's).
MAX_LAYERS = 64
#: The most a saved file's metadata (settings and vocabularies, as JSON text) may take.
MAX_META_BYTES = 1 << 28


def _shapes(meta, path):
    """The shapes of the parameters of the model ``meta`` describes, from its kind and sizes,
    checked before anything of that size is allocated."""
    kind, config = meta.get("kind"), meta.get("config")
    if kind not in MODELS:
        raise CheckpointError(f"{path} holds a model of unknown kind {kind!r}")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the model's config is not a dict")
    for name in ("vocab_size", "source_vocab_size", "wordvec_size", "hidden_size"):
        value = config.get(name)
        if value is None and name == "source_vocab_size":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SIZE:
            raise CheckpointError(f"{path}: the model's {name} is {value!r}, not a size from 1 "
                                  f"to {MAX_SIZE}")
    for name in ("encoder_layers", "decoder_layers"):
        value = config.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_LAYERS:
            raise CheckpointError(f"{path}: the model's {name} is {value!r}, not a number from 1 "
                                  f"to {MAX_LAYERS}")
    try:
        return param_shapes(MODELS[kind], config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the {kind} model from its config: "
                              f"{e}") from None


def saved_format(path):
    """The format a file of ours at ``path`` says it is in (:data:`FORMAT`,
    :data:`CHECKPOINT_FORMAT`), or None where it is no such file."""
    try:
        with _Npz(path, "s2sxp model file") as npz:
            return npz.meta()["format"]
    except (CheckpointError, OSError):
        return None


def read(path):
    """(meta dict, list of host parameter arrays) from a file written by :func:`save` or
    :func:`save_checkpoint`; only the metadata and the parameters are read, each checked against
    the model's own shapes before its values are."""
    path = os.fspath(path)
    with _Npz(path, "s2sxp model file") as npz:
        meta = npz.meta()
        params = npz.params(_shapes(meta, path))
    _check_finite(params, path)
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
    kind = meta["kind"]
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


_COUNT = {"type": "integer", "minimum": 0}
_NUMBER = {"type": "number"}
_NUMBERS = {"type": "array", "items": _NUMBER}
_ARRAY = {"type": "object", "required": ["__array__"], "additionalProperties": False,
          "properties": {"__array__": {"type": "string"}}}
_TEXT = {"type": "string"}
#: What a checkpoint's metadata holds beside a model's (JSON Schema): the optimizer's and the
#: trainer's state (arrays stand as {"__array__": member}), and what a run records.
CHECKPOINT_SCHEMA = {
    "type": "object", "required": ["optimizer", "trainer"],
    "properties": {
        "optimizer": {"type": "object", "required": ["name", "state"], "properties": {
            "name": {"enum": list(OPTIMIZERS)},
            "state": {"type": "object", "required": ["lr"], "properties": {
                "lr": _NUMBER, "beta1": _NUMBER, "beta2": _NUMBER, "iter": _COUNT,
                "m": {"type": "array", "items": _ARRAY},
                "v": {"type": "array", "items": _ARRAY}}}}},
        "trainer": {"type": "object", "required": ["epoch", "rng", "loss_list", "loss_epochs"],
                    "properties": {"epoch": _COUNT, "rng": {"type": "object"},
                                   "loss_list": _NUMBERS, "loss_epochs": _NUMBERS,
                                   "order": _ARRAY, "bounds": _ARRAY, "next": _COUNT,
                                   "count": _COUNT, "total": _ARRAY}},
        "epoch": _COUNT,
        "run": {"type": "object"},
        "history": {"type": "object", "properties": {
            "val_at": {"type": "array", "items": _COUNT}},
            "additionalProperties": _NUMBERS},
        "files": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["path", "sha256", "from_run"],
            "properties": {"path": _TEXT, "sha256": _TEXT, "from_run": _TEXT}}},
        "test_scores": {"type": ["object", "null"]},
        "budget": {"type": ["object", "null"], "required": [
            "seconds", "spent", "trained", "iterations", "validating", "validations", "at",
            "ended"],
            "properties": {"seconds": _NUMBER, "spent": _NUMBER, "trained": _NUMBER,
                           "iterations": _COUNT, "validating": _NUMBER, "validations": _COUNT,
                           "at": _NUMBER,
                           "ended": {"type": "boolean"}, "last": {"type": ["number", "null"]},
                           "marks": _NUMBERS}},
    },
}


def check_fields(value, schema, source):
    """CheckpointError naming ``source`` and the first field of ``value`` (read from a file)
    that breaks ``schema`` (JSON Schema), in one line, without the field's content."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        field = ".".join(str(k) for k in error.absolute_path) or "it"
        expected = error.validator_value if error.validator in ("type", "enum", "minimum",
                                                                  "required") else None
        problem = {"type": f"is not of type {expected}", "enum": "is none of "
                   f"{', '.join(map(str, expected or ()))}", "minimum": f"is below {expected}",
                   "required": "lacks " + (error.message.split("'")[1:2] or ["a field"])[0]}.get(error.validator,
                                                                         "is malformed")
        raise CheckpointError(f"{source}: {field} {problem}")


def read_checkpoint(path):
    """The :class:`Checkpoint` at ``path``; CheckpointError when it is unreadable or incomplete:
    its metadata is held to :data:`CHECKPOINT_SCHEMA`, and only the arrays it names are read."""
    path = os.fspath(path)
    with _Npz(path, "s2sxp checkpoint") as npz:
        meta = npz.meta()
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is a saved model, not a training checkpoint (it holds "
                                  "no optimizer or trainer state)")
        check_fields(meta, CHECKPOINT_SCHEMA, path)
        shapes = _shapes(meta, path)
        params = npz.params(shapes)
        size = sum(int(numpy.prod(s)) for s in shapes)
        arrays = {}
        for key in ("m", "v"):
            for name in _named_arrays(meta["optimizer"]["state"].get(key, [])):
                _check_header(npz, name, (size,), "f")
        for name in ("order", "bounds"):
            if name in meta["trainer"]:
                _check_header(npz, meta["trainer"][name]["__array__"], None, "iu")
        for name in _named_arrays(meta):
            arrays[name] = npz.array(name)
        try:
            optimizer = meta["optimizer"]["name"]
            optimizer_state = _unpack(meta["optimizer"]["state"], arrays)
            trainer_state = _unpack(meta["trainer"], arrays)
            vocab = vocabs.from_meta(meta["vocab"]) if "vocab" in meta else None
            source_vocab = (vocabs.from_meta(meta["source_vocab"]) if "source_vocab" in meta
                            else None)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path} is an incomplete or corrupt checkpoint: "
                                  f"{type(e).__name__} {e}") from None
    _check_finite(params, path)
    return Checkpoint(path, meta, params, optimizer, optimizer_state,
                      trainer_state, vocab, source_vocab)


def _named_arrays(state):
    """The members a nested state names as its arrays ({"__array__": member})."""
    if isinstance(state, dict):
        if set(state) == {"__array__"}:
            return [state["__array__"]]
        return [n for v in state.values() for n in _named_arrays(v)]
    if isinstance(state, list):
        return [n for v in state for n in _named_arrays(v)]
    return []


def _check_header(npz, name, shape, kinds):
    """CheckpointError where the member ``name`` is missing, or not of ``shape`` (None: one
    dimension) with values of one of the dtype ``kinds``."""
    if name not in npz.headers:
        raise CheckpointError(f"{npz.path} is missing the array {name!r}")
    got, dtype = npz.headers[name]
    if dtype.kind not in kinds or (tuple(got) != shape if shape else len(got) != 1):
        raise CheckpointError(f"{npz.path}: {name} is a {dtype} array of shape {tuple(got)}, "
                              f"not {'one' if shape is None else shape} of "
                              f"{'floats' if kinds == 'f' else 'integers'}")


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


def average(paths):
    """The model whose parameters are the mean of those of the saved models at ``paths`` (checkpoint
    averaging: the same kind, settings and vocabularies, say the last or best few epochs of one
    run), with the vocabulary and metadata of the last, and ``averaged``, the files' names;
    CheckpointError where one is not like the first."""
    if not paths:
        raise ValueError("no models to average")
    saved = [read(path) for path in paths]
    first, _ = saved[0]
    for path, (meta, _) in zip(paths[1:], saved[1:]):
        for key in ("kind", "config", "vocab", "source_vocab"):
            if meta.get(key) != first.get(key):
                raise CheckpointError(f"{path} is not a model of the same {key} as {paths[0]}: "
                                      "average the models of one run")
    model = load(paths[-1])
    dtype = saved[-1][1][0].dtype
    mean = [sum(p[i].astype(numpy.float64) for _, p in saved) / len(saved) for i in
            range(len(saved[0][1]))]
    set_params(model, [m.astype(dtype) for m in mean], "the average")
    model.meta = dict(model.meta, averaged=[os.path.basename(os.fspath(p)) for p in paths])
    return model


def loaded_writer(model, path):
    """What writes a model :func:`load` (or :func:`average`) gave to ``path``, with its
    metadata (:func:`model_writer`)."""
    own = ("format", "kind", "config", "vocab", "source_vocab")
    return model_writer(model, path, **{k: v for k, v in model.meta.items() if k not in own})

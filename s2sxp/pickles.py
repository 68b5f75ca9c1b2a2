"""The book's parameter file: what its ``BaseModel.save_params`` writes and ``load_params`` reads,
a pickled list of float16 arrays in the model's ``params`` order (the class's name + ``.pkl``).

Writing is pickle's own. Reading never runs ``pickle.load`` on the file: a restricted unpickler
builds nothing but plain float arrays (float16, float32 or float64), each declared no larger than
the model's largest parameter and made from the values the file itself holds, after the file's
size has been checked against what such a file of the model takes and every length its opcodes
declare against the bytes that follow. The arrays must then be as many as the model's parameters,
of their shapes, and finite. Every refusal is one :class:`BookFileError` naming the file.
"""
import io
import math
import os
import pickle
import pickletools

import numpy

from . import backend
from .files import atomic_write

#: The float types a parameter file may hold its values in (the book's is float16).
FLOAT_SIZES = (2, 4, 8)
#: What a pickled array takes besides its values, at most, for the limit on a file's size.
ARRAY_OVERHEAD = 4096


class BookFileError(ValueError):
    """A parameter file that cannot be read into a model (or a model that cannot be written as
    one): hostile, corrupt, or of another model."""


def book_file_name(model, file_name=None):
    """The file the book's save_params and load_params use: ``file_name``, or the class's name
    + ``.pkl``."""
    return os.fspath(file_name) if file_name is not None else type(model).__name__ + ".pkl"


def write(path, model):
    """Write ``model``'s parameters to ``path`` as the book's save_params does (float16, a pickled
    list in ``params`` order), atomically; BookFileError, nothing written, where one of them is not
    finite in float16."""
    path = os.fspath(path)
    with numpy.errstate(over="ignore"):                  # refused below, with its reason
        params = [backend.asnumpy(p).astype(numpy.float16) for p in model.params]
    bad = [i for i, p in enumerate(params) if not numpy.isfinite(p).all()]
    if bad:
        raise BookFileError(f"{path} was not written: parameter {bad[0]} of the {model.kind} "
                            "model holds NaN or infinite values, or values beyond float16's "
                            "range (65504)")
    atomic_write(path, lambda f: pickle.dump(params, f))


def read(path, model):
    """The host arrays of the parameter file at ``path``, checked to fit ``model`` (as many as
    its ``params``, of their shapes, plain floats, finite), in the file's float type;
    FileNotFoundError where there is no file, BookFileError where it does not fit or is not
    such a file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no parameter file at {path}")
    shapes = [tuple(p.shape) for p in model.params]
    limit = sum(8 * math.prod(s) + ARRAY_OVERHEAD for s in shapes) + ARRAY_OVERHEAD
    size = os.path.getsize(path)
    if size > limit:
        raise BookFileError(f"{path} is {size} bytes, more than a parameter file of the "
                            f"{model.kind} model takes ({limit})")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    params = _unpickle(data, path, max(math.prod(s) for s in shapes), model.kind)
    if len(params) != len(shapes):
        raise BookFileError(f"{path} holds {len(params)} parameter arrays but a {model.kind} "
                            f"model has {len(shapes)}")
    for i, (p, shape) in enumerate(zip(params, shapes)):
        if p.shape != shape:
            raise BookFileError(f"{path}: parameter {i} has shape {p.shape}, the {model.kind} "
                                f"model expects {shape}")
        if not numpy.isfinite(p).all():
            raise BookFileError(f"{path}: parameter {i} holds NaN or infinite values")
    return params


def _unpickle(data, path, largest, kind):
    """The list of arrays pickled in ``data``: its opcodes scanned first (every length they
    declare must be there), then unpickled by :class:`ArraysOnly`."""
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
        params = ArraysOnly(io.BytesIO(data), largest, kind).load()
    except BookFileError as e:
        raise BookFileError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError,
            TypeError, ValueError, MemoryError) as e:
        raise BookFileError(f"{path} is not a readable parameter pickle: {e}") from None
    if not isinstance(params, (list, tuple)):
        raise BookFileError(f"{path} does not hold a list of NumPy arrays")
    arrays = [p.array if isinstance(p, PendingArray) else p for p in params]
    if not all(isinstance(a, numpy.ndarray) for a in arrays):
        raise BookFileError(f"{path} does not hold a list of NumPy arrays (or an array in it "
                            "has no values)")
    return arrays


class PendingArray:
    """An array as numpy's pickles make it, in two steps: named by ``_reconstruct``, then given
    its shape, float type and values by its state (``__setstate__``), which are checked before
    anything is allocated."""

    def __init__(self, values):
        self.values = values
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise BookFileError("an array's state is not numpy's (version, shape, dtype, "
                                "Fortran order, values)")
        shape, dtype, fortran, raw = state[-4:]
        self.array = self.values(raw, dtype, shape, "F" if fortran else "C")


class ArraysOnly(pickle.Unpickler):
    """Unpickles lists of plain float arrays and nothing else: numpy's ``_reconstruct`` and
    ``_frombuffer`` are replaced by checks that build an array only from values the file holds,
    of a float type, declared no larger than ``largest`` values (the largest parameter of the
    ``kind`` of model read); ``numpy.ndarray`` may only be named, not called."""

    RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"),
                   ("numpy._core.multiarray", "_reconstruct")}
    FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}

    def __init__(self, file, largest, kind):
        super().__init__(file)
        self.largest, self.kind = largest, kind
        self.ndarray_name = self.ndarray         # what find_class gives for numpy.ndarray

    def find_class(self, module, name):
        if (module, name) in self.RECONSTRUCT:
            return self.reconstruct
        if (module, name) in self.FROMBUFFER:
            return self.values
        if (module, name) == ("numpy", "ndarray"):
            return self.ndarray_name
        if (module, name) == ("numpy", "dtype"):
            return numpy.dtype
        raise BookFileError(f"refusing to load {module}.{name}: a book parameter file holds "
                            "only a list of NumPy arrays")

    def ndarray(self, shape=(), *args, **kwargs):
        self.size(shape)
        raise BookFileError("refusing to call numpy.ndarray, which makes an array without "
                            "values (numpy's own pickles only name it)")

    def reconstruct(self, subtype, shape, typecode):
        if subtype is not self.ndarray_name:
            raise BookFileError("refusing to reconstruct anything but a NumPy array")
        self.size(shape)
        return PendingArray(self.values)

    def size(self, shape):
        """The number of values ``shape`` declares; BookFileError where it is no shape or
        declares more than the model's largest parameter holds."""
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, tuple) or len(shape) > 32 or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise BookFileError(f"an array declares the shape {shape!r}, which is no shape")
        n = math.prod(shape)
        if n > self.largest:
            raise BookFileError(f"an array declares {n} values, more than the {self.largest} of "
                                f"the {self.kind} model's largest parameter")
        return n

    def values(self, buffer, dtype, shape, order):
        """The array of ``shape`` made of the bytes ``buffer``, checked: a plain float type,
        no more values than the model's largest parameter, exactly the bytes they take."""
        if not isinstance(dtype, numpy.dtype) or dtype.kind != "f" or (
                dtype.itemsize not in FLOAT_SIZES) or dtype.names or dtype.subdtype:
            raise BookFileError(f"an array has dtype {dtype}, not float16, float32 or float64")
        n = self.size(shape)
        if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != n * dtype.itemsize:
            raise BookFileError(f"an array's values are not the {n * dtype.itemsize} bytes its "
                                "shape and dtype declare")
        if order not in ("C", "F"):
            raise BookFileError(f"an array declares the order {order!r}, not 'C' or 'F'")
        return numpy.frombuffer(buffer, dtype).reshape(shape, order=order)

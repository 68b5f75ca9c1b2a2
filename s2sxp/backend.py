"""The array backend: NumPy on the CPU, CuPy on an NVIDIA GPU.

The active backend is chosen once, from ``S2S_BACKEND`` (``numpy``, ``cupy`` or ``auto``) and
``S2S_DTYPE`` (``float32`` or ``float64``), or in code with :func:`use` before models are built.
Models take their array module and float type from here when they are built; from then on, they and
the functions that work on their arrays ask the arrays themselves (:func:`get_array_module`). This
is the only module that imports CuPy. :func:`flush_denormals` sets the CPU's floating-point mode the
models compute in.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import platform
import struct
import sys
from dataclasses import dataclass

import numpy

BACKENDS = ("numpy", "cupy", "auto")
DTYPES = ("float32", "float64")


class BackendError(RuntimeError):
    """A backend or dtype was asked for that cannot be used here."""


@dataclass
class _Active:
    name: str
    xp: object
    dtype: numpy.dtype


_active: list[_Active] = []


def _import_cupy():
    """Return the cupy module when CuPy is installed and a GPU is usable, else raise
    BackendError."""
    try:
        import cupy
    except ImportError as e:
        raise BackendError(
            "S2S_BACKEND=cupy needs CuPy: install it with `pip install \"s2sxp[gpu]\"` "
            "(cupy-cuda12x) or the cupy-cuda1xx build that matches your CUDA driver "
            f"({e})") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise BackendError(f"CuPy is installed but no CUDA GPU is usable: {e}") from None
    if count == 0:
        raise BackendError("CuPy is installed but no CUDA GPU is visible "
                           "(check CUDA_VISIBLE_DEVICES and the driver)")
    return cupy


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        _import_cupy()
    except BackendError:
        return False
    return True


def use_device(index: int) -> None:
    """Make GPU ``index`` (modulo the GPUs visible) this process's CuPy device, where CuPy and a
    GPU are usable; nothing otherwise. Call it before any array is made on the GPU."""
    try:
        cupy = _import_cupy()
    except BackendError:
        return
    cupy.cuda.Device(index % cupy.cuda.runtime.getDeviceCount()).use()


def nccl():
    """CuPy's NCCL bindings (``cupy.cuda.nccl``); BackendError where CuPy or NCCL is missing."""
    _import_cupy()
    from cupy.cuda import nccl as module
    if not getattr(module, "available", True):
        raise BackendError("CuPy was built without NCCL, which the GPU all-reduce needs "
                           "(install a CuPy wheel, which brings it)")
    return module


def _resolve(name: str, dtype: str | None) -> _Active:
    name = (name or "numpy").strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    dtype = (dtype or "float32").strip().lower()
    if dtype not in DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if name == "auto":
        try:
            return _Active("cupy", _import_cupy(), numpy.dtype(dtype))
        except BackendError as e:
            print(f"s2sxp: no usable GPU ({e}); using NumPy on the CPU", file=sys.stderr)
            return _Active("numpy", numpy, numpy.dtype(dtype))
    if name == "cupy":
        return _Active("cupy", _import_cupy(), numpy.dtype(dtype))
    return _Active("numpy", numpy, numpy.dtype(dtype))


def use(name: str = "numpy", dtype: str | None = None) -> None:
    """Make ``name`` the active backend and ``dtype`` the float type of models built from now on."""
    _active[:] = [_resolve(name, dtype)]


def _current() -> _Active:
    if not _active:
        _active.append(_resolve(os.environ.get("S2S_BACKEND", "numpy"),
                                os.environ.get("S2S_DTYPE", "float32")))
    return _active[0]


def name() -> str:
    """``'numpy'`` or ``'cupy'``."""
    return _current().name


def __getattr__(attr):
    # ``backend.xp`` and ``backend.dtype`` follow the active backend.
    if attr == "xp":
        return _current().xp
    if attr == "dtype":
        return _current().dtype
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def get_array_module(x):
    """The module (numpy or cupy) that owns array ``x``."""
    if type(x).__module__.startswith("cupy"):
        import cupy
        return cupy
    return numpy


def asnumpy(x):
    """``x`` as a host NumPy array (a no-op for NumPy arrays)."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return numpy.asarray(x)


def to_device(x, dtype=None):
    """``x`` as an array of the active backend, optionally cast to ``dtype``."""
    xp = _current().xp
    if xp is numpy:
        x = asnumpy(x)
    else:
        x = xp.asarray(x)
    return x if dtype is None else x.astype(dtype, copy=False)


def ignore_overflow(xp):
    """A context in which exp overflowing to inf is expected (NumPy would warn; CuPy does not)."""
    return numpy.errstate(over="ignore") if xp is numpy else contextlib.nullcontext()


#: MXCSR bits: flush results below the smallest normal float to zero (FTZ), and read such inputs
#: as zero (DAZ).
_FTZ_DAZ = 0x8040


@functools.cache
def _fp_modes():
    """(fegetmode, fesetmode) of the C library on x86-64 glibc, or None."""
    if (platform.machine().lower() not in ("x86_64", "amd64")
            or not sys.platform.startswith("linux")):
        return None                 # femode_t's layout below is x86-64 glibc's
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        get, set_ = libm.fegetmode, libm.fesetmode
    except (OSError, AttributeError):
        return None
    get.argtypes = set_.argtypes = [ctypes.c_void_p]
    get.restype = set_.restype = ctypes.c_int
    return get, set_


@contextlib.contextmanager
def flush_denormals():
    """Within the body, this thread's floating-point arithmetic on the CPU reads numbers below the
    smallest normal one (1.2e-38 in float32, 2.2e-308 in float64) as zero and gives zero where a
    result would be one: the SSE control bits FTZ and DAZ, set through the C library's
    ``fesetmode`` and restored on leaving. Arithmetic on such subnormal numbers takes a slow path
    in the CPU (how slow: benchmarks/results/design-notes.md). x86-64
    Linux with glibc 2.25 or later; elsewhere the body runs as it is. The GPU is not affected."""
    api = _fp_modes()
    if api is None:
        yield
        return
    get, set_ = api
    saved = ctypes.create_string_buffer(8)                 # femode_t: x87 control word, MXCSR
    if get(saved) != 0:
        yield
        return
    mxcsr = struct.unpack_from("I", saved.raw, 4)[0]
    if mxcsr & _FTZ_DAZ == _FTZ_DAZ:
        yield
        return
    mode = ctypes.create_string_buffer(saved.raw, 8)
    struct.pack_into("I", mode, 4, mxcsr | _FTZ_DAZ)
    set_(mode)
    try:
        yield
    finally:
        set_(saved)


def available_memory():
    """Bytes of the host's memory free for a process to take (Linux's MemAvailable), or None
    where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None

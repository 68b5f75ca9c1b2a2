"""Matrix products at a precision.

``fp32`` (the default) computes every GEMM in float32 with the array module's own ``matmul``.
``bf16`` runs the GEMMs of float32 arrays with bfloat16 operands and float32 accumulation and
output, on the CPU's bf16 units, through oneDNN (the ``bf16`` extra, ``pip install
"s2sxp[bf16]"``: Intel's ``onednn-cpu-gomp`` wheel). Everything else stays float32: the weights,
Adam's state, the loss, the softmax and every nonlinearity. oneDNN picks its kernels by the
instructions the CPU has (AVX512-BF16, AMX), whoever made the CPU.

bfloat16 keeps float32's 8-bit exponent and rounds the significand to 8 bits (round to nearest
even): a rounded operand is within a factor 1 ± 2⁻⁸ of its float32 value, a product of two within
1 ± (2⁻⁷ + 2⁻¹⁶), and a sum of k of them accumulated in float32 is then off from float32's own
product by at most :func:`error_bound` entrywise.

The precision comes from ``S2S_PRECISION`` (``fp32`` or ``bf16``) or :func:`use`. Where bf16
cannot run (oneDNN missing, a CPU without bf16 instructions, the CuPy backend) :func:`use` says why
in one line and keeps fp32. A kernel takes ``mm = products(xp)`` once and calls
``mm.matmul(a, b, out=...)`` where it would call ``xp.matmul``; ``mm.operand(w)`` converts a matrix
that many products use (a weight, over the time steps) once.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
import sysconfig
import threading

import numpy

from . import backend
from .parallel import blas_thread_count, split_training

PRECISIONS = ("fp32", "bf16")

#: bfloat16's unit roundoff: 8 significant bits, round to nearest.
BF16_UNIT = 2.0 ** -8
#: float32's.
FP32_UNIT = 2.0 ** -24


class PrecisionError(ValueError):
    """A precision was asked for that is not one of PRECISIONS (a user's mistake: the command
    line answers it in one line)."""


def error_bound(a, b):
    """The entrywise bound on |bf16 product - float32 product| for ``a @ b``:
    (2u + u² + 2k·u₃₂)·(|a|·|b|), u = 2⁻⁸ the rounding of each bf16 operand, k the inner length
    and u₃₂ = 2⁻²⁴ float32's rounding, in the sum of either product."""
    a64, b64 = numpy.abs(numpy.asarray(a, numpy.float64)), numpy.abs(numpy.asarray(b, numpy.float64))
    k = a64.shape[-1]
    return (2 * BF16_UNIT + BF16_UNIT ** 2 + 2 * k * FP32_UNIT) * (a64 @ b64)


# --- the switch -------------------------------------------------------------------------------

_chosen: list[str] = []


def use(name: str | None) -> str:
    """Make ``name`` (``fp32``, ``bf16``; None: fp32) the precision of the GEMMs from now on and
    return the one that runs: fp32, with one line on stderr saying why, where bf16 cannot."""
    name = (name or "fp32").strip().lower()
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    if name == "bf16":
        why = unavailable()
        if why:
            print(f"s2sxp: --precision bf16 {why}; running float32", file=sys.stderr)
            name = "fp32"
    _chosen[:] = [name]
    split_training(name == "bf16")
    return name


def current() -> str:
    """The precision in force: :func:`use`'s, else ``S2S_PRECISION``'s, else fp32."""
    if not _chosen:
        use(os.environ.get("S2S_PRECISION"))
    return _chosen[0]


def unavailable() -> str | None:
    """Why bf16 products cannot run here, or None when they can."""
    if backend.name() != "numpy":
        return "runs on the CPU only so far (the GPU's bf16 GEMMs are not built yet)"
    if not _cpu_has_bf16():
        return "needs a CPU with bf16 instructions (AVX512-BF16 or AMX), which this one lacks"
    try:
        _onednn()
    except OSError as e:
        return f"needs oneDNN: pip install \"s2sxp[bf16]\" ({e})"
    return None


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return False


# --- products ---------------------------------------------------------------------------------

class _Float32:
    """float32 products: the array module's own matmul; operands as they are."""
    name = "fp32"

    def __init__(self, xp):
        self.matmul = xp.matmul

    @staticmethod
    def operand(w):
        return w


class Bf16:
    """A float32 array rounded to bfloat16 once: ``data``, its bits as a uint16 array of the
    same shape. Slices and the transpose are views of the same bits, as NumPy's are. ``dtype``
    is that of the products it takes part in."""
    __slots__ = ("data",)
    dtype = numpy.dtype(numpy.float32)

    def __init__(self, data):
        self.data = data

    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def T(self):
        return Bf16(self.data.T)

    def __getitem__(self, index):
        return Bf16(self.data[index])


class _Bfloat16:
    """bf16 products through oneDNN: float32 operands rounded to bf16 (a oneDNN reorder), the
    product accumulated and written in float32. float64 arrays keep NumPy's matmul."""
    name = "bf16"

    def __init__(self, dnnl):
        self.dnnl = dnnl

    def operand(self, w):
        if isinstance(w, Bf16) or w.dtype != numpy.float32:
            return w
        return Bf16(self.dnnl.to_bf16(w))

    def matmul(self, a, b, out=None):
        if not isinstance(a, Bf16) and a.dtype != numpy.float32 or \
                not isinstance(b, Bf16) and b.dtype != numpy.float32:
            return numpy.matmul(_float32(a), _float32(b), out=out)
        a, b = self.operand(a).data, self.operand(b).data
        shape = numpy.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        if out is None:
            out = numpy.empty(shape, numpy.float32)
        elif out.shape != shape:
            raise ValueError(f"matmul: out has shape {out.shape}, the product {shape}")
        self.dnnl.matmul(a, b, out)
        return out


def _float32(x):
    return (x.data.astype(numpy.uint32) << 16).view(numpy.float32) if isinstance(x, Bf16) else x


def products(xp):
    """The products of the precision in force, for arrays of module ``xp``."""
    if xp is numpy and current() == "bf16":
        return _bf16_products()
    return _float32_products(xp)


@functools.cache
def _float32_products(xp):
    return _Float32(xp)


@functools.cache
def _bf16_products():
    return _Bfloat16(_onednn())


# --- oneDNN through its C API -----------------------------------------------------------------

_BF16, _F32, _U8 = 2, 3, 6                    # dnnl_data_type_t
_ARG_SRC, _ARG_DST, _ARG_WEIGHTS = 1, 17, 33  # also reorder's FROM and TO
_ARG_SCRATCHPAD = 80
_CPU, _IN_ORDER = 1, 1                       # dnnl_engine_kind_t, dnnl_stream_flags_t
_SCRATCHPAD_USER = 1                         # dnnl_scratchpad_mode_t
_QUERY_SCRATCHPAD_MD = 136                   # dnnl_query_t
_MAX_DIMS = 12                               # DNNL_MAX_NDIMS
_RUNTIME = -2 ** 63                          # DNNL_RUNTIME_DIM_VAL: a size given at execution

#: A 2-D product of at least this many rows runs a primitive made for any number of rows (the
#: row counts of x·Wx over all steps, of the output layer's last chunk and of the weight
#: gradients change from batch to batch); fewer rows, a primitive for that shape alone, faster
#: for the small products of a time step, which repeat.
RUNTIME_ROWS = 512
#: Primitives kept at most; past this, one is made for a call and let go after it.
KEPT = 4096


class _Arg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


_Dims = ctypes.c_int64 * _MAX_DIMS


def _library_paths():
    """Where the oneDNN wheel puts libdnnl (the environment's lib/), then the system's."""
    found = [os.path.join(sysconfig.get_paths()["data"], "lib", "libdnnl.so.3")]
    with contextlib.suppress(KeyError):
        found.append(os.path.join(sysconfig.get_paths("posix_user")["data"], "lib",
                                  "libdnnl.so.3"))
    system = ctypes.util.find_library("dnnl")
    if system:
        found.append(system)
    return found


@functools.cache
def _onednn():
    """The loaded oneDNN (raises OSError where there is none usable)."""
    errors = []
    for path in _library_paths():
        if not os.path.exists(path) and os.sep in path:
            continue
        try:
            return _OneDNN(ctypes.CDLL(path))
        except OSError as e:
            errors.append(str(e))
    raise OSError("; ".join(errors) or "libdnnl.so.3 not found")


class _OneDNN:
    """The few calls of oneDNN's C API that bf16 products need: a CPU engine, reorders from
    float32 to bf16 and matmul primitives, each made once for its shape and layout and kept, and
    one stream per thread. A primitive's memory objects are kept per thread and pointed at each
    call's arrays, its scratch memory among them (the library's own is one for the process, which
    primitives running at once in several threads would share). oneDNN runs a primitive on OpenMP
    threads: as many as BLAS may use in the calling thread
    (:func:`s2sxp.parallel.blas_thread_count`), so that a share of a batch split over the cores
    runs its products on its own core."""

    def __init__(self, lib):
        self.lib = lib
        lib.dnnl_version.restype = ctypes.POINTER(ctypes.c_int * 3)     # major, minor, patch
        version = lib.dnnl_version().contents
        if version[0] < 3:
            raise OSError(f"oneDNN {version[0]}.{version[1]} is too old (3.0 or later needed)")
        self.engine = ctypes.c_void_p()
        self._check(lib.dnnl_engine_create(ctypes.byref(self.engine), _CPU, 0), "engine")
        self.omp_set_num_threads = ctypes.CDLL("libgomp.so.1").omp_set_num_threads
        lib.dnnl_primitive_desc_query_md.restype = ctypes.c_void_p
        lib.dnnl_primitive_desc_query_md.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_desc_get_size.argtypes = [ctypes.c_void_p]
        self.attr = ctypes.c_void_p()
        self._check(lib.dnnl_primitive_attr_create(ctypes.byref(self.attr)), "attributes")
        self._check(lib.dnnl_primitive_attr_set_scratchpad_mode(self.attr, _SCRATCHPAD_USER),
                    "scratchpad mode")
        self._kept = {}                    # key -> (primitive, mds, scratch md, scratch bytes)
        self._lock = threading.Lock()
        self._local = threading.local()    # stream, omp, scratch, memories: key -> (mems, args)

    @staticmethod
    def _check(status, what):
        if status != 0:
            raise RuntimeError(f"oneDNN {what} failed (dnnl_status_t {status})")

    def _md(self, shape, strides, dtype):
        md = ctypes.c_void_p()
        self._check(self.lib.dnnl_memory_desc_create_with_strides(
            ctypes.byref(md), len(shape), _Dims(*shape), dtype, _Dims(*strides)), "memory desc")
        return md

    def _primitive(self, key, build):
        """(primitive, mds, scratch md, scratch bytes, kept) for ``key``: the one kept, else one
        made from ``build()``, which returns (a call filling a primitive descriptor, the memory
        descriptors), and kept while fewer than KEPT are."""
        found = self._kept.get(key)
        if found is not None:
            return (*found, True)
        make_pd, mds = build()
        pd, prim = ctypes.c_void_p(), ctypes.c_void_p()
        self._check(make_pd(ctypes.byref(pd)), f"primitive for {key}")
        try:
            scratch_bytes = self.lib.dnnl_memory_desc_get_size(
                self.lib.dnnl_primitive_desc_query_md(pd, _QUERY_SCRATCHPAD_MD, 0))
            self._check(self.lib.dnnl_primitive_create(ctypes.byref(prim), pd), "primitive")
        finally:
            self.lib.dnnl_primitive_desc_destroy(pd)
        scratch = self._md((scratch_bytes,), (1,), _U8) if scratch_bytes else None
        made = (prim, mds, scratch, scratch_bytes)
        with self._lock:
            if key in self._kept:               # another thread made it meanwhile
                self._let_go(made)
                return (*self._kept[key], True)
            if len(self._kept) < KEPT:
                self._kept[key] = made
                return (*made, True)
        return (*made, False)

    def _let_go(self, made):
        prim, mds, scratch = made[:3]
        self.lib.dnnl_primitive_destroy(prim)
        for md in (*mds, scratch):
            if md is not None:
                self.lib.dnnl_memory_desc_destroy(md)

    def _thread(self):
        """This thread's stream and memories, its OpenMP threads set to BLAS's."""
        local = self._local
        if not hasattr(local, "stream"):
            local.stream, local.memories, local.omp = ctypes.c_void_p(), {}, None
            local.scratch = numpy.empty(0, numpy.uint8)
            self._check(self.lib.dnnl_stream_create(ctypes.byref(local.stream), self.engine,
                                                    _IN_ORDER), "stream")
        threads = blas_thread_count()
        if threads != local.omp:
            self.omp_set_num_threads(threads)
            local.omp = threads
        return local

    def _memories(self, mds, ids):
        memories = []
        for md in mds:
            memory = ctypes.c_void_p()
            self._check(self.lib.dnnl_memory_create(ctypes.byref(memory), md, self.engine, None),
                        "memory")
            memories.append(memory)
        return memories, (_Arg * len(ids))(*(_Arg(i, m) for i, m in zip(ids, memories)))

    def _run(self, key, made, arrays, ids, call_mds=None):
        """Execute the primitive ``made`` (``_primitive``'s answer) on ``arrays``, the
        arguments ``ids``, in this thread; ``call_mds``: this call's own memory descriptors (a
        primitive with a size given at execution), made here and let go after."""
        prim, mds, scratch, scratch_bytes, kept = made
        local = self._thread()
        if scratch is not None:
            if local.scratch.size < scratch_bytes:
                local.scratch = numpy.empty(scratch_bytes, numpy.uint8)
            arrays, ids = (*arrays, local.scratch), (*ids, _ARG_SCRATCHPAD)
        own = call_mds is not None or not kept
        memories = None if own else local.memories.get(key)
        if memories is None:
            memories = self._memories([*(call_mds or mds)] + [scratch] * (scratch is not None),
                                      ids)
            if not own:
                local.memories[key] = memories
        for memory, array in zip(memories[0], arrays):
            self.lib.dnnl_memory_set_data_handle(memory, ctypes.c_void_p(array.ctypes.data))
        try:
            self._check(self.lib.dnnl_primitive_execute(prim, local.stream, len(ids),
                                                        memories[1]), "execute")
        finally:
            if own:
                for memory in memories[0]:
                    self.lib.dnnl_memory_destroy(memory)
                for md in call_mds or ():
                    self.lib.dnnl_memory_desc_destroy(md)
            if not kept:
                self._let_go(made)

    def to_bf16(self, x):
        """x (float32, any strides) rounded to bf16: a C-ordered uint16 array of its shape."""
        out = numpy.empty(x.shape, numpy.uint16)
        if x.size == 0:
            return out
        shape = x.shape or (1,)
        key = ("reorder", shape, _elements(x))
        made = self._primitive(key, lambda: self._reorder(shape, _elements(x) or (1,)))
        self._run(key, made, (x, out), (_ARG_SRC, _ARG_DST))
        return out

    def _reorder(self, shape, strides):
        src = self._md(shape, strides, _F32)
        dst = self._md(shape, _contiguous(shape), _BF16)
        return (lambda pd: self.lib.dnnl_reorder_primitive_desc_create(
            pd, src, self.engine, dst, self.engine, self.attr)), (src, dst)

    def matmul(self, a, b, out):
        """out (float32) = a·b for bf16 a (..., m, k) and b (..., k, n), batch dimensions
        broadcast; every array with any strides (in whole elements)."""
        if out.size == 0:
            return
        if a.shape[-1] == 0:
            out[...] = 0
            return
        ids = (_ARG_SRC, _ARG_WEIGHTS, _ARG_DST)
        layouts = tuple(_layout(x, out.ndim) for x in (a, b, out))
        if out.ndim == a.ndim == b.ndim == 2 and a.shape[0] >= RUNTIME_ROWS:
            k, n = a.shape[1], b.shape[1]
            key = ("matmul rows", k, layouts[1], layouts[0][1], layouts[2][1])
            shapes = ((_RUNTIME, k), b.shape, (_RUNTIME, n))
            made = self._primitive(key, lambda: self._matmul(
                *((shape, strides) for shape, (_, strides) in zip(shapes, layouts))))
            self._run(key, made, (a, b, out), ids, self._matmul(*layouts)[1])
            return
        key = ("matmul",) + layouts
        made = self._primitive(key, lambda: self._matmul(*layouts))
        self._run(key, made, (a, b, out), ids)

    def _matmul(self, a, b, out):
        """(make_pd, mds) of a product of the layouts (shape, strides) given."""
        src, weights = self._md(*a, _BF16), self._md(*b, _BF16)
        dst = self._md(*out, _F32)
        return (lambda pd: self.lib.dnnl_matmul_primitive_desc_create(
            pd, self.engine, src, weights, None, dst, self.attr)), (src, weights, dst)


def _elements(x):
    """x's strides in elements."""
    return tuple(s // x.itemsize for s in x.strides)


def _layout(x, n_dims):
    """(shape, strides in elements) of x with leading axes of size 1 up to ``n_dims`` axes."""
    pad = n_dims - x.ndim
    return (1,) * pad + x.shape, (0,) * pad + _elements(x)


def _contiguous(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= max(size, 1)
    return tuple(strides)

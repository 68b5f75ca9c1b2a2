"""Data parallelism over the batch on a multi-core CPU.

The N sequences of a batch are independent until their gradients are summed, so work over a batch
may run as one share of rows per thread: NumPy's ufuncs and BLAS release the GIL, so the shares'
elementwise passes and GEMMs run on different cores at the same time. While they run, BLAS is
held to one thread (several multi-threaded BLAS calls at once oversubscribe the cores and run far
slower than one at a time).

Two levels use this. A model splits a training batch once (:func:`run_parts`): each thread runs
the whole forward, and later the whole backward, of its rows through a replica of the model that
shares the parameters (models/base.py), and the replicas' gradients are summed. A fused kernel
called on its own splits its recurrence (:func:`for_blocks`): one block of rows per thread, for
all time steps. Inside a share of :func:`run_parts` nothing splits again. Each split costs a
thread's wake-up and waits for the slowest share, so one split per forward and one per backward
beat one per layer.

``S2S_THREADS`` sets the number of shares: ``1`` turns the split off. Unset, decoding
(:func:`decoding`: a model's generate and beam search) splits over the cores this process may use,
and training does not split, unless its products are bf16 (:func:`split_training`) or it runs
under :func:`training_split`, as ``s2sxp train`` does: its GEMMs run on BLAS's own threads. A
multi-threaded BLAS call leaves
OpenBLAS's threads spinning for a while, and a split that starts while they spin shares its cores
with them, which makes a split training iteration slower than an unsplit one wherever other BLAS
work runs between iterations (benchmarks/results/design-notes.md). Decoding, many small steps each
with more Python and elementwise work than GEMM, gains from the split even so. Only NumPy arrays
are split, and only batches of at least ``2 * MIN_ROWS`` rows. Where BLAS is not an OpenBLAS whose
thread count can be set (a different BLAS, or a build without the symbol), the split is not made.
"""
import contextlib
import ctypes
import functools
import os
import threading
import types
from concurrent.futures import ThreadPoolExecutor, wait

import numpy

from .backend import get_array_module

#: Fewer rows than this per block make the per-step GEMMs too thin to be worth a thread.
MIN_ROWS = 32

_OPENBLAS_SYMBOLS = [  # (set, get): NumPy 2.x wheels (scipy-openblas), then plain OpenBLAS builds
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
]


def threads():
    """The number of threads a batch may be split over: ``S2S_THREADS``; unset, the usable cores
    while :func:`decoding` or where training splits (:func:`split_training`), else 1."""
    value = os.environ.get("S2S_THREADS", "").strip()
    if not value:
        return usable_cores() if getattr(_local, "decoding", False) or _host.split else 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"S2S_THREADS={value!r}: expected a whole number of threads, 1 or more "
                         "(1 turns the batch split off)")
    return n


def usable_cores():
    """The cores this process may use: those it may run on, shared among the processes of a
    job on this host (:func:`share_cores`)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // _host.processes)


def split_training(on):
    """Let training split its batches over the cores when ``S2S_THREADS`` is unset (bf16
    products, s2sxp.precision, turn it on: a product of a share on one core of oneDNN's loses
    less to the small per-step GEMMs than one product on all cores, and oneDNN's threads do not
    spin between products as OpenBLAS's do; benchmarks/results/precision/)."""
    _host.split = bool(on)


@contextlib.contextmanager
def training_split():
    """Training in the body splits its batches over the cores where ``S2S_THREADS`` is unset;
    after it, as before. ``s2sxp train`` trains so: its process runs no other BLAS work between
    iterations, and split, the elementwise passes run on every core, not BLAS's products alone
    (benchmarks/results/design-notes.md)."""
    outer = _host.split
    split_training(True)
    try:
        yield
    finally:
        split_training(outer)


def share_cores(processes):
    """Leave this process its part of the host's cores, where ``processes`` processes of one job
    (the MPI ranks on this host) run side by side: splits and BLAS then use that many threads,
    where several multi-threaded BLAS would otherwise oversubscribe the cores."""
    _host.processes = max(1, int(processes))
    api = _openblas()
    if api is not None:
        api[0](usable_cores())


@functools.cache
def _openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy uses, or None where there is
    none."""
    for path in _loaded_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                set_threads, get_threads = getattr(lib, set_name), getattr(lib, get_name)
                set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                return set_threads, get_threads
    return None


def _loaded_libraries():
    """Paths of the OpenBLAS libraries mapped into this process (Linux), then NumPy's bundled
    one."""
    paths = []
    with contextlib.suppress(OSError):
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    with contextlib.suppress(OSError):
        paths += [os.path.join(libs, name) for name in sorted(os.listdir(libs))
                  if "openblas" in name.lower()]
    return paths


def blas_thread_count():
    """The threads BLAS may use now: OpenBLAS's setting, or the usable cores where it cannot be
    read."""
    api = _openblas()
    return usable_cores() if api is None else api[1]()


@contextlib.contextmanager
def blas_threads(n):
    """Run the body with BLAS limited to ``n`` threads (a no-op where that cannot be set)."""
    api = _openblas()
    if api is None:
        yield
        return
    set_threads, get_threads = api
    before = get_threads()
    set_threads(n)
    try:
        yield
    finally:
        set_threads(before)


@contextlib.contextmanager
def decoding():
    """Mark the body as decoding, which splits over the cores unless ``S2S_THREADS`` says
    otherwise (see the module docstring)."""
    outer = getattr(_local, "decoding", False)
    _local.decoding = True
    try:
        yield
    finally:
        _local.decoding = outer


@functools.cache
def _pool(workers):
    return ThreadPoolExecutor(workers, thread_name_prefix="s2sxp")


_local = threading.local()       # in_part: this thread runs a share of run_parts
# the processes sharing this host's cores; whether training splits its batches
_host = types.SimpleNamespace(processes=1, split=False)


def _splits(xp):
    """The number of threads to split over here: 1 on CuPy, where BLAS threads cannot be set and
    inside a share of :func:`run_parts`."""
    if xp is not numpy or _openblas() is None or getattr(_local, "in_part", False):
        return 1
    return threads()


def blocks(n, n_threads, min_block=MIN_ROWS):
    """Slices splitting range(n) into at most ``n_threads`` blocks of at least ``min_block``."""
    k = max(1, min(n_threads, n // min_block))
    edges = [n * j // k for j in range(k + 1)]
    return [slice(edges[j], edges[j + 1]) for j in range(k)]


def shares(xp, n, min_block=MIN_ROWS):
    """The slices of range(n) that :func:`for_blocks` and a model's split use here: one per thread
    (see :func:`blocks`), or the one slice(0, n) where nothing splits."""
    return blocks(n, _splits(xp), min_block)


def run_parts(calls):
    """Call ``calls[0]()`` in this thread and every other call in a thread of its own, BLAS
    single-threaded meanwhile, and return their results in order (raising the first error).
    Nothing splits again inside a call."""
    def part(call):
        outer = getattr(_local, "in_part", False)
        _local.in_part = True
        try:
            return call()
        finally:
            _local.in_part = outer

    with blas_threads(1):
        futures = [_pool(len(calls) - 1).submit(part, call) for call in calls[1:]]
        try:
            first = part(calls[0])
        finally:
            wait(futures)
        return [first] + [f.result() for f in futures]


def for_blocks(xp, n, body, min_block=MIN_ROWS):
    """Call ``body(block)`` for slices that together cover ``range(n)``, one thread per slice,
    with BLAS single-threaded meanwhile.

    ``body`` must write only its own part of shared arrays. On CuPy, with ``S2S_THREADS=1``, for
    small ``n``, without BLAS thread control, or inside a share of :func:`run_parts`, this is the
    one call ``body(slice(0, n))``.
    """
    parts = shares(xp, n, min_block)
    if len(parts) == 1:
        body(slice(0, n))
        return
    run_parts([functools.partial(body, part) for part in parts])


def matmul(mm, a, b, out=None):
    """a·b for 2-D a and b by ``mm`` (the products of a precision, s2sxp.precision), over blocks
    of the rows of a in parallel (see :func:`for_blocks`)."""
    xp = get_array_module(a)
    if out is None:
        out = xp.empty((a.shape[0], b.shape[1]), dtype=xp.result_type(a, b))
    b = mm.operand(b)
    for_blocks(xp, a.shape[0], lambda rows: mm.matmul(a[rows], b, out=out[rows]))
    return out


@contextlib.contextmanager
def region(xp):
    """Hold BLAS to one thread for the body where :func:`for_blocks` splits work (NumPy with more
    than one thread): a fused model's forward or backward of a batch it does not split, whose
    GEMMs the kernels parallelise themselves where they can. A multi-threaded BLAS call leaves
    OpenBLAS's threads spinning for a while, taking the cores the next split needs, so no BLAS
    call in the body may use more than one thread."""
    if _splits(xp) > 1:
        with blas_threads(1):
            yield
    else:
        yield

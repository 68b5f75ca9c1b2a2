"""Training over several processes: data parallelism over MPI ranks, as ChainerMN and Horovod do it.

``mpirun -n K s2sxp train ...`` starts K copies of the command, the ranks 0 to K-1. They begin
from rank 0's model, optimizer and trainer state, and at every iteration each rank runs the
forward and backward of its share of the global batch (:meth:`MPIWorld.shard`); the gradients
are summed over the ranks (:meth:`MPIWorld.allreduce`), so that every rank holds the gradient of
the whole batch and applies the very same update. Each share's loss is the mean over its own
targets, so each rank scales its backward by its part of the batch's targets first: K ranks with
a global batch of B sentences compute the update of one process with a batch of B, up to the
order in which floats are summed. Clipping, the learning-rate schedule and the shuffling then
need nothing of their own: they see the same numbers on every rank.

The ranks talk through existing engines: MPI (mpi4py, with an MPI such as the ``mpich`` wheel:
``pip install "s2sxp[mpi]"``) launches them and sums NumPy arrays (``Allreduce``); CuPy arrays
are summed on the GPUs by NCCL (``cupy.cuda.nccl``), each rank on the GPU of its place on its
host (:attr:`MPIWorld.local_rank`). The ranks of one host share its CPU cores
(:func:`s2sxp.parallel.share_cores`).

No rank waits for ever: a collective that has waited longer than ``S2S_MPI_TIMEOUT`` seconds
(default :data:`DEFAULT_TIMEOUT`) for the other ranks stops the whole job with a message naming
what it waited for; an error on one rank stops all of them (:func:`run_all`).

A process not started by an MPI launcher is :data:`SINGLE`, for which every collective is the
identity; ``import s2sxp`` and training in one process need neither mpi4py nor an MPI.
"""
import contextlib
import functools
import os
import sys
import threading
import time
import traceback

import numpy

from . import backend, parallel

#: What MPI launchers set in every process they start: MPICH's and Intel MPI's (PMI), Open
#: MPI's, and PMIx's.
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
#: Seconds a rank waits in one collective for the others before it stops the job.
DEFAULT_TIMEOUT = 600.0
#: The exit status of a job stopped because a rank stopped answering.
EXIT_TIMEOUT = 3
#: Seconds between a rank's last words and MPI_Abort: the launcher forwards output apart from
#: the process, and the kill that Abort sets off can overtake lines not yet forwarded.
ABORT_GRACE = 0.5
#: Exit statuses that every rank reaches together (a stop agreed at the same iteration): Ctrl-C
#: and SIGTERM after the checkpoint.
AGREED_EXITS = (0, 130, 143)


class DistributedError(RuntimeError):
    """Training over several processes cannot start here (mpi4py or NCCL missing)."""


class Single:
    """One process on its own: every collective is the identity."""

    rank, size, local_rank, local_size = 0, 1, 0, 1

    def shard(self, rows):
        return rows

    def allreduce(self, array, what=""):
        return array

    def sum(self, values, what=""):
        return numpy.asarray(values, dtype=numpy.float64)

    def broadcast(self, value, what=""):
        return value

    def allgather(self, value, what=""):
        return [value]

    def any(self, flag, what=""):
        return bool(flag)


#: The world of a process not started by an MPI launcher.
SINGLE = Single()


class MPIWorld:
    """The ranks of an MPI job (``MPI.COMM_WORLD``). Every method is a collective: each rank must
    call it, in the same order; ``what`` names it in the message of a timeout."""

    def __init__(self, timeout=DEFAULT_TIMEOUT):
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise DistributedError(
                "this process was started by an MPI launcher, and training over several "
                "processes needs mpi4py: pip install \"s2sxp[mpi]\" (mpi4py and the mpich "
                f"wheel) ({e})") from None
        self.MPI, self.comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        host = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = host.Get_rank(), host.Get_size()
        host.Free()
        self.timeout = float(timeout)
        self._waiting = None            # (what, since when) while inside a collective
        self._nccl = None
        threading.Thread(target=self._watch, name="s2sxp-mpi-watchdog", daemon=True).start()

    def _watch(self):
        while True:
            time.sleep(min(1.0, self.timeout / 10))
            waiting = self._waiting
            if waiting is not None and time.monotonic() - waiting[1] > self.timeout:
                self.abort(f"no answer from the other ranks for {self.timeout:g} s while "
                           f"{waiting[0]}: one of them has stopped or hangs "
                           f"(S2S_MPI_TIMEOUT sets the limit)", EXIT_TIMEOUT)

    @contextlib.contextmanager
    def _collective(self, what):
        self._waiting = (what or "in a collective", time.monotonic())
        try:
            yield
        finally:
            self._waiting = None

    def abort(self, message, code=1):
        """Print ``message`` (with this rank; None: nothing) and end every rank of the job
        (``MPI_Abort``)."""
        if message is not None:
            print(f"s2sxp: rank {self.rank} of {self.size}: {message}; stopping all ranks",
                  file=sys.__stderr__, flush=True)
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_GRACE)     # the launcher forwards the lines before it kills the ranks
        self.comm.Abort(code)

    def shard(self, rows):
        """This rank's share of a global batch's rows: the rank-th of K contiguous pieces whose
        sizes differ by one at most."""
        n, K = len(rows), self.size
        if n < K:
            raise ValueError(f"a batch of {n} rows cannot be shared by {K} ranks; use a batch "
                             f"size of at least {K}")
        return rows[n * self.rank // K:n * (self.rank + 1) // K]

    def allreduce(self, array, what=""):
        """Sum ``array`` over the ranks, in place on every rank; NCCL for a CuPy array."""
        with self._collective(what):
            if backend.get_array_module(array) is numpy:
                self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
            else:
                self._nccl_allreduce(array)
        return array

    def _nccl_allreduce(self, array):
        nccl = backend.nccl()
        if self._nccl is None:
            uid = self.comm.bcast(nccl.get_unique_id() if self.rank == 0 else None, root=0)
            self._nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        types = {numpy.dtype("float16"): nccl.NCCL_FLOAT16,
                 numpy.dtype("float32"): nccl.NCCL_FLOAT32,
                 numpy.dtype("float64"): nccl.NCCL_FLOAT64}
        stream = backend.get_array_module(array).cuda.get_current_stream()
        self._nccl.allReduce(array.data.ptr, array.data.ptr, array.size, types[array.dtype],
                             nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()

    def sum(self, values, what=""):
        """The sums over the ranks of a few numbers, as float64 (N,) on every rank."""
        values = numpy.array(values, dtype=numpy.float64)
        with self._collective(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, values, op=self.MPI.SUM)
        return values

    def broadcast(self, value, what=""):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        with self._collective(what):
            return self.comm.bcast(value, root=0)

    def allgather(self, value, what=""):
        """[the value of rank 0, of rank 1, ...] on every rank."""
        with self._collective(what):
            return self.comm.allgather(value)

    def any(self, flag, what=""):
        """Whether ``flag`` is true on any rank."""
        return bool(self.sum([bool(flag)], what)[0])


def launched():
    """Whether an MPI launcher (``mpirun``, ``mpiexec``, ``srun`` with PMI) started this
    process."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def timeout():
    """``S2S_MPI_TIMEOUT`` in seconds, or :data:`DEFAULT_TIMEOUT`."""
    value = os.environ.get("S2S_MPI_TIMEOUT", "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"S2S_MPI_TIMEOUT={value!r}: expected a number of seconds above 0")
    return seconds


@functools.cache
def world():
    """This process's world: an :class:`MPIWorld` where an MPI launcher started it (its ranks
    then share the host's cores, and each binds to the GPU of its place on the host where there
    is one), else :data:`SINGLE`."""
    if not launched():
        return SINGLE
    mpi = MPIWorld(timeout())
    parallel.share_cores(mpi.local_size)
    backend.use_device(mpi.local_rank)
    return mpi


def run_all(main, *args):
    """``main(*args)`` (an exit status) on this rank, such that no rank is left waiting for one
    that has ended: an exception, or an exit status other than those every rank reaches together
    (:data:`AGREED_EXITS`), stops the whole job."""
    mpi = world()
    try:
        code = main(*args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == 2 and mpi.size > 1:      # a command-line mistake: every rank made it
            raise
    except BaseException:
        if mpi.size == 1:
            raise
        traceback.print_exc()
        mpi.abort("raised the error above")
    if mpi.size > 1 and code not in AGREED_EXITS:
        # a mistake in what the command was given (2) has been named in its own line already
        mpi.abort(None if code == 2 else f"ended with exit status {code}", code)
    return code

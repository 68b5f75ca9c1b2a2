"""Training over several processes: 2 and 3 MPI ranks (mpiexec from the mpich wheel) against one
process, the run folder written by rank 0 alone, resuming with another number of ranks, and a
rank that fails ending the whole job. The jobs are tests/mpi_job.py's."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy
import pytest

import mpi_job
from s2sxp import backend, cli, corpus, distributed, io
from s2sxp.run import Run

MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or not __import__("importlib").util.find_spec("mpi4py"),
    reason="needs mpi4py and an MPI (pip install -e \".[mpi]\")")
JOB = os.path.join(os.path.dirname(__file__), "mpi_job.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpiexec(ranks, *args, timeout=120, env=None):
    """``mpiexec -n ranks python ARGS`` (or ``s2sxp ARGS`` where args[0] is "s2sxp"):
    (exit status, stderr, seconds)."""
    command = ([sys.executable, "-m", "s2sxp", *args[1:]] if args[0] == "s2sxp"
               else [sys.executable, *args])
    env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    for name in distributed.LAUNCHER_VARIABLES:
        env.pop(name, None)
    start = time.monotonic()
    done = subprocess.run([MPIEXEC, "-n", str(ranks), *command], capture_output=True, text=True,
                          timeout=timeout, env=env)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def test_one_process_is_its_own_world():
    world = distributed.world()
    assert world is distributed.SINGLE and not distributed.launched()
    rows = numpy.arange(5)
    assert world.shard(rows) is rows and world.broadcast(3) == 3 and world.allgather(4) == [4]
    assert world.sum([1.5, 2]).tolist() == [1.5, 2.0] and world.any(True)


def test_a_bad_timeout_is_named(monkeypatch):
    monkeypatch.setenv("S2S_MPI_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="S2S_MPI_TIMEOUT='soon'"):
        distributed.timeout()
    monkeypatch.setenv("S2S_MPI_TIMEOUT", "2.5")
    assert distributed.timeout() == 2.5


@needs_mpi
@pytest.mark.parametrize("ranks,job", [(2, "steps"), (3, "steps"), (2, "steps-dropout")])
def test_ranks_sharing_each_batch_make_the_updates_of_one_process(tmp_path, ranks, job):
    """Dropout included: a sentence draws its masks from its own key on whichever rank."""
    code, out, _ = mpiexec(ranks, JOB, job, str(tmp_path))
    assert code == 0, out
    shared = numpy.load(tmp_path / "steps.npz")
    os.makedirs(tmp_path / "one")
    mpi_job.steps(str(tmp_path / "one"), distributed.SINGLE, mpi_job.OPTIONS[job])
    one = numpy.load(tmp_path / "one" / "steps.npz")
    assert len(shared["losses"]) == len(one["losses"]) == mpi_job.STEPS - 1   # the last unreported
    # float32: the ranks sum the same numbers in another order; Adam's m / √v turns the
    # round-off of a gradient near 0 into up to about 1e-6 of a step of 0.01
    numpy.testing.assert_allclose(shared["losses"], one["losses"], rtol=1e-5)
    numpy.testing.assert_allclose(shared["params"], one["params"], rtol=1e-4, atol=1e-5)
    start = mpi_job.model(mpi_job.data(), **mpi_job.OPTIONS[job]).flat_params
    assert numpy.abs(one["params"] - start).max() > 1e-3
    numpy.testing.assert_array_equal(shared["answers"], one["answers"])


def _write_corpus(folder):
    corpus.write_pairs(os.path.join(folder, "pairs.tsv"),
                       corpus.synthetic_pairs(200, seed=0, max_words=4))


@needs_mpi
def test_rank_0_alone_writes_the_run_folder_once_an_epoch(tmp_path):
    _write_corpus(tmp_path)
    code, out, _ = mpiexec(2, JOB, "train", str(tmp_path))
    assert code == 0, out
    assert not (tmp_path / "writes-1.json").exists()
    writes = json.loads((tmp_path / "writes-0.json").read_text())
    assert writes["atomic_write"] == ["config.json", "checkpoint.npz"]      # the start
    assert len(writes["commit"]) == 2                                       # an epoch each
    one = Run.start(str(tmp_path / "one"), mpi_job.config(str(tmp_path)), log=None)
    one.train()
    one.close()
    shared, alone = (json.loads((tmp_path / f / "history.json").read_text())
                     for f in ("run", "one"))
    numpy.testing.assert_allclose(shared["loss"], alone["loss"], rtol=1e-4)
    assert shared["val_bleu"] == pytest.approx(alone["val_bleu"], abs=1e-6)


@needs_mpi
def test_a_stop_asked_on_one_rank_stops_all_and_resumes_in_one_process(tmp_path):
    _write_corpus(tmp_path)
    code, out, _ = mpiexec(2, JOB, "stop", str(tmp_path))
    assert code == 130, out
    stopped = Run.resume(str(tmp_path / "run"), log=None)
    assert stopped.position == "in epoch 1 after iteration 4"      # asked after 3, agreed at 4
    stopped.train()
    stopped.close()
    one = Run.start(str(tmp_path / "one"), mpi_job.config(str(tmp_path)), log=None)
    one.train()
    one.close()
    a, b = (io.load(str(tmp_path / f / "model.npz")) for f in ("run", "one"))
    numpy.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-4, atol=1e-5)  # as above


@needs_mpi
def test_the_ranks_of_a_budgeted_run_keep_rank_0s_clock(tmp_path):
    _write_corpus(tmp_path)
    code, out, _ = mpiexec(2, JOB, "budget", str(tmp_path))
    assert code == 0, out
    one = Run.start(str(tmp_path / "one"), mpi_job.budget_config(str(tmp_path)), log=None,
                    clock=mpi_job.Ticking(1.0))
    one.train()
    one.close()
    shared, alone = (json.loads((tmp_path / f / "history.json").read_text())
                     for f in ("run", "one"))
    assert shared["val_at"] == alone["val_at"] and shared["val_minutes"] == alone["val_minutes"]
    numpy.testing.assert_allclose(shared["loss"], alone["loss"], rtol=1e-4)


@needs_mpi
def test_the_command_line_resumes_a_run_with_another_number_of_ranks(tmp_path):
    _write_corpus(tmp_path)
    data = str(tmp_path / "pairs.tsv")
    flags = ["--model", "bahdanau", "--data", data, "--tokens", "word", "--wordvec-size", "8",
             "--hidden-size", "16", "--batch-size", "30", "--seed", "0"]
    straight = str(tmp_path / "straight")
    assert cli.main(["train", *flags, "--epochs", "3", "--out", straight]) == 0
    mixed = str(tmp_path / "mixed")
    code, out, _ = mpiexec(2, "s2sxp", "train", *flags, "--epochs", "1", "--out", mixed)
    assert code == 0, out
    assert "backend numpy float32, 2 ranks" in out and "[rank 1]" not in out
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", mixed]) == 0
    code, out, _ = mpiexec(3, "s2sxp", "train", "--resume", "--epochs", "3", "--out", mixed)
    assert code == 0, out
    a, b = (io.load(os.path.join(f, "model.npz")) for f in (straight, mixed))
    numpy.testing.assert_allclose(a.flat_params, b.flat_params, rtol=1e-4, atol=1e-5)  # as above


@needs_mpi
def test_a_rank_that_raises_ends_the_job_with_its_error(tmp_path):
    _write_corpus(tmp_path)
    code, out, seconds = mpiexec(2, JOB, "raise", str(tmp_path), timeout=60,
                                 env={"S2S_MPI_TIMEOUT": "30"})
    assert code != 0 and seconds < 30, out
    assert "RuntimeError: a fault made on purpose in rank 1" in out
    assert "s2sxp: rank 1 of 2: raised the error above; stopping all ranks" in out


@needs_mpi
def test_a_rank_that_hangs_ends_the_job_at_the_timeout(tmp_path):
    _write_corpus(tmp_path)
    code, out, seconds = mpiexec(2, JOB, "hang", str(tmp_path), timeout=60,
                                 env={"S2S_MPI_TIMEOUT": "2"})
    assert code == distributed.EXIT_TIMEOUT and seconds < 30, out
    assert ("s2sxp: rank 0 of 2: no answer from the other ranks for 2 s while summing the "
            "losses of epoch 1, iteration 4: one of them has stopped or hangs") in out


@needs_mpi
def test_a_rank_that_dies_ends_the_job(tmp_path):
    _write_corpus(tmp_path)
    code, out, seconds = mpiexec(2, JOB, "exit", str(tmp_path), timeout=60,
                                 env={"S2S_MPI_TIMEOUT": "30"})
    assert code == 7 and seconds < 30, out


@needs_mpi
def test_a_data_error_on_rank_0_is_one_line_and_ends_every_rank(tmp_path):
    code, out, seconds = mpiexec(2, "s2sxp", "train", "--data", str(tmp_path / "missing.tsv"),
                                 "--out", str(tmp_path / "r"), timeout=60)
    assert code == 2 and seconds < 30, out
    assert out.count("s2sxp train: error:") == 1 and "missing.tsv" in out


@needs_mpi
@pytest.mark.skipif(not backend.gpu_available(), reason="CuPy with a usable GPU is not available")
def test_cupy_arrays_are_summed_by_nccl(tmp_path):
    code, out, _ = mpiexec(1, JOB, "nccl", str(tmp_path), env={"S2S_BACKEND": "cupy"})
    assert code == 0, out
    numpy.testing.assert_array_equal(numpy.load(tmp_path / "nccl.npy"), numpy.arange(6))


def test_one_process_needs_neither_mpi4py_nor_an_mpi():
    script = ("import sys, s2sxp, s2sxp.cli.commands, s2sxp.run\n"
              "from s2sxp import distributed\n"
              "assert distributed.world() is distributed.SINGLE\n"
              "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n")
    env = {k: v for k, v in os.environ.items() if k not in distributed.LAUNCHER_VARIABLES}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=dict(env, PYTHONPATH=ROOT), timeout=60)
    assert done.returncode == 0, done.stderr

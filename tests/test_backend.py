"""The backend switch: names, dtypes, fallbacks and the errors a user sees."""
import subprocess
import sys

import numpy
import pytest

import s2sxp
from s2sxp import backend


def test_unknown_backend_lists_the_valid_names():
    with pytest.raises(backend.BackendError, match="numpy, cupy, auto"):
        backend.use("tensorflow")


def test_unknown_dtype_lists_the_valid_ones():
    with pytest.raises(backend.BackendError, match="float32, float64"):
        backend.use("numpy", dtype="float16")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is usable here")
def test_cupy_without_a_gpu_says_what_is_missing():
    with pytest.raises(backend.BackendError, match="CuPy|GPU"):
        backend.use("cupy")


@pytest.mark.skipif(backend.gpu_available(), reason="a GPU is usable here")
def test_auto_falls_back_to_numpy_with_a_notice(capsys):
    try:
        backend.use("auto")
        assert backend.xp is numpy and backend.name() == "numpy"
        assert "using NumPy" in capsys.readouterr().err
    finally:
        backend.use("numpy")


def test_environment_variables_choose_backend_and_dtype():
    code = ("import s2sxp; from s2sxp import backend; "
            "m = s2sxp.Seq2seq(5, 2, 3); print(backend.name(), m.params[0].dtype)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"S2S_BACKEND": "numpy", "S2S_DTYPE": "float64",
                              "PATH": "", "PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.split() == ["numpy", "float64"]


def test_bad_environment_variable_is_reported_at_first_use():
    code = "from s2sxp import backend; backend.xp"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"S2S_BACKEND": "gpu", "PYTHONPATH": ":".join(sys.path)})
    assert out.returncode != 0 and "unknown backend 'gpu'" in out.stderr


def test_models_use_the_dtype_chosen_before_they_are_built(xp):
    assert s2sxp.AttentionSeq2seq(5, 2, 3).flat_params.dtype == numpy.float64
    backend.use(backend.name(), dtype="float32")
    model = s2sxp.AttentionSeq2seq(5, 2, 3)
    assert model.flat_params.dtype == numpy.float32
    loss = model.forward(numpy.zeros((2, 4), int), numpy.ones((2, 3), int))
    assert loss.dtype == numpy.float32


def test_array_helpers(xp):
    a = xp.arange(3.0)
    assert backend.get_array_module(a) is xp
    assert backend.get_array_module(numpy.arange(3)) is numpy
    assert isinstance(backend.asnumpy(a), numpy.ndarray)
    moved = backend.to_device(numpy.arange(3), numpy.float32)
    assert backend.get_array_module(moved) is xp and moved.dtype == numpy.float32


needs_fp_modes = pytest.mark.skipif(backend._fp_modes() is None,
                                    reason="the FTZ/DAZ mode is set on x86-64 Linux only")


@needs_fp_modes
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_flush_denormals_zeroes_subnormal_numbers_inside_only(dtype):
    tiny = numpy.finfo(dtype).tiny
    subnormal = numpy.full(4, tiny / 8, dtype=dtype)
    with backend.flush_denormals():
        assert (subnormal * 1 == 0).all()                     # read as zero
        assert (numpy.full(4, tiny, dtype=dtype) / 8 == 0).all()   # and never made
        with backend.flush_denormals():                       # nested: still on
            assert (subnormal * 1 == 0).all()
        assert (subnormal * 1 == 0).all()
    assert (subnormal * 1 == subnormal).all()


@needs_fp_modes
def test_flush_denormals_is_undone_after_an_error():
    subnormal = numpy.full(4, numpy.finfo(numpy.float32).tiny / 8, dtype=numpy.float32)
    with pytest.raises(KeyError):
        with backend.flush_denormals():
            raise KeyError("body")
    assert (subnormal * 1 == subnormal).all()


@needs_fp_modes
@pytest.mark.parametrize("impl,rows", [("fused", 2), ("fused", 70), ("reference", 2)])
def test_models_compute_with_denormals_flushed(monkeypatch, xp32, impl, rows):
    """forward, backward and generate of every model run in the flushed mode, in every thread of
    a split batch (70 rows on two threads), and leave it."""
    from s2sxp.models.attention import AttentionEncoder
    monkeypatch.setenv("S2S_THREADS", "2")
    seen = []

    def probe(f):
        def run(*args):
            seen.append(float(numpy.float32(1e-39) * numpy.float32(1)))
            return f(*args)
        return run

    for name in ("forward", "backward"):
        monkeypatch.setattr(AttentionEncoder, name, probe(getattr(AttentionEncoder, name)))
    model = s2sxp.models.build("attention", 9, 3, 5, seed=0, impl=impl)
    xs = numpy.zeros((rows, 4), dtype=numpy.int32)
    model.forward(xs, xs)
    model.backward()
    model.generate_batch(xs, 0, 3)
    assert seen and seen == [0.0] * len(seen)
    assert len(seen) == 3 * (len(model._shares) if model._shares else 1)
    assert float(numpy.float32(1e-39) * numpy.float32(1)) != 0


OTHER_BACKENDS = [
    pytest.param(("numpy", "float64"), id="numpy-float64"),
    pytest.param(("cupy", "float64"), id="cupy-float64", marks=pytest.mark.skipif(
        not backend.gpu_available(), reason="CuPy with a usable GPU is not available")),
]


@pytest.mark.parametrize("other", OTHER_BACKENDS)
def test_a_model_and_its_training_keep_their_arrays_when_the_backend_changes(
        xp32, other, monkeypatch, tmp_path):
    """Built on one backend, then backend.use(another): training, split decoding, a trainer
    carried on mid-epoch and a checkpoint restored all stay on the model's own arrays."""
    from s2sxp import Adam, Trainer, io, models
    from s2sxp.trainer import TrainingInterrupted

    rng = numpy.random.default_rng(0)
    x, t = rng.integers(0, 9, (64, 6)), rng.integers(0, 9, (64, 5))
    model = models.build("attention", 9, 4, 8, seed=0)
    xp, dtype = model.xp, model.flat_params.dtype
    optimizer = Adam()
    Trainer(model, optimizer, seed=0, log=None).fit(x, t, max_epoch=1, batch_size=16)

    def on_model_arrays(arrays):
        return all(backend.get_array_module(a) is xp and a.dtype == dtype for a in arrays)

    backend.use(*other)
    monkeypatch.setenv("S2S_THREADS", "2")
    trainer = Trainer(model, optimizer, seed=1, log=None)
    trainer.stop()
    with pytest.raises(TrainingInterrupted):
        trainer.fit(x, t, max_epoch=1, batch_size=16)                # one iteration, then stop
    carried = Trainer(model, optimizer, seed=1, log=None)
    carried.load_state_dict(trainer.state_dict())
    carried.fit(x, t, max_epoch=1, batch_size=16)
    assert on_model_arrays(model.params + optimizer.m + optimizer.v)

    out = model.generate_batch(x, 1, 4)                              # split over two threads
    assert out.shape == (64, 4)
    assert all(on_model_arrays([r.flat_params, r.flat_grads]) for r in model._replicas)

    io.save_checkpoint(tmp_path / "c.npz", model, optimizer, carried)
    carried.fit(x, t, max_epoch=1, batch_size=16)
    io.restore(io.read_checkpoint(tmp_path / "c.npz"), model, optimizer, carried)
    carried.fit(x, t, max_epoch=1, batch_size=16)
    assert on_model_arrays(model.params + optimizer.m + optimizer.v)
    assert numpy.isfinite(float(model.forward(x, t)))


def test_importing_s2sxp_and_drawing_leave_matplotlibs_backend_alone(tmp_path):
    script = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "import s2sxp, s2sxp.cli, s2sxp.viz\n"
        f"s2sxp.viz.plot_loss({{'a': ([1, 2], [3, 1])}}, {str(tmp_path / 'loss.png')!r})\n"
        "print(matplotlib.get_backend())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "svg"
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"

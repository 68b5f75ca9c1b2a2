"""The batch split over threads: the threaded kernels and models equal the single-threaded ones."""
import threading
import warnings

import numpy
import pytest

from s2sxp import backend, kernels, models, parallel

needs_blas_control = pytest.mark.skipif(parallel._openblas() is None,
                                        reason="BLAS thread count cannot be set here")


def _randn(xp, rng, *shape, scale=1.0):
    return xp.asarray(rng.standard_normal(shape) * scale)


def _assert_all_close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        numpy.testing.assert_allclose(backend.asnumpy(g), backend.asnumpy(w), rtol=1e-12,
                                      atol=1e-13, err_msg=f"{what}, output {i}")


def _with_threads(monkeypatch, n, f, *args):
    monkeypatch.setenv("S2S_THREADS", str(n))
    return f(*args)


def test_blocks_cover_the_range_in_order():
    assert parallel.blocks(128, 2) == [slice(0, 64), slice(64, 128)]
    assert parallel.blocks(100, 3, min_block=32) == [slice(0, 33), slice(33, 66), slice(66, 100)]
    assert parallel.blocks(63, 2) == [slice(0, 63)]
    assert parallel.blocks(5, 4) == [slice(0, 5)]


def test_threads_come_from_S2S_THREADS(monkeypatch):
    monkeypatch.setenv("S2S_THREADS", "3")
    assert parallel.threads() == 3
    monkeypatch.delenv("S2S_THREADS")
    assert parallel.threads() >= 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("S2S_THREADS", bad)
        with pytest.raises(ValueError, match="S2S_THREADS"):
            parallel.threads()


@needs_blas_control
def test_for_blocks_runs_each_block_once_in_its_own_thread(monkeypatch):
    monkeypatch.setenv("S2S_THREADS", "2")
    seen = {}

    def body(rows):
        seen[(rows.start, rows.stop)] = (threading.get_ident(), parallel._openblas()[1]())

    parallel.for_blocks(numpy, 128, body)
    assert sorted(seen) == [(0, 64), (64, 128)]
    assert len({ident for ident, _ in seen.values()}) == 2
    assert all(blas == 1 for _, blas in seen.values())


@needs_blas_control
def test_blas_threads_are_restored_after_a_split(monkeypatch):
    get_threads = parallel._openblas()[1]
    before = get_threads()
    monkeypatch.setenv("S2S_THREADS", "2")
    with parallel.region(numpy):
        assert get_threads() == 1
        parallel.for_blocks(numpy, 128, lambda rows: None)
        assert get_threads() == 1
    assert get_threads() == before


@needs_blas_control
def test_an_error_in_a_block_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("S2S_THREADS", "2")

    def body(rows):
        if rows.start:
            raise RuntimeError("block failed")

    with pytest.raises(RuntimeError, match="block failed"):
        parallel.for_blocks(numpy, 128, body)


@needs_blas_control
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_threaded_recurrent_kernels_equal_single_threaded(monkeypatch, rng, cell):
    xp = numpy
    N, T, D, H, G = 96, 5, 4, 6, {"lstm": 4, "gru": 3}[cell]
    k = getattr(kernels, cell)
    xs = _randn(xp, rng, N, T, D, scale=2)
    states = [_randn(xp, rng, N, H) for _ in range(2 if cell == "lstm" else 1)]
    weights = _randn(xp, rng, D, G * H), _randn(xp, rng, H, G * H), _randn(xp, rng, G * H)
    dhs = _randn(xp, rng, N, T, H)
    finals = [_randn(xp, rng, N, H) for _ in states]

    def run(n):
        hs, last, cache = _with_threads(monkeypatch, n, k.forward, xs, *states, *weights)
        *dstates, grads = _with_threads(monkeypatch, n, k.backward, dhs, *finals, cache)
        return [hs, *(last if cell == "lstm" else [last]), *dstates, *grads]

    _assert_all_close(run(2), run(1), f"{cell} forward and backward")


@needs_blas_control
def test_threaded_attention_kernel_equals_single_threaded(monkeypatch, rng):
    xp = numpy
    hs_enc, hs_dec = _randn(xp, rng, 80, 7, 5), _randn(xp, rng, 80, 4, 5)
    dcs = _randn(xp, rng, 80, 4, 5)

    def run(n):
        cs, a, cache = _with_threads(monkeypatch, n, kernels.attention.forward, hs_enc, hs_dec)
        return (cs, a, *_with_threads(monkeypatch, n, kernels.attention.backward, dcs, cache))

    _assert_all_close(run(1), run(2), "attention")


@needs_blas_control
@pytest.mark.parametrize("kind,cell", [("seq2seq", "lstm"), ("peeky", "lstm"),
                                       ("attention", "lstm"), ("bahdanau", "gru"),
                                       ("bahdanau", "lstm")])
def test_threaded_model_step_equals_single_threaded(monkeypatch, xp, rng, kind, cell):
    if xp is not numpy:
        pytest.skip("the batch split is for NumPy on the CPU")
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))

    def run(n):
        monkeypatch.setenv("S2S_THREADS", str(n))
        model = models.build(kind, 9, 3, 5, seed=3, cell=cell)
        loss = model.forward(xs, ts)
        model.backward()
        return loss, model.flat_grads, model.generate(xs, 1, 4)

    (loss1, grads1, gen1), (loss2, grads2, gen2) = run(1), run(2)
    assert float(loss2) == pytest.approx(float(loss1), rel=1e-12)
    numpy.testing.assert_allclose(grads2, grads1, rtol=1e-10, atol=1e-13)
    numpy.testing.assert_array_equal(gen2, gen1)


@needs_blas_control
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_threads_do_not_warn_when_gates_saturate(monkeypatch, rng, cell):
    """exp overflowing to inf is expected in every thread (NumPy's errstate is per thread)."""
    monkeypatch.setenv("S2S_THREADS", "2")
    N, T, D, H, G = 64, 3, 2, 4, {"lstm": 4, "gru": 3}[cell]
    f = numpy.float32
    xs = (rng.standard_normal((N, T, D)) * 1e4).astype(f)
    states = [numpy.zeros((N, H), f)] * (2 if cell == "lstm" else 1)
    weights = [rng.standard_normal(s).astype(f) for s in ((D, G * H), (H, G * H), (G * H,))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(kernels, cell).forward(xs, *states, *weights)



@needs_blas_control
def test_parallel_matmul_equals_matmul(monkeypatch, rng):
    monkeypatch.setenv("S2S_THREADS", "2")
    a, b = rng.standard_normal((130, 20)), rng.standard_normal((20, 7))
    numpy.testing.assert_allclose(parallel.matmul(a, b), a @ b, rtol=1e-13)
    out = numpy.empty((130, 7))
    assert parallel.matmul(a, b, out=out) is out
    numpy.testing.assert_allclose(out, a @ b, rtol=1e-13)

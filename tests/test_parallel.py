"""The batch split over threads: the threaded kernels and models equal the single-threaded ones."""
import threading
import warnings

import numpy
import pytest

from s2sxp import backend, kernels, models, parallel, precision

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
@pytest.mark.parametrize("kind,cell,options", [
    ("seq2seq", "lstm", {}), ("peeky", "lstm", {}), ("attention", "lstm", {}),
    ("bahdanau", "gru", {}), ("bahdanau", "lstm", {}),
    ("bahdanau", "gru", {"encoder_layers": 2, "bidirectional": True, "dropout": 0.3})])
def test_threaded_model_step_equals_single_threaded(monkeypatch, xp, rng, kind, cell, options):
    """Each share of a split batch draws the dropout masks its rows have unsplit."""
    if xp is not numpy:
        pytest.skip("the batch split is for NumPy on the CPU")
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))

    def run(n):
        monkeypatch.setenv("S2S_THREADS", str(n))
        model = models.build(kind, 9, 3, 5, seed=3, cell=cell, **options)
        loss = model.forward(xs, ts)
        model.backward()
        return loss, model.flat_grads, model.generate_batch(xs, 1, 4)

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
    mm = precision.products(numpy)
    numpy.testing.assert_allclose(parallel.matmul(mm, a, b), a @ b, rtol=1e-13)
    out = numpy.empty((130, 7))
    assert parallel.matmul(mm, a, b, out=out) is out
    numpy.testing.assert_allclose(out, a @ b, rtol=1e-13)


def _numpy_only(xp):
    if xp is not numpy:
        pytest.skip("the batch split is for NumPy on the CPU")


def _model_run(monkeypatch, n_threads, kind, xs, ts, cell="lstm", build=None):
    monkeypatch.setenv("S2S_THREADS", str(n_threads))
    model = build() if build else models.build(kind, 9, 3, 5, seed=3, cell=cell)
    loss = model.forward(xs, ts)
    weights = model.attention_weights
    model.backward()
    return model, float(loss), model.flat_grads.copy(), weights


@needs_blas_control
def test_a_split_batch_runs_in_replicas_sharing_the_parameters(monkeypatch, xp, rng):
    _numpy_only(xp)
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))
    model, *_ = _model_run(monkeypatch, 2, "attention", xs, ts)
    (first, rows0), (replica, rows1) = model._shares
    assert first is model and replica is not model
    assert (rows0, rows1) == (slice(0, 35), slice(35, 70))
    for mine, theirs in zip(model._layers, replica._layers):
        assert all(a is b for a, b in zip(mine.params, theirs.params))
    assert not numpy.shares_memory(replica.flat_grads, model.flat_grads)
    model.forward(xs[:40], ts[:40])                      # too small to split
    assert model._shares is None


@needs_blas_control
@pytest.mark.parametrize("kind,cell", [("attention", "lstm"), ("bahdanau", "gru")])
def test_a_split_batch_keeps_the_attention_weights_of_every_row(monkeypatch, xp, rng, kind, cell):
    _numpy_only(xp)
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))
    *_, w1 = _model_run(monkeypatch, 1, kind, xs, ts, cell)
    model, *_, w2 = _model_run(monkeypatch, 2, kind, xs, ts, cell)
    assert w2.shape == (70, 4, 6)
    numpy.testing.assert_allclose(w2, w1, rtol=1e-12)
    model.generate_batch(xs, 1, 3)
    assert model.attention_weights.shape == (70, 3, 6)


@needs_blas_control
def test_a_split_batch_weighs_each_share_by_its_targets(monkeypatch, xp, rng):
    """With ignored targets spread unevenly over the shares, the loss is still the mean over all
    counted targets, and the gradients those of that mean."""
    _numpy_only(xp)
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))
    ts[40:, 2:] = -1                                      # most of the second share ignored
    _, loss1, grads1, _ = _model_run(monkeypatch, 1, "seq2seq", xs, ts)
    _, loss2, grads2, _ = _model_run(monkeypatch, 2, "seq2seq", xs, ts)
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    numpy.testing.assert_allclose(grads2, grads1, rtol=1e-10, atol=1e-13)


@needs_blas_control
def test_a_split_batch_follows_rebound_parameters_and_the_model_dtype(monkeypatch, xp, rng):
    _numpy_only(xp)
    xs, ts = rng.integers(0, 9, (70, 6)), rng.integers(0, 9, (70, 5))
    model = models.build("seq2seq", 9, 3, 5, seed=3)
    _model_run(monkeypatch, 2, None, xs, ts, build=lambda: model)   # replicas made
    backend.use("numpy", dtype="float32")                  # models built now would be float32
    W = model.decoder.affine.params[0]
    model.decoder.affine.params[0] = W * 2                 # a new array, not a view of the buffer
    _, loss2, grads2, _ = _model_run(monkeypatch, 2, None, xs, ts, build=lambda: model)
    _, loss1, grads1, _ = _model_run(monkeypatch, 1, None, xs, ts, build=lambda: model)
    assert model._replicas[0].flat_grads.dtype == numpy.float64
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    numpy.testing.assert_allclose(grads2, grads1, rtol=1e-10, atol=1e-13)


@needs_blas_control
def test_nothing_splits_again_inside_a_share(monkeypatch):
    monkeypatch.setenv("S2S_THREADS", "2")
    seen = []

    def share():
        parallel.for_blocks(numpy, 200, lambda rows: seen.append(rows))
        return len(parallel.shares(numpy, 200))

    assert parallel.run_parts([share, share]) == [1, 1]
    assert seen == [slice(0, 200)] * 2
    assert len(parallel.shares(numpy, 200)) == 2            # and again outside


@needs_blas_control
def test_an_error_in_a_share_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("S2S_THREADS", "2")

    def fail():
        raise KeyError("share")

    with pytest.raises(KeyError, match="share"):
        parallel.run_parts([lambda: 1, fail])
    assert parallel.run_parts([lambda: 1, lambda: 2]) == [1, 2]


@needs_blas_control
@pytest.mark.skipif(parallel.usable_cores() < 2, reason="one usable core: nothing splits")
def test_by_default_decoding_splits_over_the_cores_and_training_does_not(xp32, monkeypatch):
    monkeypatch.delenv("S2S_THREADS", raising=False)
    assert parallel.threads() == 1
    with parallel.decoding():
        assert parallel.threads() == parallel.usable_cores()
    model = models.build("attention", 12, 4, 8, seed=0)
    rng = numpy.random.default_rng(0)
    xs, ts = rng.integers(0, 12, (128, 6)), rng.integers(0, 12, (128, 4))
    model.forward(xs, ts)
    assert model._shares is None
    model.backward()
    model.generate_batch(xs, 0, 3)
    assert model._shares is not None and len(model._shares) == min(parallel.usable_cores(), 4)
    monkeypatch.setenv("S2S_THREADS", "2")
    model.forward(xs, ts)
    assert len(model._shares) == 2

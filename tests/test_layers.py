"""Float64 numerical gradient checks of every layer."""
import numpy
import pytest

from s2sxp import backend, layers
from s2sxp.layers import TimeSoftmaxWithLoss
from gradcheck import check_layer, assert_grad_close, numerical_grad


def _randn(xp, rng, *shape, scale=1.0):
    return xp.asarray(rng.standard_normal(shape) * scale)


def test_embedding_backward_accumulates_repeated_ids(xp, rng):
    W = _randn(xp, rng, 6, 3)
    layer = layers.TimeEmbedding(W)
    ids = xp.asarray([[0, 1, 1], [4, 1, 0]])                # 2, 3 and 5 unused
    check_layer(layer, (ids,), layer.forward, "TimeEmbedding")
    many = xp.asarray(rng.integers(0, 6, (7, 9)))
    layer.forward(many)
    dout = _randn(xp, rng, 7, 9, 3)
    layer.backward(dout)
    want = numpy.zeros((6, 3))
    numpy.add.at(want, backend.asnumpy(many).reshape(-1), backend.asnumpy(dout).reshape(-1, 3))
    numpy.testing.assert_allclose(backend.asnumpy(layer.grads[0]), want, rtol=1e-12)


def test_affine_split_over_threads_equals_one_block(xp, rng, monkeypatch):
    """Rows of x (and of W for dW) in blocks, one thread each, where the CPU has the cores."""
    x, dout = _randn(xp, rng, 150, 70), _randn(xp, rng, 150, 6)

    def run(threads):
        monkeypatch.setenv("S2S_THREADS", str(threads))
        layer = layers.Affine(_randn(xp, numpy.random.default_rng(1), 70, 6),
                              _randn(xp, numpy.random.default_rng(2), 6))
        return [layer.forward(x), layer.backward(dout), *layer.grads]

    for got, want in zip(run(2), run(1)):
        numpy.testing.assert_allclose(backend.asnumpy(got), backend.asnumpy(want), rtol=1e-12)


def test_affine_gradients(xp, rng):
    layer = layers.Affine(_randn(xp, rng, 4, 3), _randn(xp, rng, 3))
    check_layer(layer, (_randn(xp, rng, 2, 4),), layer.forward, "Affine")


def test_time_affine_gradients(xp, rng):
    layer = layers.TimeAffine(_randn(xp, rng, 4, 3), _randn(xp, rng, 3))
    check_layer(layer, (_randn(xp, rng, 2, 5, 4),), layer.forward, "TimeAffine")


def test_softmax_gradients(xp, rng):
    layer = layers.Softmax()
    check_layer(layer, (_randn(xp, rng, 2, 3, 5),), layer.forward, "Softmax")


def test_time_softmax_with_loss_gradients_and_ignore_label(xp, rng):
    layer = layers.TimeSoftmaxWithLoss()
    xs = _randn(xp, rng, 2, 4, 5)
    ts = xp.asarray([[0, 3, -1, 2], [4, -1, 1, 1]])
    loss = lambda: layer.forward(xs, ts)
    loss()
    assert_grad_close("TimeSoftmaxWithLoss", layer.backward(), numerical_grad(loss, xs))
    p = numpy.exp(numpy.asarray(xs.get() if hasattr(xs, "get") else xs))
    p /= p.sum(axis=2, keepdims=True)
    t = numpy.asarray(ts.get() if hasattr(ts, "get") else ts)
    keep = t != -1
    expected = -numpy.log(p[keep, t[keep]]).mean()
    assert float(loss()) == pytest.approx(expected, rel=1e-12)


def test_time_softmax_with_loss_stays_finite_where_the_target_probability_underflows(xp32):
    """A confident wrong score: softmax gives the target exactly 0 in float32, the loss is still
    the exact cross-entropy (a large finite number), and the gradient is finite."""
    layer = layers.TimeSoftmaxWithLoss()
    xs = xp32.zeros((1, 2, 3), dtype="float32")
    xs[0, 0, 0] = 200.0
    loss = float(layer.forward(xs, xp32.asarray([[1, 0]])))
    expected = (200.0 + numpy.log1p(2 * numpy.exp(-200.0)) + numpy.log(3.0)) / 2
    assert loss == pytest.approx(expected, rel=1e-6)
    assert bool(xp32.isfinite(layer.backward()).all())


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_layer_gradients(xp, rng, cell, impl):
    layer_class, gates = layers.CELLS[cell]
    N, T, D, H = 2, 4, 3, 4
    layer = layer_class(_randn(xp, rng, D, gates * H), _randn(xp, rng, H, gates * H),
                        _randn(xp, rng, gates * H), impl=impl)
    check_layer(layer, (_randn(xp, rng, N, T, D),), layer.forward, f"Time{cell.upper()} {impl}")


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_layer_peek_gradients(xp, rng, cell, impl):
    layer_class, gates = layers.CELLS[cell]
    N, T, P, D, H = 2, 4, 3, 2, 4
    layer = layer_class(_randn(xp, rng, P + D, gates * H), _randn(xp, rng, H, gates * H),
                        _randn(xp, rng, gates * H), impl=impl)
    xs, peek = _randn(xp, rng, N, T, D), _randn(xp, rng, N, P)
    check_layer(layer, (xs,), lambda xs: layer.forward(xs, peek=peek), f"{cell} {impl} peek")
    w = _randn(xp, rng, N, T, H)
    loss = lambda: float((layer.forward(xs, peek=peek) * w).sum())
    loss()
    layer.backward(w)
    assert_grad_close(f"{cell} {impl} dpeek", layer.dpeek, numerical_grad(loss, peek))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_peek_equals_reference_peek(xp, rng, cell):
    layer_class, gates = layers.CELLS[cell]
    N, T, P, D, H = 3, 5, 4, 2, 3
    weights = [_randn(xp, rng, P + D, gates * H), _randn(xp, rng, H, gates * H),
               _randn(xp, rng, gates * H)]
    xs, peek, dhs = _randn(xp, rng, N, T, D), _randn(xp, rng, N, P), _randn(xp, rng, N, T, H)
    results = []
    for impl in layers.IMPLS:
        layer = layer_class(*[w.copy() for w in weights], impl=impl)
        hs = layer.forward(xs, peek=peek)
        dxs = layer.backward(dhs)
        results.append([hs, dxs, layer.dpeek, *layer.grads])
    for got, want in zip(*results):
        numpy.testing.assert_allclose(backend.asnumpy(got), backend.asnumpy(want), rtol=1e-10,
                                      atol=1e-12)


@pytest.mark.parametrize("impl", layers.IMPLS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_backward_from_the_last_output_only(xp, rng, cell, impl):
    """backward(None, dh) (an encoder whose last state is all that reaches the decoder) equals
    backward of a dhs that is zero but at the last step, and matches the numerical gradient."""
    layer_class, gates = layers.CELLS[cell]
    N, T, D, H = 2, 4, 3, 4
    layer = layer_class(_randn(xp, rng, D, gates * H), _randn(xp, rng, H, gates * H),
                        _randn(xp, rng, gates * H), impl=impl)
    xs, dh = _randn(xp, rng, N, T, D), _randn(xp, rng, N, H)
    loss = lambda: float((layer.forward(xs)[:, -1] * dh).sum())
    loss()
    dxs = layer.backward(None, dh)
    grads = [g.copy() for g in layer.grads]
    dhs = xp.zeros((N, T, H))
    dhs[:, -1] = dh
    layer.forward(xs)
    for got, want in zip((dxs, *grads), (layer.backward(dhs), *layer.grads)):
        numpy.testing.assert_allclose(backend.asnumpy(got), backend.asnumpy(want), rtol=1e-12,
                                      atol=1e-14)
    assert_grad_close(f"{cell} {impl} dxs", dxs, numerical_grad(loss, xs))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stateful_layer_reports_gradient_of_initial_state(xp, rng, cell):
    layer_class, gates = layers.CELLS[cell]
    N, T, D, H = 2, 3, 3, 4
    layer = layer_class(_randn(xp, rng, D, gates * H), _randn(xp, rng, H, gates * H),
                        _randn(xp, rng, gates * H), stateful=True)
    xs, h0 = _randn(xp, rng, N, T, D), _randn(xp, rng, N, H)
    w = _randn(xp, rng, N, T, H)

    def loss():
        layer.set_state(h0)
        return float((layer.forward(xs) * w).sum())

    loss()
    layer.backward(w)
    assert_grad_close(f"{cell} dh0", layer.dh, numerical_grad(loss, h0))


@pytest.mark.parametrize("impl", layers.IMPLS)
def test_time_attention_gradients(xp, rng, impl):
    layer = layers.TimeAttention(impl=impl)
    inputs = (_randn(xp, rng, 2, 5, 3), _randn(xp, rng, 2, 4, 3))
    check_layer(layer, inputs, layer.forward, f"TimeAttention {impl}")
    assert layer.attention_weights.shape == (2, 4, 5)


def test_unknown_impl_is_refused(xp, rng):
    with pytest.raises(ValueError, match="fused, reference"):
        layers.TimeAttention(impl="fast")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_smoothed_loss_and_its_gradient(xp, rng, smoothing):
    """Against the loss written out: -(1 - ε)·log p[t] - ε·mean_v log p[v] over the counted
    targets, and the numerical gradient."""
    N, T, V = 3, 4, 6
    xs = xp.asarray(rng.standard_normal((N, T, V)))
    ts = rng.integers(0, V, (N, T))
    ts[1, 2:] = -1                                            # ignored
    layer = TimeSoftmaxWithLoss(smoothing=smoothing)
    loss = float(layer.forward(xs, xp.asarray(ts)))
    x = backend.asnumpy(xs)
    log_p = x - x.max(axis=2, keepdims=True)
    log_p -= numpy.log(numpy.exp(log_p).sum(axis=2, keepdims=True))
    kept = ts != -1
    want = -((1 - smoothing) * numpy.take_along_axis(log_p, numpy.where(kept, ts, 0)[..., None],
                                                     axis=2)[..., 0]
             + smoothing * log_p.mean(axis=2))[kept].mean()
    assert loss == pytest.approx(want, rel=1e-10)
    dx = backend.asnumpy(layer.backward())
    assert_grad_close(f"smoothing {smoothing}", dx,
                      numerical_grad(lambda: layer.forward(xs, xp.asarray(ts)), xs))

"""Numerical gradient checks that explain themselves on failure."""
import numpy

from s2sxp import backend


def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of array x (in place)."""
    grad = numpy.zeros(x.shape)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = float(flat[i])
        flat[i] = old + eps
        plus = float(f())
        flat[i] = old - eps
        minus = float(f())
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def assert_grad_close(name, analytic, numeric, rtol=1e-5, atol=1e-7):
    """Compare gradients; on failure say which array, the worst entry and both values."""
    analytic = backend.asnumpy(analytic).astype(numpy.float64)
    numeric = numpy.asarray(numeric, dtype=numpy.float64)
    assert analytic.shape == numeric.shape, f"{name}: shape {analytic.shape} != {numeric.shape}"
    err = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
    if err.size and err.max() > 0:
        worst = numpy.unravel_index(err.argmax(), err.shape)
        raise AssertionError(f"{name}: gradient mismatch at {worst}: analytic "
                             f"{analytic[worst]:.10g}, numerical {numeric[worst]:.10g} "
                             f"(max abs diff {numpy.abs(analytic - numeric).max():.3g})")


def check_layer(layer, inputs, forward, name):
    """Gradient check of ``forward(*inputs) -> output`` against ``layer.backward``.

    The loss is Σ output ⊙ W for a fixed random W; checks every parameter and every float input.
    """
    xp = backend.xp
    out = forward(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    rng = numpy.random.default_rng(1)
    weights = [xp.asarray(rng.standard_normal(o.shape)) for o in outs]

    def loss():
        o = forward(*inputs)
        o = o if isinstance(o, tuple) else (o,)
        return sum(float((a * w).sum()) for a, w in zip(o, weights))

    loss()
    dinputs = layer.backward(*weights)
    dinputs = dinputs if isinstance(dinputs, tuple) else (dinputs,)
    grads = [backend.asnumpy(g).copy() for g in layer.grads]
    for i, p in enumerate(layer.params):
        assert_grad_close(f"{name} param {i}", grads[i], numerical_grad(loss, p))
    for i, (x, dx) in enumerate(zip(inputs, dinputs)):
        if dx is not None and x.dtype.kind == "f":
            assert_grad_close(f"{name} input {i}", dx, numerical_grad(loss, x))


def check_model(model, xs, ts, name, keys=None):
    """Gradient check of a model's loss ``forward(xs, ts)`` against ``model.backward()``; a
    model with dropout draws the masks of rows ``keys`` (default 0 .. N-1) every time."""
    if getattr(model, "noise", None) is not None and keys is None:
        keys = numpy.arange(len(xs))
    loss = lambda: model.forward(xs, ts, **({} if keys is None else {"keys": keys}))
    loss()
    model.backward()
    grads = [backend.asnumpy(g).copy() for g in model.grads]
    for i, p in enumerate(model.params):
        assert_grad_close(f"{name} param {i}", grads[i], numerical_grad(loss, p))

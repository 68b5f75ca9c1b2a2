"""Optimisers and clipping against the book's formulas."""
import math

import numpy
import pytest

from s2sxp import backend, models, optim
from s2sxp.optim import SGD, Adam, clip_grads, halving


def _book_adam(params, grads, steps, lr=0.001, beta1=0.9, beta2=0.999):
    m = [numpy.zeros_like(p) for p in params]
    v = [numpy.zeros_like(p) for p in params]
    for it in range(1, steps + 1):
        lr_t = lr * numpy.sqrt(1.0 - beta2 ** it) / (1.0 - beta1 ** it)
        for i in range(len(params)):
            m[i] += (1 - beta1) * (grads[i] - m[i])
            v[i] += (1 - beta2) * (grads[i] ** 2 - v[i])
            params[i] -= lr_t * m[i] / (numpy.sqrt(v[i]) + 1e-7)
    return params


def test_adam_on_flat_buffer_equals_books_per_parameter_update(xp, rng):
    model = models.build("seq2seq", 5, 2, 3, seed=0)
    start = [backend.asnumpy(p).copy() for p in model.params]
    grads = [rng.standard_normal(p.shape) for p in model.params]
    for g, new in zip(model.grads, grads):
        g[...] = xp.asarray(new)
    opt = Adam(lr=0.01)
    for _ in range(3):
        opt.step(model)
    expected = _book_adam(start, grads, 3, lr=0.01)
    for p, e in zip(model.params, expected):
        numpy.testing.assert_allclose(backend.asnumpy(p), e, rtol=1e-10, atol=1e-12)


def test_sgd_step(xp):
    p, g = xp.asarray([1.0, 2.0]), xp.asarray([0.5, -1.0])
    SGD(lr=0.1).update([p], [g])
    numpy.testing.assert_allclose(backend.asnumpy(p), [0.95, 2.1])


def test_clip_grads_scales_to_max_norm_only_when_above(xp):
    grads = [xp.asarray([3.0, 0.0]), xp.asarray([[4.0]])]
    clip_grads(grads, 1.0)
    norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
    assert norm == pytest.approx(1.0, rel=1e-5)
    small = [xp.asarray([0.3, 0.4])]
    clip_grads(small, 1.0)
    numpy.testing.assert_allclose(backend.asnumpy(small[0]), [0.3, 0.4])


def test_adam_state_round_trip(xp):
    opt = Adam(lr=0.02)
    p, g = [xp.asarray([1.0, -1.0])], [xp.asarray([0.1, 0.2])]
    opt.update(p, g)
    twin = Adam()
    twin.load_state_dict(opt.state_dict())
    q = [p[0].copy()]
    opt.update(p, g)
    twin.update(q, g)
    numpy.testing.assert_array_equal(backend.asnumpy(p[0]), backend.asnumpy(q[0]))


def test_adam_split_over_threads_equals_books_update(xp, rng, monkeypatch):
    """A flat buffer large enough to be updated in blocks, one thread each, on a multi-core CPU."""
    monkeypatch.setenv("S2S_THREADS", "2")
    p, g = rng.standard_normal(300_000), rng.standard_normal(300_000)
    want = _book_adam([p.copy()], [g], 3)[0]
    param = xp.asarray(p)
    opt = Adam()
    for _ in range(3):
        opt.update([param], [xp.asarray(g)])
    numpy.testing.assert_allclose(backend.asnumpy(param), want, rtol=1e-10, atol=1e-12)


def test_halving_halves_the_rate_every_half_life_and_zero_keeps_it():
    assert halving(0.01, 350, 0) == 0.01
    assert halving(0.01, 350, 350) == pytest.approx(0.005)
    assert halving(0.01, 350, 700) == pytest.approx(0.0025)
    assert halving(0.01, 350, 175) == pytest.approx(0.01 / 2 ** 0.5)
    assert halving(0.01, 0, 10_000) == 0.01


def test_stalls_count_the_validations_since_the_best():
    assert optim.stalls([10, 12, 11, 11, 13, 12]) == [0, 0, 1, 2, 0, 1]
    assert optim.stalls([5, 5]) == [0, 1]


def test_the_rate_halves_on_each_plateau_of_the_scores():
    scores = [10, 12, 11, 11, 13, 12]
    assert optim.plateaus(scores, 0) == 0
    assert optim.plateaus(scores, 1) == 3          # after 11, 11 and 12
    assert optim.plateaus(scores, 2) == 1          # after the second 11
    assert optim.scheduled_rate(0.1, 0, 0, 5, [], 1, scores) == pytest.approx(0.1 / 8)

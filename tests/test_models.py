"""The models end to end: float64 gradient checks, the book's parameter layout, batched decoding."""
import numpy
import pytest

from s2sxp import backend, models
from gradcheck import check_model

V, D, H = 7, 3, 4
KINDS = list(models.MODELS)
CELLS = ["lstm", "gru"]


def _data(rng, N=3, T_in=5, T_out=4):
    xs = rng.integers(0, V, (N, T_in))
    ts = rng.integers(0, V, (N, T_out))
    return xs, ts


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_model_backward_matches_numerical_gradient(xp, rng, kind, cell, impl):
    model = models.build(kind, V, D, H, cell=cell, impl=impl, seed=1)
    xs, ts = _data(rng)
    check_model(model, xs, ts, f"{kind}/{cell}/{impl}")


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_backward_needs_its_own_forward(xp, rng, kind, impl):
    """A second backward, or one after generate replaced what forward kept, raises instead of
    returning wrong gradients (the fused Bahdanau backward also overwrites what it reads)."""
    model = models.build(kind, V, D, H, impl=impl, seed=1)
    xs, ts = _data(rng)
    model.forward(xs, ts)
    model.backward()
    first = [backend.asnumpy(g).copy() for g in model.grads]
    with pytest.raises(RuntimeError, match=r"backward\(\) needs its own forward"):
        model.backward()
    model.forward(xs, ts)
    model.generate_batch(xs, 0, 3)
    with pytest.raises(RuntimeError, match=r"backward\(\) needs its own forward"):
        model.backward()
    model.forward(xs, ts)
    model.backward()
    for got, want in zip(model.grads, first):
        numpy.testing.assert_allclose(backend.asnumpy(got), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_fused_model_equals_reference_model(xp, rng, kind, cell):
    fused = models.build(kind, V, D, H, cell=cell, impl="fused", seed=2)
    ref = models.build(kind, V, D, H, cell=cell, impl="reference", seed=2)
    xs, ts = _data(rng)
    assert float(fused.forward(xs, ts)) == pytest.approx(float(ref.forward(xs, ts)), rel=1e-12)
    fused.backward()
    ref.backward()
    for g, g_ref in zip(fused.grads, ref.grads):
        numpy.testing.assert_allclose(backend.asnumpy(g), backend.asnumpy(g_ref), atol=1e-12)


def _book_shapes(kind, cell):
    G = {"lstm": 4, "gru": 3}[cell]
    rnn_in = D + H if kind == "peeky" else D
    affine_in = H if kind == "seq2seq" else 2 * H
    return [(V, D), (D, G * H), (H, G * H), (G * H,),
            (V, D), (rnn_in, G * H), (H, G * H), (G * H,), (affine_in, V), (V,)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", ["seq2seq", "peeky", "attention"])
def test_params_are_in_the_books_order(xp, kind, cell):
    model = models.build(kind, V, D, H, cell=cell)
    assert [tuple(p.shape) for p in model.params] == _book_shapes(kind, cell)
    assert [tuple(g.shape) for g in model.grads] == _book_shapes(kind, cell)


def test_params_live_in_one_flat_buffer(xp):
    model = models.build("attention", V, D, H)
    model.flat_params[...] = 0
    assert all(float(abs(p).sum()) == 0 for p in model.params)
    assert model.flat_params.size == sum(p.size for p in model.params)


@pytest.mark.parametrize("kind", KINDS)
def test_batched_generate_equals_one_at_a_time(xp, rng, kind):
    model = models.build(kind, V, D, H, seed=3)
    xs = rng.integers(0, V, (6, 5))
    batched = backend.asnumpy(model.generate_batch(xs, start_id=0, sample_size=4))
    weights = backend.asnumpy(model.attention_weights) if kind == "attention" else None
    assert batched.shape == (6, 4)
    for n in range(6):
        one = backend.asnumpy(model.generate_batch(xs[n:n + 1], start_id=0, sample_size=4))
        numpy.testing.assert_array_equal(one[0], batched[n])
        if weights is not None:
            numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights)[0], weights[n],
                                          atol=1e-12)


def test_attention_weights_of_forward_and_generate(xp, rng):
    model = models.build("attention", V, D, H, seed=4)
    xs, ts = _data(rng, N=2, T_in=6, T_out=5)
    model.forward(xs, ts)
    assert model.attention_weights.shape == (2, 4, 6)
    model.generate_batch(xs, 0, 7)
    assert model.attention_weights.shape == (2, 7, 6)
    numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights).sum(axis=2), 1.0)


def test_same_seed_same_weights_on_every_backend(xp):
    a = models.build("seq2seq", V, D, H, seed=5)
    expected = numpy.random.default_rng(5).standard_normal((V, D)) / 100
    numpy.testing.assert_allclose(backend.asnumpy(a.params[0]), expected)


def test_unknown_model_and_cell_are_refused(xp):
    with pytest.raises(ValueError, match="seq2seq, peeky, attention"):
        models.build("transformer", V, D, H)
    with pytest.raises(ValueError, match="lstm, gru"):
        models.build("seq2seq", V, D, H, cell="rnn")


@pytest.mark.parametrize("xs,ts,message", [
    (numpy.zeros((0, 5), int), numpy.zeros((0, 4), int), r"xs must be .*shape \(N, T\).*\(0, 5\)"),
    (numpy.zeros(5, int), numpy.zeros((1, 4), int), r"xs must be .*got shape \(5,\)"),
    (numpy.zeros((3, 5)), numpy.zeros((3, 4), int), "xs must hold integer ids; got dtype float64"),
    (numpy.zeros((3, 5), int), numpy.zeros((3, 1), int), r"ts must be .*T >= 2"),
    (numpy.zeros((3, 5), int), numpy.zeros((2, 4), int), "same number of sequences; got 3 and 2"),
    (numpy.full((3, 5), V), numpy.zeros((3, 4), int), f"xs holds id {V}, outside .* of {V}"),
    (numpy.zeros((3, 5), int), numpy.full((3, 4), -2), f"ts holds id -2, outside .* of {V}"),
])
def test_bad_batches_are_refused_with_a_clear_error(xp, xs, ts, message):
    model = models.build("attention", V, D, H, seed=0)
    with pytest.raises(ValueError, match=message):
        model.forward(xs, ts)
    if message.startswith("xs") and xs.ndim == 2:       # generate takes one 1-D question too
        with pytest.raises(ValueError, match=message):
            model.generate_batch(xs, 0, 3)


def test_ignored_targets_and_lists_of_ids_are_accepted(xp):
    model = models.build("attention", V, D, H, seed=0)
    ts = numpy.zeros((2, 4), int)
    ts[:, 2:] = -1                                       # the loss layer's ignore_label
    assert numpy.isfinite(float(model.forward([[1, 2, 3], [4, 5, 6]], ts)))
    assert model.generate_batch([1, 2, 3], 0, 2).shape == (1, 2)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_source_vocabulary_of_its_own_sizes_the_encoder_and_keeps_the_gradients_right(
        xp, rng, kind, impl):
    """source_vocab_size 11 (sources) beside vocab_size 7 (targets): the encoder's embedding has
    11 rows, source ids up to 10 are read, the output runs over 7, and the gradients check."""
    model = models.build(kind, V, D, H, impl=impl, seed=1, source_vocab_size=11)
    assert model.params[0].shape == (11, D) and model.config["source_vocab_size"] == 11
    xs, ts = rng.integers(0, 11, (3, 5)), rng.integers(0, V, (3, 4))
    xs[0, 0] = 10
    assert model.decoder.affine.params[0].shape[1] == V
    check_model(model, xs, ts, f"{kind}/{impl}")
    assert model.generate_batch(xs, 1, 3).shape == (3, 3)
    with pytest.raises(ValueError, match="ts holds id 7, outside the vocabulary of 7"):
        model.forward(xs, numpy.full((3, 4), 7))
    with pytest.raises(ValueError, match="xs holds id 11, outside the vocabulary of 11"):
        model.forward(numpy.full((3, 5), 11), ts)


@pytest.mark.parametrize("kind", KINDS)
def test_label_smoothing_keeps_the_model_gradients_right(xp, rng, kind):
    model = models.build(kind, V, D, H, seed=1, label_smoothing=0.2)
    assert model.config["label_smoothing"] == 0.2
    xs, ts = _data(rng)
    check_model(model, xs, ts, f"{kind} smoothed")
    with pytest.raises(ValueError, match="label_smoothing is from 0 to below 1"):
        models.build(kind, V, D, H, label_smoothing=1.0)


@pytest.mark.parametrize("cell", CELLS)
def test_input_feeding_fused_equals_reference_and_feeds_the_context(xp, rng, cell):
    """The fused recurrence equals the per-step reference; the cell's Wx gets H context rows
    below the embedding's; with those rows zero the model is the book's AttentionSeq2seq."""
    fused = models.build("attention", V, D, H, cell=cell, seed=2, input_feeding=True)
    ref = models.build("attention", V, D, H, cell=cell, impl="reference", seed=2,
                       input_feeding=True)
    G = {"lstm": 4, "gru": 3}[cell]
    assert [tuple(p.shape) for p in fused.params] == [
        (V, D), (D, G * H), (H, G * H), (G * H,),
        (V, D), (D + H, G * H), (H, G * H), (G * H,), (2 * H, V), (V,)]
    assert fused.config["input_feeding"] is True
    xs, ts = _data(rng)
    assert float(fused.forward(xs, ts)) == pytest.approx(float(ref.forward(xs, ts)), rel=1e-12)
    fused.backward()
    ref.backward()
    for g, g_ref in zip(fused.grads, ref.grads):
        numpy.testing.assert_allclose(backend.asnumpy(g), backend.asnumpy(g_ref), atol=1e-12)
    numpy.testing.assert_allclose(backend.asnumpy(fused.generate_batch(xs, 1, 4)),
                                  backend.asnumpy(ref.generate_batch(xs, 1, 4)))

    plain = models.build("attention", V, D, H, cell=cell, seed=2)
    for p, q in zip(plain.params, fused.params):
        if p.shape == q.shape:
            q[...] = p
    fused.params[5][:D] = plain.params[5]
    fused.params[5][D:] = 0
    assert float(fused.forward(xs, ts)) == pytest.approx(float(plain.forward(xs, ts)), rel=1e-12)
    fused.params[5][D:] = 0.5
    assert abs(float(fused.forward(xs, ts)) - float(plain.forward(xs, ts))) > 1e-6

"""Padded batches of different lengths: each row's loss and gradients are those of the row alone,
unpadded (the loss ignores padded targets, the attention padded encoder steps, and the encoder's
state is taken at each row's last real step)."""
import numpy
import pytest

from s2sxp import backend, models
from s2sxp.layers.padding import reversed_real_steps
from gradcheck import check_model

V, D, H = 9, 3, 4
PAD, BOS, EOS = 0, 1, 2
KINDS = list(models.MODELS)
CELLS = ["lstm", "gru"]


def padded_batch(rng, x_lengths, t_lengths):
    """xs (N, max x length) and ts (N, max t length) right-padded with PAD; ts rows are
    BOS, tokens, EOS, and t_lengths count all of them."""
    N = len(x_lengths)
    xs = numpy.full((N, max(x_lengths)), PAD)
    ts = numpy.full((N, max(t_lengths)), PAD)
    for n, (lx, lt) in enumerate(zip(x_lengths, t_lengths)):
        xs[n, :lx] = rng.integers(3, V, lx)
        ts[n, :lt] = [BOS, *rng.integers(3, V, lt - 2), EOS]
    return xs, ts


def _loss_and_grads(model, xs, ts, keys=None):
    loss = float(model.forward(xs, ts, **({} if keys is None else {"keys": keys})))
    model.backward()
    return loss, int(model.loss_layer.count), [backend.asnumpy(g).copy() for g in model.grads]


def _build(kind, cell, impl, **options):
    return models.build(kind, V, D, H, cell=cell, impl=impl, seed=1, pad_id=PAD, **options)


#: The deeper encoders and dropout of BahdanauSeq2seq.
DEEP = [{"bidirectional": True}, {"encoder_layers": 2},
        {"encoder_layers": 2, "bidirectional": True, "dropout": 0.3},
        {"decoder_layers": 3, "dropout": 0.3}]
#: The same for AttentionSeq2seq, with and without input feeding.
DEEP_ATTENTION = [{"input_feeding": True}, {"bidirectional": True, "input_feeding": True},
                  {"encoder_layers": 2, "decoder_layers": 2, "dropout": 0.3},
                  {"decoder_layers": 3, "input_feeding": True, "dropout": 0.3,
                   "bidirectional": True}]
OPTIONS = [("seq2seq", {}), ("peeky", {}), ("attention", {}),
           ("bahdanau", {}), ("bahdanau", {"init_state": "last"}),
           ("bahdanau", {"reset_state_each_step": True})
           ] + [("bahdanau", options) for options in DEEP] + [
           ("attention", options) for options in DEEP_ATTENTION]


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind,options", OPTIONS)
def test_padded_batch_gives_the_rows_own_loss_and_gradients(xp, rng, kind, options, cell, impl):
    x_lengths, t_lengths = [5, 2, 4, 1], [3, 6, 4, 5]
    xs, ts = padded_batch(rng, x_lengths, t_lengths)
    model = _build(kind, cell, impl, **options)
    keys = numpy.arange(10, 10 + len(x_lengths)) if options.get("dropout") else None
    loss, count, grads = _loss_and_grads(model, xs, ts, keys)
    assert count == sum(t_lengths) - len(t_lengths)
    # with dropout, a row keyed as in the batch draws the masks it had there
    rows = [_loss_and_grads(model, xs[n:n + 1, :lx], ts[n:n + 1, :lt],
                            None if keys is None else keys[n:n + 1])
            for n, (lx, lt) in enumerate(zip(x_lengths, t_lengths))]
    assert loss == pytest.approx(sum(l * c for l, c, _ in rows) / count, rel=1e-12)
    for i, g in enumerate(grads):
        want = sum(gs[i] * c for _, c, gs in rows) / count
        numpy.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-13,
                                      err_msg=f"{kind} {options} {cell} {impl}: param {i}")


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", KINDS)
def test_padded_model_backward_matches_numerical_gradient(xp, rng, kind, cell, impl):
    xs, ts = padded_batch(rng, [4, 2, 3], [3, 5, 4])
    model = _build(kind, cell, impl)
    check_model(model, xs, ts, f"padded {kind}/{cell}/{impl}")


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("options", DEEP, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_deeper_padded_bahdanau_backward_matches_numerical_gradient(xp, rng, options, cell,
                                                                    impl):
    xs, ts = padded_batch(rng, [4, 2, 3], [3, 5, 4])
    model = _build("bahdanau", cell, impl, **options)
    check_model(model, xs, ts, f"padded bahdanau {options}/{cell}/{impl}")


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("options", DEEP_ATTENTION,
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_deeper_padded_attention_backward_matches_numerical_gradient(xp, rng, options, cell, impl):
    xs, ts = padded_batch(rng, [4, 2, 3], [3, 5, 4])
    model = _build("attention", cell, impl, **options)
    check_model(model, xs, ts, f"padded attention {options}/{cell}/{impl}")


@pytest.mark.parametrize("kind", KINDS)
def test_padding_changes_nothing_a_row_can_see(xp, rng, kind):
    """More padding, or other ids under the padding of the targets, give the same loss; the
    attention puts no weight on padded encoder steps."""
    xs, ts = padded_batch(rng, [4, 2, 3], [3, 5, 4])
    model = _build(kind, "lstm", "fused")
    loss = float(model.forward(xs, ts))
    more = numpy.pad(xs, ((0, 0), (0, 3)), constant_values=PAD)
    assert float(model.forward(more, ts)) == pytest.approx(loss, rel=1e-12)
    weights = model.attention_weights
    if weights is not None:
        weights = backend.asnumpy(weights)
        assert (weights[1, :, 2:] == 0).all() and (weights[2, :, 3:] == 0).all()
        numpy.testing.assert_allclose(weights.sum(axis=2), 1.0)


def test_padding_must_only_end_a_row(xp):
    model = _build("attention", "lstm", "fused")
    ts = numpy.array([[BOS, 3, EOS]] * 2)
    with pytest.raises(ValueError, match="row 1 has a token after padding"):
        model.forward(numpy.array([[3, 4, PAD], [3, PAD, 4]]), ts)
    with pytest.raises(ValueError, match="row 0 is empty"):
        model.forward(numpy.array([[PAD, PAD], [3, 4]]), ts)
    with pytest.raises(ValueError, match="pad_id 9 is outside the vocabulary of 9"):
        models.build("attention", V, D, H, pad_id=V)


def test_a_model_without_pad_id_treats_every_id_as_a_token(xp, rng):
    """The book's fixed-width data: id 0 is an ordinary character there."""
    model = models.build("attention", V, D, H, seed=1)
    xs = numpy.array([[3, 4, 0, 0]])
    ts = numpy.array([[BOS, 3, 0]])
    full = float(model.forward(xs, ts))
    assert int(model.loss_layer.count) == 2
    assert full != pytest.approx(float(model.forward(xs[:, :2], ts)), rel=1e-6)


def test_reversing_the_real_steps_leaves_the_padding_and_undoes_itself(xp):
    x = xp.arange(2 * 4 * 1).reshape(2, 4, 1)
    lengths = xp.asarray([4, 2])
    turned = reversed_real_steps(x, lengths)
    assert backend.asnumpy(turned)[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    numpy.testing.assert_array_equal(backend.asnumpy(reversed_real_steps(turned, lengths)),
                                     backend.asnumpy(x))
    assert backend.asnumpy(reversed_real_steps(x, None))[0, :, 0].tolist() == [3, 2, 1, 0]

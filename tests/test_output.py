"""The output layer and loss in blocks of rows (layers/output.py) against the book's pair, an
affine then softmax-with-loss: the same loss and gradients, whatever the blocks, with padding
skipped and label smoothing."""
import numpy
import pytest

from s2sxp import backend, layers
from s2sxp.layers.output import ChunkedOutputLoss


@pytest.mark.parametrize("block", [1 << 22, 7 * 11, 11], ids=["one-block", "seven-rows", "one-row"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_blocks_of_rows_equal_the_affine_then_the_softmax_loss(xp, rng, monkeypatch, block,
                                                                smoothing):
    monkeypatch.setattr(ChunkedOutputLoss, "BLOCK", block)
    N, T, H, V = 4, 6, 5, 11
    W, b = (xp.asarray(rng.standard_normal(s) * 2) for s in ((H, V), (V,)))
    hs, dout = xp.asarray(rng.standard_normal((N, T, H))), 0.7
    ts = rng.integers(0, V, (N, T))
    ts[1, 3:] = ts[3, 1:] = -1                                   # padding
    ts = xp.asarray(ts)

    reference = layers.TimeAffine(W.copy(), b.copy())
    softmax = layers.TimeSoftmaxWithLoss(-1, smoothing)
    want_loss = float(softmax.forward(reference.forward(hs), ts))
    want_dhs = reference.backward(softmax.backward(dout))

    fused = ChunkedOutputLoss(layers.TimeAffine(W.copy(), b.copy()), -1, smoothing)
    assert float(fused.forward(hs, ts)) == pytest.approx(want_loss, rel=1e-12)
    assert int(fused.count) == int(softmax.count) == N * T - 3 - 5
    dhs = fused.backward(dout)
    for got, want in ((dhs, want_dhs), *zip(fused.affine.grads, reference.grads)):
        numpy.testing.assert_allclose(backend.asnumpy(got), backend.asnumpy(want), rtol=1e-10,
                                      atol=1e-14)


def test_a_batch_of_padding_only_has_no_loss_and_no_gradient(xp, rng):
    affine = layers.TimeAffine(xp.ones((3, 4)), xp.ones(4))
    fused = ChunkedOutputLoss(affine, -1)
    assert float(fused.forward(xp.ones((2, 2, 3)), xp.full((2, 2), -1))) == 0
    assert not backend.asnumpy(fused.backward()).any() and not backend.asnumpy(
        affine.grads[0]).any()


def test_tied_weights_are_the_target_embedding_in_every_path(xp, rng):
    """The output layer reads the embedding's current weights, its gradient goes to them, and the
    model's params leave the output W out."""
    from s2sxp import models
    from gradcheck import check_model

    tied = models.build("bahdanau", 9, 4, 4, cell="lstm", seed=2, pad_id=0, tie_weights=True)
    plain = models.build("bahdanau", 9, 4, 4, cell="lstm", seed=2, pad_id=0)
    assert len(tied.params) == len(plain.params) - 1
    E = tied.decoder.embed.params[0]
    E[...] = xp.asarray(rng.standard_normal(E.shape))
    W, _ = tied.decoder.affine.weights
    numpy.testing.assert_array_equal(backend.asnumpy(W), backend.asnumpy(E).T)
    xs = numpy.array([[3, 4, 5], [6, 7, 0]])
    ts = numpy.array([[1, 3, 4, 2], [1, 5, 2, 0]])
    for impl in ("fused", "reference"):
        model = models.build("bahdanau", 9, 4, 4, cell="lstm", seed=2, pad_id=0, impl=impl,
                             tie_weights=True)
        model.flat_params[...] = xp.asarray(rng.standard_normal(model.flat_params.size) * 0.5)
        check_model(model, xs, ts, f"tied {impl}")
    with pytest.raises(ValueError, match="embedding size .3. to equal the hidden size .4."):
        models.build("bahdanau", 9, 3, 4, tie_weights=True)

"""Dropout whose masks are a hash of where they fall: the rate kept, the masks a function of
(row key, site, step, unit) only, the layer's backward, and a model that drops while training and
never while decoding."""
import numpy
import pytest

from s2sxp import backend, models
from s2sxp.layers.dropout import Noise, TimeDropout, keep_mask, row_seeds


def _mask(xp, keys, site=0, shape=(40, 30), p=0.3, seed=7):
    seeds = xp.asarray(row_seeds(seed, numpy.asarray(keys)))
    return backend.asnumpy(keep_mask(seeds, site, (len(keys), *shape), p, xp))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_the_masks_keep_one_minus_p_of_the_elements_without_pattern(xp, p):
    keep = _mask(xp, numpy.arange(64), shape=(50, 64), p=p)           # 204,800 elements
    assert keep.mean() == pytest.approx(1 - p, abs=0.005)
    # neighbours along each axis agree as often as independent draws do
    agree = p * p + (1 - p) ** 2
    for axis in range(3):
        a, b = numpy.moveaxis(keep, axis, 0)[1:], numpy.moveaxis(keep, axis, 0)[:-1]
        assert (a == b).mean() == pytest.approx(agree, abs=0.01), axis


def test_a_mask_depends_on_the_row_key_site_step_and_unit_only(xp):
    keys = numpy.array([5, 9, 1 << 40, 12])
    keep = _mask(xp, keys, shape=(30, 16))
    wider = _mask(xp, keys[::-1], shape=(45, 16))          # other order, a longer batch
    numpy.testing.assert_array_equal(wider[::-1, :30], keep)
    alone = _mask(xp, keys[2:3], shape=(7, 16))
    numpy.testing.assert_array_equal(alone[0], keep[2, :7])
    assert (_mask(xp, keys, site=1, shape=(30, 16)) != keep).mean() > 0.3
    assert (_mask(xp, keys + 1, shape=(30, 16)) != keep).mean() > 0.3
    assert (_mask(xp, keys, shape=(30, 16), seed=8) != keep).mean() > 0.3


def test_dropout_scales_what_it_keeps_and_its_backward_is_the_same_scale(xp, rng):
    noise = Noise(0.25)
    drop = TimeDropout(noise, site=3)
    x = xp.asarray(rng.standard_normal((6, 5, 4)))
    assert drop.forward(x) is x and drop.backward(x) is x          # no seeds: not training
    noise.seeds = xp.asarray(row_seeds(0, numpy.arange(6)))
    y = backend.asnumpy(drop.forward(x))
    keep = _mask(xp, numpy.arange(6), site=3, shape=(5, 4), p=0.25, seed=0)
    numpy.testing.assert_allclose(y, numpy.where(keep, backend.asnumpy(x) / 0.75, 0))
    dout = xp.asarray(rng.standard_normal((6, 5, 4)))
    numpy.testing.assert_allclose(backend.asnumpy(drop.backward(dout)),
                                  numpy.where(keep, backend.asnumpy(dout) / 0.75, 0))


def _pair(options):
    """A model with ``options`` and the same model without dropout, sharing the weights."""
    a = models.build("bahdanau", 12, 6, 8, cell="lstm", seed=0, pad_id=0, **options)
    b = models.build("bahdanau", 12, 6, 8, cell="lstm", seed=0, pad_id=0,
                     **{k: v for k, v in options.items() if k != "dropout"})
    b.flat_params[...] = a.flat_params
    return a, b


def test_a_model_drops_while_training_and_never_while_decoding(xp, rng):
    dropped, plain = _pair({"dropout": 0.4, "bidirectional": True, "encoder_layers": 2})
    xs = rng.integers(3, 12, (5, 6))
    ts = numpy.concatenate([numpy.ones((5, 1), int), rng.integers(3, 12, (5, 4))], axis=1)
    first, second = float(dropped.forward(xs, ts)), float(dropped.forward(xs, ts))
    assert first != second                                 # new keys, new masks
    keyed = [float(dropped.forward(xs, ts, keys=numpy.arange(5))) for _ in range(2)]
    assert keyed[0] == keyed[1] != float(plain.forward(xs, ts))
    for a, b in ((dropped.generate_batch(xs, 1, 7, end_id=2),
                  plain.generate_batch(xs, 1, 7, end_id=2)),
                 (dropped.beam_search(xs, 1, 2, 7, beam=3), plain.beam_search(xs, 1, 2, 7,
                                                                              beam=3))):
        numpy.testing.assert_array_equal(backend.asnumpy(a), backend.asnumpy(b))


def test_bad_options_and_keys_are_named(xp):
    with pytest.raises(ValueError, match="dropout is from 0 to below 1"):
        models.build("bahdanau", 9, 3, 4, dropout=1.0)
    with pytest.raises(ValueError, match="encoder_layers must be a whole number from 1"):
        models.build("bahdanau", 9, 3, 4, encoder_layers=0)
    model = models.build("bahdanau", 9, 3, 4, dropout=0.1)
    with pytest.raises(ValueError, match="keys must be 2 non-negative integers"):
        model.forward(numpy.ones((2, 3), int), numpy.ones((2, 3), int), keys=[1, -1])

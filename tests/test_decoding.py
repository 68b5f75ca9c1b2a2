"""Batched greedy decoding that stops at the end symbol, and beam search, on every model."""
import itertools

import numpy
import pytest

from s2sxp import backend, models
from test_padding import BOS, EOS, PAD, padded_batch

V, D, H = 6, 3, 4
OPTIONS = [("seq2seq", {}), ("peeky", {}), ("attention", {}),
           ("attention", {"input_feeding": True}),
           ("attention", {"input_feeding": True, "cell": "gru", "decoder_layers": 2}),
           ("attention", {"decoder_layers": 2, "bidirectional": True}), ("bahdanau", {}),
           ("bahdanau", {"cell": "lstm", "reset_state_each_step": True}),
           ("bahdanau", {"cell": "lstm", "decoder_layers": 2, "bidirectional": True})]


def _build(kind, options, impl="fused", seed=7):
    return models.build(kind, V, D, H, impl=impl, seed=seed, pad_id=PAD, **options)


def _log_softmax(x):
    """log softmax over the last axis, shifted by the maximum for stability."""
    xp = backend.get_array_module(x)
    shift = x - x.max(axis=-1, keepdims=True)
    return shift - xp.log(xp.exp(shift).sum(axis=-1, keepdims=True))


def _log_prob(model, xs, sequence):
    """log p(sequence | xs) of one question, step by step through the decoder."""
    xp = model.xp
    decoder = model.decoder
    xs, lengths = model._source(xs)
    decoder.start(model.encoder.forward(xs, lengths), lengths, len(sequence))
    ids, total = xp.full((1, 1), BOS, dtype=numpy.int32), 0.0
    for t, token in enumerate(sequence):
        logp = backend.asnumpy(_log_softmax(decoder.step(ids, t)[0, 0].astype(float)))
        total += float(logp[token])
        ids = xp.full((1, 1), token, dtype=numpy.int32)
    return total


def _hypotheses(steps):
    """Every output of at most ``steps`` tokens: ended by EOS, or as long as allowed."""
    for length in range(1, steps + 1):
        for body in itertools.product(range(V), repeat=length - 1):
            if EOS in body:
                continue
            ends = [EOS] if length < steps else range(V)
            for last in ends:
                yield (*body, last)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("kind,options", OPTIONS)
@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_wide_beam_finds_the_best_hypothesis(xp, rng, kind, options, impl, penalty):
    """With a beam as wide as every hypothesis, beam search is exhaustive: its answer must be the
    best of all outputs by score / length ** penalty."""
    steps = 3
    model = _build(kind, options, impl)
    xs, _ = padded_batch(rng, [3, 2], [3, 3])
    xs[xs >= V] = 3
    # stopping a source once its best beam has finished changes nothing without a penalty
    found = backend.asnumpy(model.beam_search(xs, BOS, EOS, steps, beam=V ** steps,
                                              length_penalty=penalty,
                                              early_stop=penalty == 0))
    for n in range(2):
        x = xs[n:n + 1, :3 - n]
        scored = [(_log_prob(model, x, h) / len(h) ** penalty, h) for h in _hypotheses(steps)]
        best_score, best = max(scored)
        row = found[n].tolist()
        length = row.index(EOS) + 1 if EOS in row else steps
        assert tuple(row[:length]) == best
        assert all(token == PAD for token in row[length:])
        assert float(backend.asnumpy(model.beam_scores)[n]) == pytest.approx(best_score,
                                                                              rel=1e-9)


@pytest.mark.parametrize("kind,options", OPTIONS)
def test_beam_of_one_is_greedy(xp, rng, kind, options):
    model = _build(kind, options)
    xs, _ = padded_batch(rng, [4, 2, 3, 1], [3] * 4)
    xs[xs >= V] = 4
    greedy = backend.asnumpy(model.generate_batch(xs, BOS, 7, end_id=EOS))
    greedy_weights = model.attention_weights
    beam = backend.asnumpy(model.beam_search(xs, BOS, EOS, 7, beam=1))
    numpy.testing.assert_array_equal(beam, greedy)
    if greedy_weights is not None:
        numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights),
                                      backend.asnumpy(greedy_weights), atol=1e-12)


@pytest.mark.parametrize("kind,options", OPTIONS)
def test_padded_batch_decodes_as_its_rows_alone(xp, rng, kind, options):
    model = _build(kind, options, seed=3)
    lengths = [4, 1, 3, 2]
    xs, _ = padded_batch(rng, lengths, [3] * 4)
    xs[xs >= V] = 5
    batched = backend.asnumpy(model.beam_search(xs, BOS, EOS, 6, beam=3))
    weights = model.attention_weights
    greedy = backend.asnumpy(model.generate_batch(xs, BOS, 6, end_id=EOS))
    for n, length in enumerate(lengths):
        one = backend.asnumpy(model.beam_search(xs[n:n + 1, :length], BOS, EOS, 6, beam=3))
        numpy.testing.assert_array_equal(one[0], batched[n])
        if weights is not None:
            w = backend.asnumpy(model.attention_weights)[0]
            numpy.testing.assert_allclose(backend.asnumpy(weights)[n, :w.shape[0], :length], w,
                                          atol=1e-12)
        one = backend.asnumpy(model.generate_batch(xs[n:n + 1, :length], BOS, 6, end_id=EOS))
        numpy.testing.assert_array_equal(one[0], greedy[n])


def test_greedy_stops_each_row_at_the_end_symbol(xp, rng):
    """After EOS a row holds padding; decoding ends once every row has ended."""
    model = _build("attention", {}, seed=0)
    xs, _ = padded_batch(rng, [4, 2], [3, 3])
    xs[xs >= V] = 3
    free = backend.asnumpy(model.generate_batch(xs, BOS, 12))      # no end symbol: all steps
    assert free.shape == (2, 12)
    stopped = backend.asnumpy(model.generate_batch(xs, BOS, 12, end_id=EOS))
    assert stopped.shape == (2, 12)
    for row, full in zip(stopped, free):
        ends = numpy.flatnonzero(full == EOS)
        if ends.size:
            e = ends[0]
            numpy.testing.assert_array_equal(row[:e + 1], full[:e + 1])
            assert (row[e + 1:] == PAD).all()
        else:
            numpy.testing.assert_array_equal(row, full)


def test_beam_width_must_be_positive(xp):
    model = _build("attention", {})
    with pytest.raises(ValueError, match="beam width must be at least 1"):
        model.beam_search([[3, 4]], BOS, EOS, 4, beam=0)


def test_a_source_stops_once_its_best_beam_has_finished(xp, rng):
    """Early stopping ends the batch when every source's best beam has ended, long before the
    weakest beams would; the answers are finished hypotheses."""
    model = _build("bahdanau", {}, seed=7)          # one whose beams end (5 steps; the best, 3)
    xs, _ = padded_batch(rng, [3, 2, 3], [3, 3, 3])
    xs[xs >= V] = 3
    counted = []
    step = model.decoder.step
    model.decoder.step = lambda ids, t: counted.append(t) or step(ids, t)
    steps = {}
    for early in (False, True):
        counted.clear()
        found = backend.asnumpy(model.beam_search(xs, BOS, EOS, 40, beam=3, early_stop=early))
        steps[early] = len(counted)
        if early:
            assert all(EOS in row.tolist() for row in found)
    assert steps[True] < steps[False]

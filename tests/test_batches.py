"""Batches of sequences of different lengths: padded on the right, bucketed by length, or cut by
tokens."""
import numpy
import pytest

from s2sxp import batches as batching
from s2sxp.batches import Sequences
from s2sxp.vocab import PAD_ID


def test_sequences_pad_each_batch_on_the_right_to_its_longest():
    seqs = Sequences([[5, 6, 7], [8], [9, 10]])
    assert seqs.lengths.tolist() == [3, 1, 2] and seqs.max_length == 3 and len(seqs) == 3
    assert seqs[1].tolist() == [8]
    assert seqs[[1, 2]].tolist() == [[8, PAD_ID], [9, 10]]
    assert seqs[1:].tolist() == [[8, PAD_ID], [9, 10]]
    assert seqs.padded().shape == (3, 3)
    assert seqs.reversed()[[0, 2]].tolist() == [[7, 6, 5], [10, 9, PAD_ID]]
    with pytest.raises(ValueError, match="at least one id"):
        Sequences([[1], []])


def test_bucket_order_is_a_permutation_of_batches_of_similar_lengths():
    rng = numpy.random.default_rng(0)
    src = rng.integers(1, 40, 1000)
    tgt = src + rng.integers(0, 3, 1000)
    order = batching.bucket_order(numpy.random.default_rng(1), src, tgt, batch_size=32, pool=8)
    assert sorted(order.tolist()) == list(range(1000))

    def padding(order):
        batches = order[:len(order) - len(order) % 32].reshape(-1, 32)
        return sum(int(src[b].max() * 32 - src[b].sum()) for b in batches)

    shuffled = numpy.random.default_rng(1).permutation(1000)
    assert padding(order) < padding(shuffled) / 5
    again = batching.bucket_order(numpy.random.default_rng(1), src, tgt, batch_size=32, pool=8)
    numpy.testing.assert_array_equal(order, again)


def test_token_batches_keep_within_the_tokens_and_cover_every_row_once():
    rng = numpy.random.default_rng(0)
    src = rng.integers(1, 40, 1000)
    tgt = src + rng.integers(-1, 4, 1000).clip(-src + 1)
    sizes = batching.token_batch_sizes(src, tgt, 300)
    assert sizes.sum() == 1000
    orders = []
    for seed in (1, 2):
        order, bounds = batching.token_order(numpy.random.default_rng(seed), src, tgt, sizes)
        assert sorted(order.tolist()) == list(range(1000))
        assert bounds[0] == 0 and bounds[-1] == 1000
        batches = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        # every epoch: the same sizes, in its own order, each batch within the tokens
        assert sorted(len(b) for b in batches) == sorted(sizes.tolist())
        for b in batches:
            assert len(b) * max(src[b].max(), tgt[b].max()) <= 300
        orders.append(order)
    assert not numpy.array_equal(*orders)
    # short sentences make big batches, long ones small batches
    assert sizes.max() >= 50 and sizes.min() <= 8
    # what is padding: far less than in batches of rows drawn at random
    order, bounds = batching.token_order(numpy.random.default_rng(1), src, tgt, sizes)
    padded = sum(int(src[order[a:b]].max()) * (b - a) - int(src[order[a:b]].sum())
                 for a, b in zip(bounds[:-1], bounds[1:]))
    assert padded < 0.05 * src.sum()


def test_token_batches_give_a_long_sentence_a_batch_and_each_batch_its_least_rows():
    src = numpy.array([3, 3, 3, 50, 3])
    tgt = numpy.array([4, 4, 4, 4, 4])
    assert batching.token_batch_sizes(src, tgt, 12).tolist() == [3, 1, 1]
    # the least rows a batch: even past the tokens
    assert batching.token_batch_sizes(src, tgt, 12, min_rows=2).tolist() == [3, 2]

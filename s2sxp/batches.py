"""Batches of id sequences: :class:`Sequences` of different lengths, each batch padded on the right
to its longest, and how an epoch is cut into batches (:func:`epoch_order`): rows shuffled, for
arrays of one width as the book shuffles them; sentences drawn into batches of similar lengths
(:func:`bucket_order`), or into batches of about the same number of tokens, many short sentences
or a few long ones (:func:`token_batch_sizes`, :func:`token_order`).
"""
import numpy as np

from .vocab import PAD_ID


class Sequences:
    """Id sequences of different lengths; ``seqs[indices]`` is their batch (n, longest) padded
    on the right with ``pad_id``, ``seqs[i]`` one unpadded sequence."""

    def __init__(self, seqs, pad_id=PAD_ID):
        self.seqs = [np.asarray(s, dtype=np.int32).reshape(-1) for s in seqs]
        if any(s.size == 0 for s in self.seqs):
            raise ValueError("every sequence needs at least one id")
        self.pad_id = int(pad_id)
        self.lengths = np.array([s.size for s in self.seqs], dtype=np.int64)

    def __len__(self):
        return len(self.seqs)

    @property
    def max_length(self):
        return int(self.lengths.max()) if len(self) else 0

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.seqs[index]
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        width = int(self.lengths[rows].max()) if rows.size else 0
        out = np.full((rows.size, width), self.pad_id, dtype=np.int32)
        for r, i in enumerate(rows.tolist()):
            out[r, :self.lengths[i]] = self.seqs[i]
        return out

    def padded(self):
        return self[slice(None)]

    def reversed(self):
        """Each sequence's ids in reverse order (the padding still comes after them)."""
        return Sequences([s[::-1] for s in self.seqs], self.pad_id)


def bucket_order(rng, src_lengths, tgt_lengths, batch_size, pool=64):
    """A permutation of the rows whose consecutive ``batch_size`` chunks are batches of similar
    lengths: shuffled, sorted by (source, target) length within pools of ``pool`` batches, cut
    into batches whose order is shuffled; the rows left over (fewer than a batch) come last."""
    n = len(src_lengths)
    order = rng.permutation(n)
    full = n - n % batch_size
    head, rest = order[:full], order[full:]
    size = pool * batch_size
    sorted_parts = []
    for start in range(0, full, size):
        part = head[start:start + size]
        key = np.lexsort((np.asarray(tgt_lengths)[part], np.asarray(src_lengths)[part]))
        sorted_parts.append(part[key])
    head = np.concatenate(sorted_parts) if sorted_parts else head
    batches = head.reshape(-1, batch_size)[rng.permutation(full // batch_size)]
    return np.concatenate([batches.reshape(-1), rest]).astype(np.int64)


def token_batch_sizes(src_lengths, tgt_lengths, max_tokens, min_rows=1):
    """The sizes of the batches that :func:`token_order` cuts the rows into: the rows sorted by
    (source, target) length, taken in turn into a batch while its rows times its longest sequence
    (source or target) stay within ``max_tokens``; a batch has at least ``min_rows`` rows all the
    same (a sentence longer than ``max_tokens`` goes alone). The sorted lengths are the same
    whatever order equal rows are in, so every epoch has these batches' sizes."""
    src, tgt = np.asarray(src_lengths), np.asarray(tgt_lengths)
    key = np.lexsort((tgt, src))
    longest = np.maximum(src[key], tgt[key]).tolist()
    sizes, rows, widest = [], 0, 0
    for width in longest:
        if rows >= min_rows and (rows + 1) * max(widest, width) > max_tokens:
            sizes.append(rows)
            rows, widest = 0, 0
        rows += 1
        widest = max(widest, width)
    if rows:
        sizes.append(rows)
    return np.asarray(sizes, dtype=np.int64)


def token_order(rng, src_lengths, tgt_lengths, sizes):
    """(order, bounds): a permutation of the rows and the batches in it, rows bounds[i] to
    bounds[i + 1] of ``order`` the i-th: the rows sorted by (source, target) length, rows of equal
    lengths in a random order, cut into batches of ``sizes`` (:func:`token_batch_sizes`), the
    batches in a random order."""
    src, tgt = np.asarray(src_lengths), np.asarray(tgt_lengths)
    shuffled = rng.permutation(len(src))
    ranked = shuffled[np.lexsort((tgt[shuffled], src[shuffled]))]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    pick = rng.permutation(len(sizes))
    order = np.concatenate([ranked[starts[i]:starts[i + 1]] for i in pick])
    bounds = np.concatenate(([0], np.cumsum(np.asarray(sizes)[pick])))
    return order.astype(np.int64), bounds.astype(np.int64)


def row_lengths(x):
    """The length of each row of ``x``: a :class:`Sequences`' own, or None for an array (N, T)
    of one width, whose rows are all T long."""
    return x.lengths if isinstance(x, Sequences) else None


def batch_sizes(x, t, batch_size, batch_tokens=None, ranks=1):
    """The rows of each batch of an epoch over ``x`` and ``t``: ``len(x) // batch_size`` batches
    of ``batch_size``, or with ``batch_tokens`` those of :func:`token_batch_sizes` (each batch at
    least as many rows as the ``ranks`` that share it). ValueError where the data cannot make one
    batch."""
    data_size, lengths = len(x), row_lengths(x)
    if batch_tokens:
        if lengths is None:
            raise ValueError("batches by tokens need sentences of different lengths (a "
                             "parallel corpus)")
        sizes = token_batch_sizes(lengths, row_lengths(t), batch_tokens, ranks)
        if sizes[-1] < ranks:
            if len(sizes) == 1:
                raise ValueError(f"the {data_size} training examples are fewer than the "
                                 f"{ranks} ranks that share each batch")
            sizes = np.concatenate((sizes[:-2], [sizes[-2] + sizes[-1]]))
        return sizes
    if data_size < batch_size:
        raise ValueError(f"batch size {batch_size} is larger than the {data_size} training "
                         "examples (give a smaller --batch-size, or more data)")
    if batch_size < ranks:
        raise ValueError(f"batch size {batch_size} is smaller than the {ranks} ranks that "
                         "share each batch")
    return np.full(data_size // batch_size, batch_size, dtype=np.int64)


def epoch_order(rng, x, t, sizes, by_tokens=False):
    """(the rows of an epoch, batch after batch; the bounds of its batches in that order) for
    batches of ``sizes`` rows (:func:`batch_sizes`): an array's rows shuffled, sentences bucketed
    by length, or with ``by_tokens`` sorted by length and cut into batches of ``sizes``."""
    lengths = row_lengths(x)
    if by_tokens:
        return token_order(rng, lengths, row_lengths(t), sizes)
    bounds = np.arange(len(sizes) + 1) * sizes[0]
    if lengths is None:
        return rng.permutation(len(x)), bounds
    return bucket_order(rng, lengths, row_lengths(t), int(sizes[0])), bounds

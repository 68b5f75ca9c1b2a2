"""Parallel corpora of sentences of any length, ready to train on: :func:`load_pairs` reads the
training pairs and, where given, a dev and a test file (:mod:`s2sxp.pairs`), splits sentences into
characters (any script; runs of whitespace become one space), whitespace-separated words, or
subwords of a SentencePiece model trained on the training split, and builds a vocabulary
(:class:`~s2sxp.vocab.TokenVocab`) for each side, or one for both: the four special tokens
(ids 0-3), then the tokens of the training split by descending count.

Sources are their tokens; targets are ``<s> tokens </s>``. A batch pads its rows on the right with
``<pad>`` to its longest (:class:`Sequences`), and :func:`bucket_order` draws batches of rows of
similar lengths so that little of a batch is padding; :func:`token_order` draws batches of about
the same number of tokens instead (many short sentences, or a few long ones).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import pairs as reading
from .files import atomic_write
from .pairs import CorpusError
from .vocab import PAD_ID, SPECIALS, TokenVocab, check_tokenizer, tokenize, train_subwords

__all__ = ["Corpus", "CorpusError", "Sequences", "Split", "bucket_order", "load_pairs",
           "load_split", "pairs_from_lines", "read_pairs", "synthetic_pairs", "token_batch_sizes",
           "token_order", "write_pairs"]


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


def pairs_from_lines(lines, tokens="char", source="<lines>", max_length=None, skip_bad=False,
                     notice=None, first_line=1, source_column=1):
    """[(source tokens, target tokens)] of ``source<TAB>target`` lines, by characters or words,
    read and checked as :mod:`s2sxp.pairs` reads them."""
    read = reading.read_lines(lines, source, first_line, source_column)
    return _token_pairs(read, tokens, max_length, skip_bad, notice)


def read_pairs(path, tokens="char", max_length=None, skip_bad=False, notice=None,
               source_column=1):
    """:func:`pairs_from_lines` on a UTF-8 file (or two aligned files, a tuple of their paths);
    errors name the file and the line."""
    return _token_pairs(reading.read(path, source_column), tokens, max_length, skip_bad, notice)


def _token_pairs(read, tokens, max_length, skip_bad, notice):
    check_tokenizer(tokens)
    split = (lambda text: tokenize(text, tokens))
    reading.tokenized(read, split, split, max_length)
    return [(line.source, line.target) for line in reading.settle(read, skip_bad, notice)]


@dataclass
class Split:
    """The pairs of one part of a corpus: ``x`` source ids, ``t`` target ids (``<s> ... </s>``),
    ``sources`` and ``references`` the sentences as text."""

    x: Sequences
    t: Sequences
    sources: list
    references: list

    def reversed(self):
        return dataclasses.replace(self, x=self.x.reversed())


@dataclass
class Corpus:
    """A parallel corpus ready to train on (see :func:`load_pairs`): ``x_*`` and ``t_*`` the ids,
    ``src_*`` and ``ref_*`` the sentences as text, of the training split and of the held-out
    split training is validated on (``*_test``: the dev file, or a random tenth of the training
    pairs where there is none); ``test_set``, the test file's :class:`Split` or None. ``vocab`` is
    the targets' vocabulary, ``source_vocab`` the sources' (the same object where they share
    one). The sources are reversed where ``reversed_input`` (each sentence's own tokens; the
    padding stays at the end)."""

    vocab: TokenVocab
    x_train: Sequences
    t_train: Sequences
    x_test: Sequences
    t_test: Sequences
    src_train: list
    ref_train: list
    src_test: list
    ref_test: list
    tokens: str
    reversed_input: bool = False
    source_vocab: TokenVocab = None
    test_set: Split = None

    def __post_init__(self):
        if self.source_vocab is None:
            self.source_vocab = self.vocab

    def reversed(self):
        return dataclasses.replace(
            self, x_train=self.x_train.reversed(), x_test=self.x_test.reversed(),
            test_set=None if self.test_set is None else self.test_set.reversed(),
            reversed_input=not self.reversed_input)

    @property
    def max_output_length(self):
        """The most tokens a translation may take: twice the longest training target."""
        return 2 * int(self.t_train.max_length)


def _texts(read, vocab_tokenize, max_length, skip_bad, notice, texts=False):
    """The good lines of ``read`` tokenized, and, where ``texts``, their texts before."""
    raw = {line.number: (line.source, line.target) for line in read.lines}
    reading.tokenized(read, *vocab_tokenize, max_length)
    good = reading.settle(read, skip_bad, notice)
    return good, [raw[line.number] for line in good] if texts else None


def _split_off(lines, split_seed, test_fraction, name):
    """(training lines, held-out lines): shuffled by ``numpy.random.RandomState(split_seed)``,
    the last ``test_fraction`` held out."""
    n = len(lines)
    if n < 2:
        raise CorpusError(f"{name} holds 1 sentence pair; a corpus takes at least 2 (one to "
                          "train on, one to test with)")
    indices = np.arange(n)
    np.random.RandomState(split_seed).shuffle(indices)
    n_test = max(int(n * test_fraction), 1)
    return [lines[i] for i in indices[:n - n_test]], [lines[i] for i in indices[n - n_test:]]


def _subword_models(train, vocab_size, shared, model_type):
    """(source model, target model): SentencePiece models trained on the training lines'
    texts, one for both sides where ``shared``."""
    sources = [line.source for line in train]
    targets = [line.target for line in train]
    if shared:
        model = train_subwords(sources + targets, vocab_size, model_type)
        return model, model
    return (train_subwords(sources, vocab_size, model_type),
            train_subwords(targets, vocab_size, model_type))


def load_pairs(pairs, tokens="char", min_freq=1, max_vocab=None, max_length=None,
               skip_bad=False, split_seed=1984, test_fraction=0.1, notice=None, vocab=None,
               source_vocab=None, dev=None, test=None, source_column=1, shared_vocab=False,
               vocab_size=8000, subword_model="unigram"):
    """A :class:`Corpus` from ``pairs``: a pairs file, a tuple of two aligned files (source path,
    target path) or a list of (source, target) texts, read and checked as :mod:`s2sxp.pairs`
    reads them (a list's items numbered from 1); ``dev`` and ``test`` likewise, where given.

    Without ``dev`` the pairs are shuffled by ``numpy.random.RandomState(split_seed)`` and the
    last ``test_fraction`` held out to validate on. Sentences are split into ``tokens``:
    ``"char"``, ``"word"`` or ``"spm"``, subwords of a SentencePiece model (``subword_model``:
    unigram or bpe) of about ``vocab_size`` pieces trained on the training split. Each side gets
    a vocabulary built from the training split (``min_freq``, ``max_vocab``), or one for both
    where ``shared_vocab``; ``vocab`` (and ``source_vocab``, where the sources have their own)
    given instead are used as they are."""
    check_tokenizer(tokens)
    if vocab is not None:
        tokens = vocab.tokenizer
        source_vocab = vocab if source_vocab is None else source_vocab
    read = reading.read(pairs, source_column)
    subwords = tokens == "spm" and vocab is None
    if subwords:
        lines = reading.settle(read, skip_bad, notice)
        train, held = (lines, None) if dev is not None else _split_off(
            lines, split_seed, test_fraction, read.name)
        models = _subword_models(train, vocab_size, shared_vocab, subword_model)
        splitters = tuple(TokenVocab(SPECIALS, "spm", m).tokenize for m in models)
        parts = [reading.Read(read.name, train, read.expected)]
        if held is not None:
            parts.append(reading.Read(read.name, held, read.expected))
        settled = [_texts(part, splitters, max_length, skip_bad, notice, texts=True)
                   for part in parts]
        train, train_texts = settled[0]
        held, held_texts = settled[1] if held is not None else (None, None)
    else:
        if vocab is not None:
            splitters = (source_vocab.tokenize, vocab.tokenize)
        else:
            splitters = ((lambda text: tokenize(text, tokens)),) * 2
        lines, _ = _texts(read, splitters, max_length, skip_bad, notice)
        train, held = (lines, None) if dev is not None else _split_off(
            lines, split_seed, test_fraction, read.name)
        train_texts = held_texts = None
    if vocab is None:
        build = {"min_freq": min_freq, "max_size": max_vocab}
        if shared_vocab:
            vocab = TokenVocab.build((side for line in train for side in
                                      (line.source, line.target)), tokens,
                                     subword_model=models[0] if subwords else None, **build)
            source_vocab = vocab
        else:
            source_vocab = TokenVocab.build((line.source for line in train), tokens,
                                            subword_model=models[0] if subwords else None,
                                            **build)
            vocab = TokenVocab.build((line.target for line in train), tokens,
                                     subword_model=models[1] if subwords else None, **build)
    if dev is not None:
        held_split = load_split(dev, vocab, source_vocab, source_column, max_length, skip_bad,
                                notice)
    else:
        held_split = _encode(held, held_texts, vocab, source_vocab)
    train_split = _encode(train, train_texts, vocab, source_vocab)
    test_split = None if test is None else load_split(test, vocab, source_vocab, source_column,
                                                      max_length, skip_bad, notice)
    return Corpus(vocab, train_split.x, train_split.t, held_split.x, held_split.t,
                  train_split.sources, train_split.references, held_split.sources,
                  held_split.references, vocab.tokenizer, source_vocab=source_vocab,
                  test_set=test_split)


def _encode(lines, texts, vocab, source_vocab):
    """The :class:`Split` of tokenized lines; its texts are ``texts`` where given (the
    sentences as read), else the tokens joined again."""
    x = Sequences([source_vocab.encode(line.source) for line in lines])
    t = Sequences([vocab.encode(line.target, bos=True, eos=True) for line in lines])
    if texts is None:
        texts = [(source_vocab.detokenize(line.source), vocab.detokenize(line.target))
                 for line in lines]
    return Split(x, t, [s for s, _ in texts], [r for _, r in texts])


def load_split(data, vocab, source_vocab=None, source_column=1, max_length=None,
               skip_bad=False, notice=None):
    """The :class:`Split` of every pair of ``data`` (as :func:`load_pairs` takes it) in the
    vocabularies given; the sentences as read where they are split into subwords, else their
    tokens joined again."""
    source_vocab = vocab if source_vocab is None else source_vocab
    read = reading.read(data, source_column)
    lines, texts = _texts(read, (source_vocab.tokenize, vocab.tokenize), max_length, skip_bad,
                          notice, texts=vocab.tokenizer == "spm")
    return _encode(lines, texts, vocab, source_vocab)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _lexicon(seed, size=20):
    rng = np.random.default_rng(seed)
    words = []
    while len(words) < size:
        w = "".join(rng.choice(list(_LETTERS), rng.integers(2, 6)))
        if w not in words:
            words.append(w)
    return words


def synthetic_pairs(n, seed=0, min_words=2, max_words=8):
    """n pairs of a small made-up language and its translation: each source word replaced by its
    fixed counterpart, in reverse order ("ka tomu ri" -> "nir po zel"), min_words..max_words
    words long; deterministic from ``seed``."""
    source, target = _lexicon(11), _lexicon(23)
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        ids = rng.integers(0, len(source), rng.integers(min_words, max_words + 1)).tolist()
        pairs.append((" ".join(source[i] for i in ids),
                      " ".join(target[i] for i in reversed(ids))))
    return pairs


def write_pairs(path, pairs):
    """A pairs file of (source, target) texts, written atomically."""
    text = "".join(f"{s}\t{t}\n" for s, t in pairs)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))

"""Parallel corpora of sentences of any length: ``source<TAB>target`` per line.

A pairs file is UTF-8 text, one sentence pair per line, the source and its translation separated
by a tab; further columns (the attribution of the Tatoeba/Anki export) are ignored::

    Go.<TAB>行け。<TAB>CC-BY 2.0 (France) Attribution: tatoeba.org ...

Sentences are split into characters (any script; runs of whitespace become one space) or into
whitespace-separated words. One vocabulary (:class:`~s2sxp.vocab.TokenVocab`) serves both sides: the
four special tokens (ids 0-3), then the tokens of the training split by descending count. Sources
are their tokens; targets are ``<s> tokens </s>``. A batch pads its rows on the right with ``<pad>``
to its longest (:class:`Sequences`), and :func:`bucket_order` draws batches of rows of similar
lengths so that little of a batch is padding.

A bad line (empty, without a tab, with an empty side, not UTF-8, longer than ``max_length``
tokens) is an error naming the file and the line, or, with ``skip_bad``, a counted skip reported
in one notice.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass

import numpy as np

from .datasets import DatasetError, show_line
from .files import atomic_write
from .vocab import PAD_ID, TokenVocab, check_tokenizer, detokenize, tokenize


class CorpusError(DatasetError):
    """A pairs file or list of lines that cannot be read as a parallel corpus."""


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


def pairs_from_lines(lines, tokens="char", source="<lines>", max_length=None, skip_bad=False,
                     notice=None, first_line=1):
    """[(source tokens, target tokens)] from ``source<TAB>target`` lines (see the module
    docstring for what makes a line bad). A line may be a str or, for undecodable bytes, an
    exception to report at its place."""
    check_tokenizer(tokens)
    pairs, skipped, total = [], {}, 0
    for number, line in enumerate(lines, start=first_line):
        total += 1
        problem = None
        if isinstance(line, Exception):
            problem, shown = "not UTF-8", f"({line})"
        else:
            line = line.rstrip("\r\n")
            shown = show_line(line)
            if number == first_line:
                line = line.lstrip("\ufeff")
            if not line.strip():
                problem = "empty"
            elif "\t" not in line:
                problem = "without a tab"
            else:
                src, tgt = line.split("\t")[:2]
                src, tgt = tokenize(src, tokens), tokenize(tgt, tokens)
                if not src or not tgt:
                    problem = "with an empty side"
                elif max_length is not None and max(len(src), len(tgt)) > max_length:
                    problem = f"longer than {max_length} tokens"
        if problem is None:
            pairs.append((src, tgt))
            continue
        if not skip_bad:
            raise CorpusError(f"{source}, line {number}: {problem} (expected "
                              f"source<TAB>target): {shown}")
        skipped.setdefault(problem, []).append(number)
    if skipped:
        parts = [f"{len(where)} {problem} (first: line {where[0]})"
                 for problem, where in skipped.items()]
        say = notice or (lambda text: print(text, file=sys.stderr))
        say(f"skipped {sum(map(len, skipped.values()))} of {total} lines of {source}: "
            + ", ".join(parts))
    if not pairs:
        raise CorpusError(f"{source}: no sentence pairs (expected source<TAB>target per line)")
    return pairs


def read_pairs(path, tokens="char", max_length=None, skip_bad=False, notice=None):
    """:func:`pairs_from_lines` on a UTF-8 file; errors name the file and the line."""
    with open(path, "rb") as f:
        raw = f.read().split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for line in raw:
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            lines.append(e)
    return pairs_from_lines(lines, tokens, os.fspath(path), max_length, skip_bad, notice)


def is_pairs_file(path):
    """True for a .tsv/.tab file, or one whose first non-empty line holds a tab."""
    if os.path.splitext(os.fspath(path))[1].lower() in (".tsv", ".tab"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    for line in head.split(b"\n"):
        if line.strip():
            return b"\t" in line
    return False


@dataclass
class Corpus:
    """A parallel corpus split for training (see :func:`load_pairs`): ``x_*`` and ``t_*`` the ids,
    ``src_*`` and ``ref_*`` the sentences as text; the sources reversed where ``reversed_input``
    (each sentence's own tokens; the padding stays at the end)."""

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

    def reversed(self):
        return dataclasses.replace(self, x_train=self.x_train.reversed(),
                                   x_test=self.x_test.reversed(),
                                   reversed_input=not self.reversed_input)

    @property
    def max_output_length(self):
        """The most tokens a translation may take: twice the longest training target."""
        return 2 * int(self.t_train.max_length)


def load_pairs(pairs, tokens="char", min_freq=1, max_vocab=None, max_length=None,
               skip_bad=False, split_seed=1984, test_fraction=0.1, notice=None, vocab=None):
    """A :class:`Corpus` from a pairs file or a list of (source, target) texts, read and checked
    as :func:`pairs_from_lines` reads lines (the list's items numbered from 1): shuffled by
    ``numpy.random.RandomState(split_seed)``, the last ``test_fraction`` the test split, the
    vocabulary built from the training split (or ``vocab``, given), targets ``<s> ... </s>``.
    ``src_*`` and ``ref_*`` are the sentences as text (``ref_test``: the references for BLEU)."""
    if isinstance(pairs, (list, tuple)):
        source = "<pairs>"
        pairs = pairs_from_lines(_as_lines(pairs), tokens, source, max_length, skip_bad, notice)
    else:
        source = os.fspath(pairs)
        pairs = read_pairs(pairs, tokens, max_length, skip_bad, notice)
    n = len(pairs)
    if n < 2:
        raise CorpusError(f"{source} holds 1 sentence pair; a corpus takes at least 2 (one to "
                          "train on, one to test with)")
    indices = np.arange(n)
    np.random.RandomState(split_seed).shuffle(indices)
    n_test = max(int(n * test_fraction), 1 if n >= 2 else 0)
    train = [pairs[i] for i in indices[:n - n_test]]
    test = [pairs[i] for i in indices[n - n_test:]]
    if vocab is None:
        vocab = TokenVocab.build((s for pair in train for s in pair), tokens, min_freq,
                                 max_vocab)

    def encode(part):
        return (Sequences([vocab.encode(s) for s, _ in part]),
                Sequences([vocab.encode(t, bos=True, eos=True) for _, t in part]))

    def texts(part, side):
        return [detokenize(pair[side], vocab.tokenizer) for pair in part]

    (x_train, t_train), (x_test, t_test) = encode(train), encode(test)
    return Corpus(vocab, x_train, t_train, x_test, t_test, texts(train, 0), texts(train, 1),
                  texts(test, 0), texts(test, 1), vocab.tokenizer)


def _as_lines(pairs):
    lines = []
    for number, pair in enumerate(pairs, start=1):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(side, str) for side in pair)):
            raise CorpusError(f"<pairs>, item {number}: expected a (source, target) pair of "
                              f"strings, got {show_line(repr(pair))}")
        if "\t" in pair[0] or "\n" in pair[0] + pair[1]:
            raise CorpusError(f"<pairs>, item {number}: a tab or line break inside the source "
                              f"or a line break inside the target: {show_line(repr(pair))}")
        lines.append(f"{pair[0]}\t{pair[1]}")
    return lines


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

"""Parallel corpora of sentences of any length, ready to train on: :func:`load_pairs` reads the
training pairs and, where given, a dev and a test file (:mod:`s2sxp.pairs`), splits sentences into
characters (any script; runs of whitespace become one space), whitespace-separated words, or
subwords of a SentencePiece model trained on the training split, and builds a vocabulary
(:class:`~s2sxp.vocab.TokenVocab`) for each side, or one for both: the four special tokens
(ids 0-3), then the tokens of the training split by descending count.

Sources are their tokens; targets are ``<s> tokens </s>``; both are kept as
:class:`~s2sxp.batches.Sequences`, which pad each batch to its longest.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from . import pairs as reading
from .files import atomic_write
from .datasets import DATASETS
from .pairs import CorpusError
from .batches import Sequences
from .decoding import DecodeOptions
from .distributed import SINGLE
from .metrics import (evaluate_translations, scores_text, show_translations, translation_scores,
                      unspaced)
from .vocab import SPECIALS, UNK_ID, TokenVocab, check_tokenizer, tokenize, train_subwords

__all__ = ["Corpus", "CorpusError", "Options", "Sequences", "Split", "load_pairs", "load_split",
           "pairs_from_lines", "read_pairs", "synthetic_pairs", "write_pairs"]


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


@dataclass(frozen=True)
class Options:
    """How a corpus is read (:func:`load_pairs`): sentences split into ``tokens`` (``"char"``,
    ``"word"``, or ``"spm"``: subwords of a SentencePiece model of the ``subword_model`` kind,
    unigram or bpe, of about ``vocab_size`` pieces, trained on the training split); a vocabulary
    for each side of the tokens seen at least ``min_freq`` times, at most ``max_vocab`` of them,
    or one for both (``shared_vocab``); a pair of more than ``max_length`` tokens a side (None:
    any) an error, or skipped and counted with ``skip_bad``; the sources in column
    ``source_column`` (1 or 2) of a pairs file; without a dev file, the last ``test_fraction`` of
    the pairs, shuffled by ``numpy.random.RandomState(split_seed)``, held out."""

    tokens: str = "char"
    min_freq: int = 1
    max_vocab: int = None
    max_length: int = None
    skip_bad: bool = False
    source_column: int = 1
    shared_vocab: bool = False
    vocab_size: int = 4000
    subword_model: str = "unigram"
    split_seed: int = 1984
    test_fraction: float = 0.1

    @classmethod
    def of(cls, settings):
        """The options of an object that has them among its attributes (a run's settings)."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)
                      if hasattr(settings, f.name)})


@dataclass
class Split:
    """The pairs of one part of a corpus: ``x`` source ids, ``t`` target ids (``<s> ... </s>``),
    ``sources`` and ``references`` the sentences as text, ``vocab`` the targets' vocabulary;
    ``name`` what part it is (``dev``, ``held-out``, ``train``; ``all`` for a whole file) and
    ``max_length`` the most tokens a translation of it may take (None: twice its longest
    target).

    It evaluates a model (:meth:`evaluate`: BLEU, chrF and exact match of its translations) and
    shows and sums up what it gave, as the book's questions do
    (:class:`s2sxp.datasets.Questions`)."""

    x: Sequences
    t: Sequences
    sources: list
    references: list
    vocab: TokenVocab = None
    name: str = "test"
    max_length: int = None

    #: Translations may be searched for with beams.
    beams = True

    def reversed(self):
        return dataclasses.replace(self, x=self.x.reversed())

    def evaluate(self, model, options=DecodeOptions(), bleu_tokenize="13a", progress=None,
                 world=SINGLE):
        """(scores, translations) of ``model`` (:func:`s2sxp.metrics.evaluate_translations`)."""
        limit = self.max_length or 2 * self.t.max_length
        return evaluate_translations(model, self.x, self.references, self.vocab,
                                     options.limited(limit), bleu_tokenize, progress, world)

    def show(self, translations, count=10, file=None):
        show_translations(self.sources, self.references, translations, count, file)

    def notes(self, bleu_tokenize):
        """What may make the scores of this split mislead, in words: most source tokens unknown
        to the model (the columns the other way round?), or BLEU split by 13a on a target
        written without spaces."""
        notes = []
        tokens = sum(len(s) for s in self.x.seqs)
        unknown = sum(int((s == UNK_ID).sum()) for s in self.x.seqs) / max(1, tokens)
        if unknown > 0.5:
            notes.append(f"{100 * unknown:.0f}% of the source tokens are not in the model's "
                         "vocabulary (read as <unk>): are source and target the other way round "
                         "(--source-column)?")
        if bleu_tokenize == "13a" and unspaced(self.references):
            notes.append("BLEU splits words at spaces (13a), and these references have none: "
                         "score them with --bleu-tokenize char (or ja-mecab)")
        return notes

    def texts(self, translations):
        """The translations :meth:`evaluate` gave, as lines of text."""
        return list(translations)

    def rescored(self, translations, more, bleu_tokenize="13a"):
        """The scores of ``translations`` against this split's references and each list of
        ``more`` (further references of every sentence)."""
        return translation_scores(translations, self.references, bleu_tokenize, more)

    def heading(self, decoding):
        """What was scored, and how: ``test, 100 sentences, greedy``."""
        what = "all" if self.name == "all" else f"{self.name},"
        return f"{what} {len(self.references)} sentences, {decoding}"

    def summary(self, scores):
        return scores_text(scores)


@dataclass
class Corpus:
    """A parallel corpus ready to train on (see :func:`load_pairs`): ``x_*`` and ``t_*`` the ids,
    ``src_*`` and ``ref_*`` the sentences as text, of the training split and of the held-out
    split training is validated on (``*_test``: the dev file, or a random tenth of the training
    pairs where there is none, as ``held_out`` says); ``test_set``, the test file's
    :class:`Split` or None. ``vocab`` is the targets' vocabulary, ``source_vocab`` the sources'
    (the same object where they share one). The sources are reversed where ``reversed_input``
    (each sentence's own tokens; the padding stays at the end).

    It answers what a run asks of its data as the book's :class:`s2sxp.datasets.Data` does:
    its splits, the scores a validation gives, the model options it needs, how it describes
    itself and what a saved model records of it."""

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
    held_out: str = "held-out"

    #: The run settings of a corpus are those declared for it (s2sxp.config).
    kind = "corpus"
    #: What a validation scores, the first the one to select by where none is asked for.
    scores = ("exact", "bleu", "chrf")
    #: A run's settings on a corpus where none are given: the rate halves when the dev score
    #: stalls (a model family's schedule counts iterations of the book's data), subwords.
    recipe = {"lr_half_life": 0, "anneal_at": 0, "plateau": 1, "schedule": "plateau",
              "tokens": "spm"}
    #: The model family of a run on a corpus where none is asked for, and the settings of a
    #: family there where none are given (the second, under a planned schedule: --minutes,
    #: linear, cosine): those that gave the best test BLEU in 15 minutes on the Tatoeba
    #: Japanese-English corpus (benchmarks/results/budget-search/), and in 30 minutes by
    #: epochs (benchmarks/results/headline/).
    model = "bahdanau"
    family_recipes = {"bahdanau": {"bidirectional": True, "dropout": 0.2,
                                   "label_smoothing": 0.1, "lr": 0.003}}
    planned_recipes = {"bahdanau": {"lr": 0.005}}
    #: The embedding's width by the tokens.
    wordvec_sizes = {"char": 64, "word": 256, "spm": 256}

    def __post_init__(self):
        if self.source_vocab is None:
            self.source_vocab = self.vocab

    @classmethod
    def from_settings(cls, settings, vocab=None, source_vocab=None):
        """The corpus a run's (resolved) settings name, in ``vocab`` (and ``source_vocab``)
        where given: ``data``, ``dev`` and ``test`` (each a pairs file, or with ``langs`` two
        aligned files), read as :class:`Options` of the settings say, reversed where
        ``reverse``."""
        data = load_pairs(settings.files(settings.data), Options.of(settings),
                          dev=settings.files(settings.dev), test=settings.files(settings.test),
                          vocab=vocab, source_vocab=source_vocab)
        return data.reversed() if settings.reverse else data

    @classmethod
    def file_split(cls, settings, vocab, source_vocab=None, name="all", max_length=None):
        """Every pair of the file (or aligned files) the settings name as ``data``, read as they
        say, in the vocabularies given, its sources reversed where ``reverse``: the split a
        corpus model is scored on, translations of at most ``max_length`` tokens."""
        if settings.data in DATASETS:
            raise ValueError(f"{settings.data} is a dataset of the book's questions, but a model "
                             "trained on a parallel corpus translates sentences: give a file of "
                             "sentence pairs")
        split = load_split(settings.files(settings.data), vocab, source_vocab,
                           settings.source_column)
        split = split.reversed() if settings.reverse else split
        return dataclasses.replace(split, name="all", max_length=max_length)

    @classmethod
    def wordvec_size(cls, tokens):
        return cls.wordvec_sizes[tokens]

    def reversed(self):
        return dataclasses.replace(
            self, x_train=self.x_train.reversed(), x_test=self.x_test.reversed(),
            test_set=None if self.test_set is None else self.test_set.reversed(),
            reversed_input=not self.reversed_input)

    @property
    def max_output_length(self):
        """The most tokens a translation may take: twice the longest training target."""
        return 2 * int(self.t_train.max_length)

    def split(self, name="test"):
        """The held-out split (``test``: the dev file, or the tenth held out of the training
        pairs, named so) or the training one (``train``)."""
        x, t, sources, references = ((self.x_test, self.t_test, self.src_test, self.ref_test)
                                     if name == "test" else
                                     (self.x_train, self.t_train, self.src_train, self.ref_train))
        return Split(x, t, sources, references, self.vocab,
                     self.held_out if name == "test" else name, self.max_output_length)

    def selected(self, select):
        """The score that picks the best model: ``select``."""
        return select

    def describe(self):
        sizes = (f"{len(self.vocab)}" if self.source_vocab is self.vocab else
                 f"{len(self.source_vocab)} source / {len(self.vocab)} target")
        text = (f"{len(self.x_train)} train / {len(self.x_test)} {self.held_out} sentence pairs, "
                f"vocabulary {sizes} {self.vocab.unit}")
        if self.test_set is not None:
            text += f", {len(self.test_set.x)} test pairs for the end"
        return text

    def model_options(self):
        """What a model needs to read this corpus: the padding id, the sources' vocabulary size
        where it has one of its own."""
        options = {"pad_id": self.vocab.pad_id}
        if self.source_vocab is not self.vocab:
            options["source_vocab_size"] = len(self.source_vocab)
        return options

    def longest(self):
        """(the longest source, the longest target) of the training split, in tokens."""
        return self.x_train.max_length, self.t_train.max_length

    def saved_meta(self):
        """What a saved model records of this corpus besides its settings."""
        return {"max_output_length": self.max_output_length}


def _texts(read, vocab_tokenize, max_length, skip_bad, notice, texts=False):
    """The good lines of ``read`` tokenized, and, where ``texts``, their texts before."""
    raw = {line.number: (line.source, line.target) for line in read.lines}
    reading.tokenized(read, *vocab_tokenize, max_length)
    good = reading.settle(read, skip_bad, notice)
    return good, [raw[line.number] for line in good] if texts else None


def _split_off(lines, options, name):
    """(training lines, held-out lines): shuffled by ``numpy.random.RandomState(split_seed)``,
    the last ``test_fraction`` held out."""
    n = len(lines)
    if n < 2:
        raise CorpusError(f"{name} holds 1 sentence pair; a corpus takes at least 2 (one to "
                          "train on, one to test with)")
    indices = np.arange(n)
    np.random.RandomState(options.split_seed).shuffle(indices)
    n_test = max(int(n * options.test_fraction), 1)
    return [lines[i] for i in indices[:n - n_test]], [lines[i] for i in indices[n - n_test:]]


def _subword_models(train, options):
    """(source model, target model): SentencePiece models trained on the training lines'
    texts, one for both sides where ``shared_vocab``."""
    sources = [line.source for line in train]
    targets = [line.target for line in train]
    size, kind = options.vocab_size, options.subword_model
    if options.shared_vocab:
        model = train_subwords(sources + targets, size, kind)
        return model, model
    return train_subwords(sources, size, kind), train_subwords(targets, size, kind)


def _subword_lines(read, o, split_off, notice):
    """(train lines, held-out lines or None, their texts as read, the subword models): the
    lines settled, split off, then split into the pieces of models trained on the training
    part."""
    lines = reading.settle(read, o.skip_bad, notice)
    train, held = split_off(lines)
    models = _subword_models(train, o)
    splitters = tuple(TokenVocab(SPECIALS, "spm", m).tokenize for m in models)
    parts = [_texts(reading.Read(read.name, part, read.expected), splitters, o.max_length,
                    o.skip_bad, notice, texts=True) for part in (train, held) if part is not None]
    (train, train_texts), (held, held_texts) = parts[0], (parts[1:] or [(None, None)])[0]
    return train, held, (train_texts, held_texts), models


def _vocabularies(train, o, models):
    """(target vocabulary, source vocabulary) built from the training lines."""
    build = {"min_freq": o.min_freq, "max_size": o.max_vocab}
    if o.shared_vocab:
        vocab = TokenVocab.build((side for line in train for side in (line.source, line.target)),
                                 o.tokens, subword_model=models[0], **build)
        return vocab, vocab
    source_vocab = TokenVocab.build((line.source for line in train), o.tokens,
                                    subword_model=models[0], **build)
    return TokenVocab.build((line.target for line in train), o.tokens, subword_model=models[1],
                            **build), source_vocab


def load_pairs(pairs, options=None, dev=None, test=None, vocab=None, source_vocab=None,
               notice=None, **settings):
    """A :class:`Corpus` from ``pairs``: a pairs file, a tuple of two aligned files (source path,
    target path) or a list of (source, target) texts, read and checked as :mod:`s2sxp.pairs`
    reads them (a list's items numbered from 1); ``dev`` and ``test`` likewise, where given; read
    as ``options`` say (:class:`Options`), or the options named as keywords
    (``load_pairs(path, tokens="word")``). ``notice`` takes the message of the bad lines skipped.

    Without ``dev`` the last tenth of the pairs is held out to validate on. Each side gets a
    vocabulary built from the training split, or one for both; ``vocab`` (and ``source_vocab``,
    where the sources have their own) given instead are used as they are."""
    o = dataclasses.replace(options or Options(), **settings)
    check_tokenizer(o.tokens)
    if vocab is not None:
        o = dataclasses.replace(o, tokens=vocab.tokenizer)
        source_vocab = vocab if source_vocab is None else source_vocab
    read = reading.read(pairs, o.source_column)

    def split_off(lines):
        return (lines, None) if dev is not None else _split_off(lines, o, read.name)

    if o.tokens == "spm" and vocab is None:
        train, held, (train_texts, held_texts), models = _subword_lines(read, o, split_off,
                                                                        notice)
    else:
        splitters = ((source_vocab.tokenize, vocab.tokenize) if vocab is not None else
                     ((lambda text: tokenize(text, o.tokens)),) * 2)
        train, held = split_off(_texts(read, splitters, o.max_length, o.skip_bad, notice)[0])
        train_texts = held_texts = None
        models = (None, None)
    if vocab is None:
        _check_words(train, o.tokens)
        vocab, source_vocab = _vocabularies(train, o, models)
    split = {"vocab": vocab, "source_vocab": source_vocab, "source_column": o.source_column,
             "max_length": o.max_length, "skip_bad": o.skip_bad, "notice": notice}
    held_split = (load_split(dev, **split) if dev is not None else
                  _encode(held, held_texts, vocab, source_vocab))
    train_split = _encode(train, train_texts, vocab, source_vocab)
    test_split = None if test is None else load_split(test, **split)
    return Corpus(vocab, train_split.x, train_split.t, held_split.x, held_split.t,
                  train_split.sources, train_split.references, held_split.sources,
                  held_split.references, vocab.tokenizer, source_vocab=source_vocab,
                  test_set=test_split, held_out="held-out" if dev is None else "dev")


def _check_words(lines, tokens):
    """A warning where sentences split into words (``tokens="word"``) are mostly one word each,
    as a language written without spaces is (Japanese, Chinese): each would be one token."""
    if tokens != "word" or not lines:
        return
    for side in ("source", "target"):
        sample = [getattr(line, side) for line in lines[:500]]
        if sum(len(words) == 1 and len(words[0]) > 4 for words in sample) > len(sample) / 2:
            warnings.warn(f"most {side} sentences are one word each when split at spaces (a "
                          "language written without them?); split them into characters "
                          "(tokens=\"char\") or subwords (\"spm\") instead", stacklevel=3)


def _encode(lines, texts, vocab, source_vocab):
    """The :class:`Split` of tokenized lines; its texts are ``texts`` where given (the
    sentences as read), else the tokens joined again."""
    x = Sequences([source_vocab.encode(line.source) for line in lines])
    t = Sequences([vocab.encode(line.target, bos=True, eos=True) for line in lines])
    if texts is None:
        texts = [(source_vocab.detokenize(line.source), vocab.detokenize(line.target))
                 for line in lines]
    return Split(x, t, [s for s, _ in texts], [r for _, r in texts], vocab)


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

"""How good a model's answers are: exact match of the book's fixed-width answers
(:func:`evaluate`) and corpus BLEU and chrF of translations through sacrebleu
(:func:`evaluate_translations`), each decoded and scored; the scores in words; and the book's
print-out of a few examples. The splits of the data (:meth:`s2sxp.datasets.Data.split`,
:meth:`s2sxp.corpus.Corpus.split`) evaluate themselves through these.
"""
import importlib.util
import logging
import sys
from dataclasses import replace

import numpy

from .decoding import DecodeOptions, decode
from .distributed import SINGLE

#: sacrebleu's BLEU tokenisations: those that need nothing else installed, and Japanese words
#: by MeCab, which needs mecab-python3 and ipadic (:func:`tokenize_problem`).
BLEU_TOKENIZERS = ("13a", "intl", "char", "zh", "none", "ja-mecab")
#: Scripts written without spaces between words, which 13a leaves as one word a sentence:
#: Hiragana, Katakana, the CJK ideographs, Thai.
UNSPACED = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x0E00, 0x0E7F))


def tokenize_problem(tokenize):
    """What stops sacrebleu from splitting by ``tokenize``, in words, or None."""
    if tokenize == "ja-mecab" and not all(importlib.util.find_spec(m)
                                          for m in ("MeCab", "ipadic")):
        return ("ja-mecab needs MeCab: pip install \"sacrebleu[ja]\" (or take char, which "
                "needs nothing)")
    return None


def unspaced(texts):
    """Whether most characters of ``texts`` (a sample of references) are of a script written
    without spaces (:data:`UNSPACED`), whose BLEU wants ``char`` (or ``ja-mecab``), not 13a."""
    letters = [c for text in texts[:200] for c in text if not c.isspace()]
    inside = sum(any(lo <= ord(c) <= hi for lo, hi in UNSPACED) for c in letters)
    return bool(letters) and inside > len(letters) / 2


class _Once(logging.Filter):
    """Lets each message through once: sacrebleu's warnings (that the text looks tokenized)
    would otherwise come again at every evaluation."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def filter(self, record):
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def _warn_once():
    logger = logging.getLogger("sacrebleu")
    if not any(isinstance(f, _Once) for f in logger.filters):
        logger.addFilter(_Once())


def _check(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no sentences to score")
    if not all(isinstance(s, str) for s in hypotheses + references):
        raise ValueError("hypotheses and references must be strings")
    return hypotheses, references


def bleu(hypotheses, references, tokenize="13a", more=()):
    """Corpus BLEU (0-100) of one reference per hypothesis, and those of each list of ``more``
    (further references, one a hypothesis)."""
    from sacrebleu.metrics import BLEU

    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"unknown BLEU tokenize {tokenize!r}; choose one of "
                         + ", ".join(BLEU_TOKENIZERS))
    if tokenize_problem(tokenize):
        raise ValueError(f"BLEU tokenize {tokenize_problem(tokenize)}")
    hypotheses, streams = _streams(hypotheses, references, more)
    _warn_once()
    return float(BLEU(tokenize=tokenize).corpus_score(hypotheses, streams).score)


def chrf(hypotheses, references, more=()):
    """Corpus chrF (0-100), against ``references`` and each list of ``more``."""
    from sacrebleu.metrics import CHRF

    hypotheses, streams = _streams(hypotheses, references, more)
    return float(CHRF().corpus_score(hypotheses, streams).score)


def exact_match(hypotheses, references, more=()):
    """The fraction (0-1) of hypotheses equal to their reference (or to one of ``more``)."""
    hypotheses, streams = _streams(hypotheses, references, more)
    return sum(any(h == refs[i] for refs in streams)
               for i, h in enumerate(hypotheses)) / len(hypotheses)


def _streams(hypotheses, references, more):
    """The hypotheses and the lists of references, each checked against them."""
    streams = []
    for refs in (references, *more):
        hypotheses, refs = _check(hypotheses, refs)
        streams.append(refs)
    return hypotheses, streams


def translation_scores(hypotheses, references, tokenize="13a", more=()):
    """{"bleu", "chrf", "exact"} of ``hypotheses`` against ``references`` and ``more``."""
    return {"bleu": bleu(hypotheses, references, tokenize, more),
            "chrf": chrf(hypotheses, references, more),
            "exact": exact_match(hypotheses, references, more)}


def evaluate(model, x, t, batch_size=None, progress=None, world=SINGLE):
    """Exact-match accuracy of greedy decoding: t[:, 0] is the start symbol, t[:, 1:] the answer.
    Returns (accuracy, guesses (N, T_ans - 1)). ``world``: the ranks that share the decoding
    (:func:`s2sxp.decoding.decode`)."""
    t = numpy.asarray(t)
    options = DecodeOptions(max_length=t.shape[1] - 1, batch_size=batch_size)
    guesses = decode(model, x, int(t[0, 0]), options=options, progress=progress, world=world).ids
    correct = (guesses == t[:, 1:]).all(axis=1)
    return float(correct.mean()), guesses


def evaluate_translations(model, x, references, vocab, options, bleu_tokenize="13a",
                          progress=None, world=SINGLE):
    """Corpus BLEU and chrF (0-100, through sacrebleu) and exact match (0-1) of the translations
    of ``x`` against ``references`` (one string each), decoded as ``options`` say (a
    :class:`~s2sxp.decoding.DecodeOptions` with its ``max_length``; the best of each) by a model
    trained on a corpus whose targets are in ``vocab``. Returns (scores dict, translations)."""
    ids = decode(model, x, vocab.bos_id, vocab.eos_id, replace(options, n_best=1), progress,
                 world).ids
    hypotheses = [vocab.decode_text(row) for row in ids]
    return translation_scores(hypotheses, references, bleu_tokenize), hypotheses


#: How each score is named in a sentence, and in a column of figures.
SCORE_NAMES = {"exact": ("accuracy", "acc"), "bleu": ("BLEU", "BLEU"), "chrf": ("chrF", "chrF")}


def percent(accuracy):
    return f"{100 * accuracy:.3f}%"


def figure(name, value):
    """One score's figure: ``99.000%`` of exact match, ``12.34`` of BLEU or chrF."""
    return percent(value) if name == "exact" else f"{value:.2f}"


def score_text(name, value):
    """One score as a column shows it: ``acc 99.000%``, ``BLEU 12.34``."""
    return f"{SCORE_NAMES[name][1]} {figure(name, value)}"


def scores_text(scores):
    """The scores of a validation: BLEU, chrF and exact match of translations, or the accuracy
    of the book's answers alone."""
    if "bleu" not in scores:
        return score_text("exact", scores["exact"])
    return (f"BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f}, exact "
            f"{percent(scores['exact'])}")


def show_pairs(rows, labels, count=10, file=None):
    """Each of the first ``count`` (input, truth, guess) rows as three lines, the guess marked O
    (right) or X, then ``---``; ``labels``: the names of the first two lines."""
    file = sys.stdout if file is None else file
    for given, truth, guess in list(rows)[:count]:
        mark = "O" if guess == truth else "X"
        print(f"{labels[0]} {given}\n{labels[1]} {truth}\n{mark} {guess}\n---", file=file)


def show_examples(x, t, guesses, vocab, count=10, reversed_input=False, file=None):
    """The book's print-out: question, truth and guess with a mark, for the first ``count``."""
    rows = ((vocab.decode(q[::-1] if reversed_input else q), vocab.decode(a[1:]),
             vocab.decode(g)) for q, a, g in zip(x[:count], t[:count], guesses[:count]))
    show_pairs(rows, ("Q", "T"), count, file)


def show_translations(sources, references, hypotheses, count=10, file=None):
    """Source, reference and translation with a mark, for the first ``count`` sentences."""
    show_pairs(zip(sources, references, hypotheses), ("S", "R"), count, file)

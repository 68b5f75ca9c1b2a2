"""How good a model's answers are: exact match of the book's fixed-width answers
(:func:`evaluate`), corpus BLEU and chrF of translations through sacrebleu
(:func:`evaluate_translations`), either on one split of a dataset or corpus
(:func:`evaluate_split`), and the book's print-out of a few examples.
"""
import importlib.util
import logging
import sys

import numpy

from .corpus import Corpus
from .decoding import decode
from .distributed import SINGLE
from .translation import translate

#: sacrebleu's BLEU tokenisations: those that need nothing else installed, and Japanese words
#: by MeCab where mecab-python3 and ipadic are installed.
BLEU_TOKENIZERS = ("13a", "intl", "char", "zh", "none") + (
    ("ja-mecab",) if all(importlib.util.find_spec(m) for m in ("MeCab", "ipadic")) else ())


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


def bleu(hypotheses, references, tokenize="13a"):
    """Corpus BLEU (0-100) of one reference per hypothesis."""
    from sacrebleu.metrics import BLEU

    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"unknown BLEU tokenize {tokenize!r}; choose one of "
                         + ", ".join(BLEU_TOKENIZERS))
    hypotheses, references = _check(hypotheses, references)
    _warn_once()
    return float(BLEU(tokenize=tokenize).corpus_score(hypotheses, [references]).score)


def chrf(hypotheses, references):
    """Corpus chrF (0-100)."""
    from sacrebleu.metrics import CHRF

    hypotheses, references = _check(hypotheses, references)
    return float(CHRF().corpus_score(hypotheses, [references]).score)


def exact_match(hypotheses, references):
    """The fraction (0-1) of hypotheses equal to their reference."""
    hypotheses, references = _check(hypotheses, references)
    return sum(h == r for h, r in zip(hypotheses, references)) / len(references)


def evaluate(model, x, t, batch_size=None, progress=None, world=SINGLE):
    """Exact-match accuracy of greedy decoding: t[:, 0] is the start symbol, t[:, 1:] the answer.
    Returns (accuracy, guesses (N, T_ans - 1)). ``world``: the ranks that share the decoding
    (:func:`s2sxp.decoding.decode`)."""
    t = numpy.asarray(t)
    guesses = decode(model, x, int(t[0, 0]), t.shape[1] - 1, batch_size=batch_size,
                     progress=progress, world=world)
    correct = (guesses == t[:, 1:]).all(axis=1)
    return float(correct.mean()), guesses


def evaluate_translations(model, x, references, vocab, max_length, beam=1, length_penalty=1.0,
                          bleu_tokenize="13a", batch_size=None, progress=None, world=SINGLE,
                          early_stop=False):
    """Corpus BLEU and chrF (0-100, through sacrebleu) and exact match (0-1) of the translations
    of ``x`` against ``references`` (one string each). Returns (scores dict, translations)."""
    hypotheses = translate(model, x, vocab, max_length, beam, length_penalty, batch_size,
                           progress, world, early_stop)
    scores = {"bleu": bleu(hypotheses, references, tokenize=bleu_tokenize),
              "chrf": chrf(hypotheses, references),
              "exact": exact_match(hypotheses, references)}
    return scores, hypotheses


def evaluate_split(model, data, split="test", beam=1, length_penalty=1.0, bleu_tokenize="13a",
                   max_length=None, progress=None, world=SINGLE, early_stop=False):
    """(scores, guesses) of greedy decoding (or beam search) of one split of ``data``: on a
    corpus, BLEU, chrF and exact match with the translations as text (``max_length``: at most
    that many tokens, default the corpus's); else exact match with the answers' ids."""
    if isinstance(data, Corpus):
        x, references = ((data.x_test, data.ref_test) if split == "test"
                         else (data.x_train, data.ref_train))
        return evaluate_translations(model, x, references, data.vocab,
                                     max_length or data.max_output_length, beam=beam,
                                     length_penalty=length_penalty, bleu_tokenize=bleu_tokenize,
                                     progress=progress, world=world, early_stop=early_stop)
    x, t = (data.x_test, data.t_test) if split == "test" else (data.x_train, data.t_train)
    accuracy, guesses = evaluate(model, x, t, progress=progress, world=world)
    return {"exact": accuracy}, guesses


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

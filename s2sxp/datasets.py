"""Character-level sequence data in the book's ``question_answer`` format.

Each example is one line: a question, then the answer, which begins at the first ``_`` of the line
(``_`` is the decoder's start symbol). Questions are padded with trailing spaces to one width, and
so are answers::

    999+999_1998
    September 27, 1994           _1994-09-27

Two datasets are generated here, deterministically from a seed and without downloads:

``date``
    Dates between 1970-01-01 and 2030-12-31 as people write them, with the ISO date as the answer.
    Questions are padded to 29 characters, answers are ``_YYYY-MM-DD`` (11). Formats, chosen
    uniformly, are those of :data:`DATE_FORMATS` ("September 27, 1994", "Wed, Sep 27, 1994",
    "27 Sep 1994", "1994 September 27", "9/27/94", "09/27/1994", ...), each written in lower,
    Title or UPPER case. Two-digit years 70-99 are 19yy and 00-30 are 20yy.

``addition``
    ``a+b`` for a, b in 0..999; questions 7 wide, answers ``_`` and the sum, 5 wide.

Any other file in the same format loads with :func:`load_text`. Loaders return host NumPy int32
arrays ``x: (N, question width)`` and ``t: (N, answer width)`` split 90/10 as the book's
``dataset/sequence.py`` does, and the :class:`~s2sxp.vocab.Vocab` that maps characters to ids;
:class:`Data` holds such a split, the questions reversed when asked.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np

from .decoding import DecodeOptions
from .distributed import SINGLE
from .metrics import evaluate, percent, show_examples
from .vocab import Vocab, strip_newline

DATASETS = ("date", "addition")
#: The lines generated for a dataset unless told.
EXAMPLES = 50000

DATE_FORMATS = (
    "{month} {d}, {yyyy}",
    "{mon} {d}, {yyyy}",
    "{weekday}, {month} {d}, {yyyy}",
    "{wkd}, {mon} {d}, {yyyy}",
    "{d} {month} {yyyy}",
    "{d} {mon} {yyyy}",
    "{yyyy} {month} {d}",
    "{m}/{d}/{yy}",
    "{mm}/{dd}/{yyyy}",
)
DATE_QUESTION_WIDTH = 29
FIRST_DATE = datetime.date(1970, 1, 1)
LAST_DATE = datetime.date(2030, 12, 31)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CASES = (str.lower, str.title, str.upper)

_SHOWN_CHARS = 60


class DatasetError(ValueError):
    """A data file or list of lines is not in the ``question_answer`` format."""


def date_lines(n=EXAMPLES, seed=0):
    """n lines ``question.ljust(29) + "_YYYY-MM-DD"``, dates uniform over 1970..2030."""
    _check_count(n)
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (LAST_DATE - FIRST_DATE).days + 1, size=n)
    formats = rng.integers(0, len(DATE_FORMATS), size=n)
    cases = rng.integers(0, len(_CASES), size=n)
    lines = []
    for day, f, case in zip(days.tolist(), formats.tolist(), cases.tolist()):
        date = FIRST_DATE + datetime.timedelta(days=day)
        question = _CASES[case](_write_date(date, DATE_FORMATS[f]))
        lines.append(question.ljust(DATE_QUESTION_WIDTH) + "_" + date.isoformat())
    return lines


def addition_lines(n=EXAMPLES, seed=0):
    """n lines ``f"{a}+{b}".ljust(7) + ("_" + str(a + b)).ljust(5)``, a and b uniform in 0..999."""
    _check_count(n)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 1000, size=(2, n)).tolist()
    return [f"{p}+{q}".ljust(7) + f"_{p + q}".ljust(5) for p, q in zip(a, b)]


def from_lines(lines, seed=1984, source="<lines>"):
    """((x_train, t_train), (x_test, t_test), vocab) from ``question_answer`` lines.

    x: (N, question width) int32, t: (N, answer width) int32. Empty lines are skipped; a trailing
    "\\n" or "\\r\\n" is removed, spaces are kept (they are padding).
    """
    if isinstance(lines, str):
        raise TypeError("from_lines takes an iterable of lines, not one string "
                        "(split it first, e.g. text.split('\\n'))")
    questions, answers, kept = _parse(lines, source)
    vocab = Vocab.from_lines(kept)
    x = vocab.encode("".join(questions)).reshape(len(questions), len(questions[0]))
    t = vocab.encode("".join(answers)).reshape(len(answers), len(answers[0]))
    return (*_split(x, t, seed), vocab)


def load_text(path, seed=1984):
    """from_lines on a UTF-8 file in the book's format; errors name the file and the line."""
    with open(path, "rb") as f:
        raw_lines = f.readlines()
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DatasetError(f"{os.fspath(path)}, line {number}: not UTF-8 "
                               f"({e.reason})") from None
    return from_lines(lines, seed=seed, source=os.fspath(path))


def load(name, n=EXAMPLES, seed=0, split_seed=1984):
    """A generated dataset ("date", "addition": n lines from seed) or a file path (load_text)."""
    if name == "date":
        return from_lines(date_lines(n, seed), seed=split_seed, source=name)
    if name == "addition":
        return from_lines(addition_lines(n, seed), seed=split_seed, source=name)
    if os.path.isfile(name):
        return load_text(name, seed=split_seed)
    raise ValueError(f"unknown dataset {name!r}: expected one of "
                     + ", ".join(map(repr, DATASETS))
                     + " or the path of an existing question_answer text file")


@dataclass
class Questions:
    """One split of the book's data: questions ``x`` (N, T_q) and their answers ``t`` (N, T_a),
    ``t[:, 0]`` the start symbol, in ``vocab``; the questions reversed where ``reversed_input``;
    ``name`` which split it is (``test``, ``train``).

    It evaluates a model (:meth:`evaluate`: the exact-match accuracy of greedy answers) and shows
    and sums up what it gave, as a corpus's split of sentences does
    (:class:`s2sxp.corpus.Split`)."""

    x: object
    t: object
    vocab: Vocab
    reversed_input: bool = False
    name: str = "test"

    #: Answers are decoded greedily, each as wide as the answers are.
    beams = False

    def evaluate(self, model, options=DecodeOptions(), bleu_tokenize=None, progress=None,
                 world=SINGLE):
        """({"exact": accuracy}, the guessed answers' ids) of ``model`` (only ``batch_size`` of
        ``options`` applies: the answers are greedy and as wide as the true ones)."""
        accuracy, guesses = evaluate(model, self.x, self.t, options.batch_size, progress, world)
        return {"exact": accuracy}, guesses

    def show(self, guesses, count=10, file=None):
        show_examples(self.x, self.t, guesses, self.vocab, count, self.reversed_input, file)

    def texts(self, guesses):
        """The answers :meth:`evaluate` gave, as lines of text."""
        return [self.vocab.decode(g) for g in guesses]

    def notes(self, bleu_tokenize=None):
        """Nothing: a question with characters the model lacks is refused as it is read."""
        return []

    def rescored(self, guesses, more, bleu_tokenize=None):
        raise ValueError("further references are for translations of a parallel corpus; the "
                         "book's questions have one answer each")

    def heading(self, decoding):
        return self.name

    def summary(self, scores):
        correct = int(round(scores["exact"] * len(self.x)))
        return f"accuracy {percent(scores['exact'])} ({correct} of {len(self.x)})"


@dataclass
class Data:
    """A dataset split as the book splits it, the questions reversed where ``reversed_input``.

    It answers what a run asks of its data as a parallel corpus does
    (:class:`s2sxp.corpus.Corpus`): its splits, the scores a validation gives, the model options
    it needs, how it describes itself and what a saved model records of it."""

    x_train: object
    t_train: object
    x_test: object
    t_test: object
    vocab: Vocab
    reversed_input: bool = False

    #: The run settings of the book's data are those declared for it (s2sxp.config).
    kind = "book"
    #: What a validation scores: exact match.
    scores = ("exact",)
    #: A run's settings on the book's data where none are given: the book's embedding width,
    #: no halving on a plateau.
    recipe = {"wordvec_size": 16, "plateau": 0, "schedule": "halving"}
    #: The model family where none is asked for: the book's chapter 8 model; the families keep
    #: their own recipes here.
    model = "attention"
    family_recipes = planned_recipes = {}
    #: No test file is scored at the end: the held-out tenth is the test split.
    test_set = None

    @classmethod
    def load(cls, name, examples=EXAMPLES, reverse=False):
        (x_train, t_train), (x_test, t_test), vocab = load(name, n=examples)
        data = cls(x_train, t_train, x_test, t_test, vocab)
        return data.reversed() if reverse else data

    @classmethod
    def from_settings(cls, settings, vocab=None, source_vocab=None):
        """The data a run's (resolved) settings name (``data``, ``examples``, ``reverse``), in
        ``vocab`` where given."""
        data = cls.load(settings.data, settings.examples, settings.reverse)
        return data if vocab is None else data.in_vocab(vocab, settings.data)

    @classmethod
    def file_split(cls, settings, vocab, source_vocab=None, name="test", max_length=None):
        """The ``name`` split of the dataset the settings name, in ``vocab``: a model of the book's
        data is scored on another dataset's held-out tenth (or the rest)."""
        return cls.from_settings(settings, vocab).split(name)

    @classmethod
    def wordvec_size(cls, tokens):
        return cls.recipe["wordvec_size"]

    @property
    def source_vocab(self):
        """The questions' vocabulary: the answers', as in the book."""
        return self.vocab

    def reversed(self):
        return Data(self.x_train[:, ::-1], self.t_train, self.x_test[:, ::-1], self.t_test,
                    self.vocab, not self.reversed_input)

    def in_vocab(self, vocab, source):
        """This data in ``vocab``, whose ids for the same characters may differ (ValueError
        lists the characters ``vocab`` lacks)."""
        if vocab == self.vocab:
            return self
        ids = [self.vocab.translate_ids(a, vocab, source)
               for a in (self.x_train, self.t_train, self.x_test, self.t_test)]
        return Data(*ids, vocab, self.reversed_input)

    def split(self, name="test"):
        """The held-out tenth (``test``) or the rest (``train``)."""
        x, t = (self.x_test, self.t_test) if name == "test" else (self.x_train, self.t_train)
        return Questions(x, t, self.vocab, self.reversed_input, name)

    def selected(self, select):
        """The score that picks the best model: exact match, whatever ``select`` asks."""
        return "exact"

    def describe(self):
        return (f"{len(self.x_train)} train / {len(self.x_test)} test questions, vocabulary "
                f"{len(self.vocab)}")

    def model_options(self):
        """What a model needs to read this data beyond its sizes: nothing (every id is real)."""
        return {}

    def longest(self):
        return self.x_train.shape[1], self.t_train.shape[1]

    def saved_meta(self):
        """What a saved model records of this data: how wide its questions and answers are."""
        return {"question_width": int(self.x_test.shape[1]),
                "answer_width": int(self.t_test.shape[1])}


def encode_question(text, vocab, width, reverse=False, source="the model"):
    """ids (1, width) of ``text`` padded with spaces to ``width``, reversed where the model was
    trained so. ValueError names unknown characters or a too long question."""
    unknown = list(dict.fromkeys(c for c in text if c not in vocab.char_to_id))
    if unknown:
        raise ValueError(f"{text!r} has characters not in the vocabulary of {source}: "
                         + ", ".join(map(repr, unknown)))
    if len(text) > width:
        raise ValueError(f"{text!r} is {len(text)} characters long; {source} reads questions of "
                         f"at most {width}")
    if len(text) < width and " " not in vocab.char_to_id:
        raise ValueError(f"{text!r} is {len(text)} characters long; {source} reads questions of "
                         f"exactly {width} (its vocabulary has no space to pad with)")
    ids = vocab.encode(text.ljust(width))[None, :]
    return ids[:, ::-1] if reverse else ids


def _write_date(date, fmt):
    month, weekday = _MONTHS[date.month - 1], _WEEKDAYS[date.weekday()]
    return fmt.format(
        month=month, mon=month[:3], weekday=weekday, wkd=weekday[:3],
        d=date.day, dd=f"{date.day:02d}", m=date.month, mm=f"{date.month:02d}",
        yyyy=date.year, yy=f"{date.year % 100:02d}")


def _parse(lines, source):
    """Questions, answers and the kept (newline-stripped, non-empty) lines, checked for widths."""
    questions, answers, kept = [], [], []
    first = None
    for number, line in enumerate(lines, start=1):
        where = f"{source}, line {number}"
        if not isinstance(line, str):
            raise DatasetError(f"{where}: expected a str, got {type(line).__name__}")
        line = strip_newline(line)
        if number == 1:
            line = line.lstrip("\ufeff")              # a byte order mark is no character
        if not line:
            continue
        cut = line.find("_")
        if cut < 0:
            raise DatasetError(f"{where}: no '_' marks where the answer starts (the book's "
                               "question_answer format; a file of sentence pairs holds "
                               "source<TAB>target per line, or source,target in a file named "
                               ".csv)")
        question, answer = line[:cut], line[cut:]
        if first is None:
            first = (number, len(question), len(answer))
        elif len(question) != first[1]:
            raise DatasetError(
                f"{where}: question is {len(question)} characters wide but line {first[0]}'s is "
                f"{first[1]} (pad questions with trailing spaces to one width)")
        elif len(answer) != first[2]:
            raise DatasetError(
                f"{where}: answer is {len(answer)} characters wide but line {first[0]}'s is "
                f"{first[2]} (pad answers with trailing spaces to one width)")
        questions.append(question)
        answers.append(answer)
        kept.append(line)
    if first is None:
        raise DatasetError(f"{source}: no lines (expected one 'question_answer' per line)")
    return questions, answers, kept


def _split(x, t, seed):
    """90/10 split after the permutation the book gets from np.random.seed(seed); shuffle."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, t = x[indices], t[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])


def show_line(line):
    """``line`` as repr, cut after a few dozen characters, for an error message."""
    if len(line) <= _SHOWN_CHARS:
        return repr(line)
    return repr(line[:_SHOWN_CHARS]) + "..."


def _check_count(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer number of lines, got {n!r}")

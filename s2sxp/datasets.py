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
``dataset/sequence.py`` does, and the :class:`Vocab` that maps characters to ids.
"""
from __future__ import annotations

import datetime
import os

import numpy as np

DATASETS = ("date", "addition")

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


class Vocab:
    """Character vocabulary: ids in order of first appearance."""

    def __init__(self, chars):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {c!r}")
        repeated = [c for c, count in _counts(chars).items() if count > 1]
        if repeated:
            raise ValueError("characters listed more than once in the vocabulary: "
                             + ", ".join(map(repr, repeated)))
        self.chars = chars
        self.char_to_id = {c: i for i, c in enumerate(chars)}
        self.id_to_char = dict(enumerate(chars))

    @classmethod
    def from_lines(cls, lines):
        """The book's rule: each line's question, then its answer, in file order.

        The answer follows the question on its line, so this is the order in which characters
        first appear when the lines are read left to right, top to bottom.
        """
        first_seen = {}
        for line in lines:
            first_seen.update(dict.fromkeys(_strip_newline(line)))
        return cls(first_seen)

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        if not isinstance(other, Vocab):
            return NotImplemented
        return self.chars == other.chars

    def __repr__(self):
        return f"Vocab({''.join(self.chars)!r})"

    def encode(self, text):
        """ids: (len(text),) int32."""
        ids = [self.char_to_id.get(c, -1) for c in text]
        if -1 in ids:
            unknown = _counts(c for c in text if c not in self.char_to_id)
            raise ValueError("characters not in the vocabulary: " + ", ".join(map(repr, unknown)))
        return np.array(ids, dtype=np.int32)

    def decode(self, ids):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes a 1-D sequence of ids, got shape {ids.shape}")
        if ids.size == 0:
            return ""
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"decode takes integer ids, got dtype {ids.dtype}")
        bad = ids[(ids < 0) | (ids >= len(self))]
        if bad.size:
            raise ValueError(f"ids outside 0..{len(self) - 1} of this vocabulary: "
                             + ", ".join(map(str, _counts(bad.tolist()))))
        return "".join(self.chars[i] for i in ids.tolist())


def date_lines(n=50000, seed=0):
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


def addition_lines(n=50000, seed=0):
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
            raise DatasetError(f"{os.fspath(path)}, line {number}: not UTF-8 ({e.reason}): "
                               f"{_show(raw)}") from None
    return from_lines(lines, seed=seed, source=os.fspath(path))


def load(name, n=50000, seed=0, split_seed=1984):
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
        line = _strip_newline(line)
        if not line:
            continue
        cut = line.find("_")
        if cut < 0:
            raise DatasetError(f"{where}: no '_' marks where the answer starts: {_show(line)}")
        question, answer = line[:cut], line[cut:]
        if first is None:
            first = (number, len(question), len(answer))
        elif len(question) != first[1]:
            raise DatasetError(
                f"{where}: question is {len(question)} characters wide but line {first[0]}'s is "
                f"{first[1]} (pad questions with trailing spaces to one width): {_show(line)}")
        elif len(answer) != first[2]:
            raise DatasetError(
                f"{where}: answer is {len(answer)} characters wide but line {first[0]}'s is "
                f"{first[2]} (pad answers with trailing spaces to one width): {_show(line)}")
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


def _strip_newline(line):
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def _show(line):
    if len(line) <= _SHOWN_CHARS:
        return repr(line)
    return repr(line[:_SHOWN_CHARS]) + "..."


def _counts(items):
    """Occurrences of each item, in order of first appearance."""
    counts = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _check_count(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer number of lines, got {n!r}")

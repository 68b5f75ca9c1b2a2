"""Reading sentence pairs, line by line, from a pairs file (``source<TAB>target``), from two aligned
files (one sentence a line, line for line) or from a list of (source, target) texts.

A pairs file is UTF-8 text, one sentence pair per line, the two sides separated by a tab; further
columns (the attribution of the Tatoeba/Anki export) are ignored, and ``source_column=2`` takes the
second column as the source (the export puts English first)::

    Go.<TAB>行け。<TAB>CC-BY 2.0 (France) Attribution: tatoeba.org ...

A bad line (empty, without a tab, with an empty side, not UTF-8, or, once tokenized, longer than
``max_length`` tokens) is an error naming the file and the line, or, with ``skip_bad``, a counted
skip reported in one notice. Reading gives :class:`Line` objects, whose ``source`` and ``target``
are the texts until :func:`tokenized` makes them token lists.
"""
import csv
import os
import sys
from dataclasses import dataclass

from .datasets import DatasetError, show_line

#: What a pairs file's line holds, for error messages.
PAIRS_LINE = "source<TAB>target"
#: What a line of two aligned files holds.
ALIGNED_LINE = "a sentence on the same line of each file"


class CorpusError(DatasetError):
    """A pairs file or list of lines that cannot be read as a parallel corpus."""


@dataclass
class Line:
    """One pair as read: its line number, both sides (text, or tokens once tokenized), and what
    is wrong with it (None: nothing). An error names the line, never its content: the file may
    be one a crafted checkpoint named."""

    number: int
    source: object
    target: object
    problem: str = None


@dataclass
class Read:
    """The lines of one file, pair of files or list, with the name errors give it and what each
    of its lines should hold."""

    name: str
    lines: list
    expected: str = PAIRS_LINE


def read_lines(lines, name="<lines>", first_line=1, source_column=1):
    """:class:`Read` of ``source<TAB>target`` lines (str, or for undecodable bytes an exception
    to report at its place), the sides swapped where ``source_column`` is 2."""
    if source_column not in (1, 2):
        raise ValueError(f"the source column is 1 or 2, got {source_column!r}")
    out = []
    for number, line in enumerate(lines, start=first_line):
        if isinstance(line, Exception):
            out.append(Line(number, None, None, "not UTF-8"))
            continue
        line = line.rstrip("\r\n")
        if number == first_line:
            line = line.lstrip("\ufeff")
        if not line.strip():
            out.append(Line(number, None, None, "empty"))
        elif "\t" not in line:
            out.append(Line(number, None, None, "without a tab"))
        else:
            first, second = line.split("\t")[:2]
            source, target = (first, second) if source_column == 1 else (second, first)
            empty = not source.strip() or not target.strip()
            out.append(Line(number, source, target, "with an empty side" if empty else None))
    return Read(name, out)


def decode_lines(data):
    """The lines of UTF-8 bytes, each a str or, where its bytes do not decode, the exception."""
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for line in raw:
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            lines.append(e)
    return lines


def _file_lines(path):
    with open(path, "rb") as f:
        return decode_lines(f.read())


def read_file(path, source_column=1):
    """:class:`Read` of a pairs file: tab-separated, or comma-separated where its name ends in
    .csv (one pair a line, quoted as CSV quotes)."""
    lines = _file_lines(path)
    if is_csv(path):
        lines = [line if isinstance(line, Exception) else _csv_as_tabs(line) for line in lines]
        read = read_lines(lines, os.fspath(path), source_column=source_column)
        read.expected = CSV_LINE
        return read
    return read_lines(lines, os.fspath(path), source_column=source_column)


#: What a line of a .csv pairs file holds.
CSV_LINE = "source,target (CSV)"


def is_csv(path):
    """Whether the pairs file at ``path`` is comma-separated: its name ends in .csv."""
    return os.path.splitext(os.fspath(path))[1].lower() == ".csv"


def _csv_as_tabs(line):
    """A CSV line's fields joined by tabs (a tab inside a field read as a space)."""
    try:
        fields = next(csv.reader([line.rstrip("\r")]), [])
    except csv.Error:
        return line
    return "\t".join(f.replace("\t", " ") for f in fields)


def read_aligned(source_path, target_path):
    """:class:`Read` of two aligned files: line n of one is the translation of line n of the
    other. CorpusError where their numbers of lines differ."""
    sources, targets = _file_lines(source_path), _file_lines(target_path)
    name = f"{os.fspath(source_path)} + {os.fspath(target_path)}"
    if len(sources) != len(targets):
        raise CorpusError(f"{os.fspath(source_path)} has {len(sources)} lines but "
                          f"{os.fspath(target_path)} has {len(targets)}: aligned files hold one "
                          "sentence a line, line for line")
    out = []
    for number, (source, target) in enumerate(zip(sources, targets), start=1):
        for side in (source, target):
            if isinstance(side, Exception):
                out.append(Line(number, None, None, "not UTF-8"))
                break
        else:
            source, target = (s.rstrip("\r\n") for s in (source, target))
            if number == 1:
                source, target = source.lstrip("\ufeff"), target.lstrip("\ufeff")
            problem = ("empty" if not source.strip() and not target.strip() else
                       "with an empty side" if not source.strip() or not target.strip() else None)
            out.append(Line(number, source, target, problem))
    return Read(name, out, ALIGNED_LINE)


def read_texts(pairs):
    """:class:`Read` of a list of (source, target) texts, numbered from 1."""
    for number, pair in enumerate(pairs, start=1):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(side, str) for side in pair)):
            raise CorpusError(f"<pairs>, item {number}: expected a (source, target) pair of "
                              f"strings, got {show_line(repr(pair))}")
        if "\t" in pair[0] or "\n" in pair[0] + pair[1]:
            raise CorpusError(f"<pairs>, item {number}: a tab or line break inside the source "
                              f"or a line break inside the target: {show_line(repr(pair))}")
    return read_lines([f"{s}\t{t}" for s, t in pairs], "<pairs>")


def read(data, source_column=1):
    """:class:`Read` of a pairs file (a path), two aligned files (a tuple of two paths: source,
    target) or a list of (source, target) texts."""
    if isinstance(data, (str, os.PathLike)):
        return read_file(data, source_column)
    if (isinstance(data, tuple) and len(data) == 2
            and all(isinstance(p, (str, os.PathLike)) for p in data)):
        return read_aligned(*data)
    return read_texts(data)


def tokenized(read, source_tokens, target_tokens, max_length=None):
    """The lines of ``read`` with their sides as tokens (``source_tokens``, ``target_tokens``: from
    text to a token list), a side with none or either with more than ``max_length`` marked."""
    for line in read.lines:
        if line.problem:
            continue
        line.source, line.target = source_tokens(line.source), target_tokens(line.target)
        if not line.source or not line.target:
            line.problem = "with an empty side"
        elif max_length is not None and max(len(line.source), len(line.target)) > max_length:
            line.problem = f"longer than {max_length} tokens (see --max-length)"
    return read


def settle(read, skip_bad=False, notice=None):
    """The good lines of ``read``. A bad line is a CorpusError naming the first of them, or, with
    ``skip_bad``, counted by problem in one ``notice`` (standard error if None)."""
    bad = [line for line in read.lines if line.problem]
    if bad and not skip_bad:
        line = bad[0]
        raise CorpusError(f"{read.name}, line {line.number}: {line.problem} (expected "
                          f"{read.expected})")
    if bad:
        skipped = {}
        for line in bad:
            skipped.setdefault(line.problem, []).append(line.number)
        parts = [f"{len(where)} {problem} (first: line {where[0]})"
                 for problem, where in skipped.items()]
        say = notice or (lambda text: print(text, file=sys.stderr))
        say(f"skipped {len(bad)} of {len(read.lines)} lines of {read.name}: " + ", ".join(parts))
        read.lines = [line for line in read.lines if not line.problem]
    if not read.lines:
        raise CorpusError(f"{read.name}: no sentence pairs (expected {read.expected} per line)")
    return read.lines


def is_pairs_file(path):
    """True for a .tsv/.tab/.csv file, or one whose first non-empty line holds a tab."""
    if os.path.splitext(os.fspath(path))[1].lower() in (".tsv", ".tab", ".csv"):
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

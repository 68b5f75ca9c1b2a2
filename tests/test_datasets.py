import calendar
import datetime
import re

import numpy as np
import pytest

from s2sxp.datasets import (
    DATASETS, DATE_FORMATS, DatasetError, addition_lines, date_lines, from_lines, load, load_text,
)
from s2sxp.vocab import Vocab

N = 2000


def _month_number(name):
    name = name.lower()
    for number in range(1, 13):
        full = calendar.month_name[number].lower()
        if name in (full, full[:3]):
            return number
    raise AssertionError(f"not a month name: {name!r}")


def _is_weekday_of(name, date):
    full = calendar.day_name[date.weekday()].lower()
    return name.lower() in (full, full[:3])


def _parse_date_question(question):
    """Independent reading of a question: (date, weekday name or None)."""
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d\d)", question):
        month, day, yy = map(int, m.groups())
        assert m[1] == str(month) and m[2] == str(day), "m/d/yy is written without leading zeros"
        return datetime.date(1900 + yy if yy >= 70 else 2000 + yy, month, day), None
    if m := re.fullmatch(r"(\d\d)/(\d\d)/(\d{4})", question):
        month, day, year = map(int, m.groups())
        return datetime.date(year, month, day), None
    if m := re.fullmatch(r"(?:([A-Za-z]+), )?([A-Za-z]+) (\d{1,2}), (\d{4})", question):
        weekday, month, day, year = m.groups()
        return datetime.date(int(year), _month_number(month), int(day)), weekday
    if m := re.fullmatch(r"(\d{1,2}) ([A-Za-z]+) (\d{4})", question):
        day, month, year = m.groups()
        return datetime.date(int(year), _month_number(month), int(day)), None
    if m := re.fullmatch(r"(\d{4}) ([A-Za-z]+) (\d{1,2})", question):
        year, month, day = m.groups()
        return datetime.date(int(year), _month_number(month), int(day)), None
    raise AssertionError(f"unreadable date question: {question!r}")


def _write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_generators_are_deterministic_by_seed():
    assert date_lines(200, seed=3) == date_lines(200, seed=3)
    assert addition_lines(200, seed=3) == addition_lines(200, seed=3)


def test_generators_differ_across_seeds():
    assert date_lines(200, seed=0) != date_lines(200, seed=1)
    assert addition_lines(200, seed=0) != addition_lines(200, seed=1)


def test_date_lines_are_29_wide_questions_and_11_wide_answers():
    for line in date_lines(N):
        question, answer = line[:29], line[29:]
        assert len(line) == 40 and answer.startswith("_") and len(answer) == 11
        assert "_" not in question


def test_every_date_question_fits_29_characters_before_padding():
    widths = [len(line[:line.index("_")].rstrip()) for line in date_lines(50000)]
    assert max(widths) == 29


def test_every_date_answer_is_the_date_its_question_names():
    for line in date_lines(N, seed=7):
        question, answer = line[:29].rstrip(), line[30:]
        date, weekday = _parse_date_question(question)
        assert date == datetime.date.fromisoformat(answer), line
        assert weekday is None or _is_weekday_of(weekday, date), line


def test_date_questions_use_every_format_and_case():
    questions = [line[:29].rstrip() for line in date_lines(N, seed=1)]
    assert any(re.fullmatch(r"\d{1,2}/\d{1,2}/\d\d", q) for q in questions)
    assert any(re.fullmatch(r"\d\d/\d\d/\d{4}", q) for q in questions)
    assert any(re.fullmatch(r"[A-Z]+, [A-Z]+ \d+, \d{4}", q) for q in questions)
    assert any(re.fullmatch(r"[A-Z][a-z]{2}, [A-Z][a-z]{2} \d+, \d{4}", q) for q in questions)
    assert any(re.fullmatch(r"[a-z]+ \d+, \d{4}", q) for q in questions)
    assert any(re.fullmatch(r"\d+ [A-Z][a-z]+ \d{4}", q) for q in questions)
    assert any(re.fullmatch(r"\d{4} [A-Z]+ \d+", q) for q in questions)
    for q in questions:
        assert q in (q.lower(), q.title(), q.upper()), q


def test_dates_stay_between_1970_and_2030():
    dates = [datetime.date.fromisoformat(line[30:]) for line in date_lines(N, seed=2)]
    assert min(dates) >= datetime.date(1970, 1, 1)
    assert max(dates) <= datetime.date(2030, 12, 31)
    assert {d.year for d in dates} >= {1970, 2000, 2030}


def test_addition_lines_are_7_wide_questions_and_5_wide_answers_holding_the_sum():
    for line in addition_lines(N, seed=5):
        question, answer = line[:7], line[7:]
        assert len(line) == 12 and answer.startswith("_")
        a, b = map(int, question.split("+"))
        assert 0 <= a <= 999 and 0 <= b <= 999
        assert int(answer[1:]) == a + b


def test_vocab_from_lines_orders_by_first_appearance_question_then_answer():
    vocab = Vocab.from_lines(["ba _ab", "c  _d  ", "ca _e\n"])
    assert vocab.chars == ["b", "a", " ", "_", "c", "d", "e"]
    assert vocab.char_to_id["_"] == 3 and vocab.id_to_char[4] == "c"
    assert len(vocab) == 7


def test_vocab_rebuilds_from_its_chars_and_compares_by_order():
    vocab = Vocab.from_lines(addition_lines(100))
    assert Vocab(vocab.chars) == vocab
    assert Vocab("ab") != Vocab("ba")


def test_vocab_rejects_repeated_and_multi_character_entries():
    with pytest.raises(ValueError, match="more than once.*'a'"):
        Vocab("abca")
    with pytest.raises(ValueError, match="single characters"):
        Vocab(["ab"])


def test_decode_inverts_encode():
    vocab = Vocab.from_lines(date_lines(500))
    text = "Tuesday, September 25, 1984"
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text
    assert vocab.decode([]) == "" and vocab.encode("").shape == (0,)


def test_encode_lists_each_unknown_character_once():
    vocab = Vocab("abc ")
    with pytest.raises(ValueError) as info:
        vocab.encode("a é#é b#")
    assert str(info.value) == "characters not in the vocabulary: 'é', '#'"


def test_decode_rejects_ids_outside_the_vocabulary():
    vocab = Vocab("abc")
    with pytest.raises(ValueError, match="outside 0..2"):
        vocab.decode(np.array([0, 3]))
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([-1])


def test_from_lines_arrays_are_int32_and_split_90_10():
    (x_train, t_train), (x_test, t_test), _ = from_lines(addition_lines(1005))
    assert x_train.shape == (905, 7) and t_train.shape == (905, 5)
    assert x_test.shape == (100, 7) and t_test.shape == (100, 5)
    assert all(a.dtype == np.int32 for a in (x_train, t_train, x_test, t_test))
    assert isinstance(x_train, np.ndarray)


def test_split_is_the_books_legacy_global_seed_permutation():
    lines = addition_lines(1000, seed=4)
    before = np.random.get_state()
    np.random.seed(1984)
    expected = np.arange(len(lines))
    np.random.shuffle(expected)
    np.random.set_state(before)

    (x_train, t_train), (x_test, t_test), vocab = from_lines(lines)
    shuffled = [lines[i] for i in expected]
    assert [vocab.decode(q) + vocab.decode(a) for q, a in zip(x_train, t_train)] == shuffled[:900]
    assert [vocab.decode(q) + vocab.decode(a) for q, a in zip(x_test, t_test)] == shuffled[900:]


def test_from_lines_leaves_the_global_random_state_alone():
    before = np.random.get_state()[1].copy()
    from_lines(addition_lines(50))
    assert np.array_equal(np.random.get_state()[1], before)


def test_load_text_round_trips_a_file(tmp_path):
    lines = date_lines(300, seed=9)
    path = _write(tmp_path, "\r\n".join(lines) + "\r\n")
    (x_train, t_train), (x_test, t_test), vocab = load_text(path)
    assert vocab == Vocab.from_lines(lines)
    assert x_train.shape == (270, 29) and t_test.shape == (30, 11)
    read = {vocab.decode(q) + vocab.decode(a) for q, a in zip(x_train, t_train)}
    read |= {vocab.decode(q) + vocab.decode(a) for q, a in zip(x_test, t_test)}
    assert read == set(lines)


def test_load_text_keeps_trailing_spaces_and_skips_empty_lines(tmp_path):
    path = _write(tmp_path, "1+2  _3 \n\n10+20_30\n\n")
    (_, t_train), _, vocab = load_text(path)
    assert sorted(vocab.decode(a) for a in t_train) == ["_3 ", "_30"]


def test_load_matches_from_lines_of_the_generator():
    (x_train, _), _, vocab = load("addition", n=100, seed=2)
    (x_expected, _), _, expected_vocab = from_lines(addition_lines(100, seed=2))
    assert vocab == expected_vocab and np.array_equal(x_train, x_expected)
    assert load("date", n=50)[2] == Vocab.from_lines(date_lines(50))
    assert set(DATASETS) == {"date", "addition"}


def test_load_reads_a_path_that_is_not_a_dataset_name(tmp_path):
    path = _write(tmp_path, "1+2_3\n")
    assert load(str(path))[2] == Vocab("1+2_3")


@pytest.mark.parametrize("text, line, problem", [
    ("1+2_3\n12+3\n", 2, "no '_'"),
    ("1+2_3\n12+3_15\n", 2, "question is 4 characters wide but line 1's is 3"),
    ("1+2_3 \n1+3_4\n", 2, "answer is 2 characters wide but line 1's is 3"),
    ("\n1+2_3\n1+3_4\n1+9_10\n", 4, "answer"),
])
def test_bad_line_names_the_file_and_the_line_never_its_content(tmp_path, text, line, problem):
    path = _write(tmp_path, text, name="bad.txt")
    with pytest.raises(DatasetError) as info:
        load_text(path)
    message = str(info.value)
    assert str(path) in message and f"line {line}:" in message and problem in message
    assert repr(text.split("\n")[line - 1]) not in message


def test_bad_line_message_never_shows_the_line():
    with pytest.raises(DatasetError) as info:
        from_lines(["secret" * 50])
    assert "<lines>, line 1" in str(info.value) and "secret" not in str(info.value)


def test_empty_file_is_an_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "\n\n", name="empty.txt")
    with pytest.raises(DatasetError, match=re.escape(str(path)) + ".*no lines"):
        load_text(path)


def test_missing_file_is_file_not_found_naming_the_path(tmp_path):
    path = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_text(path)


def test_unknown_dataset_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'nope'.*'date', 'addition'"):
        load("nope")


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)

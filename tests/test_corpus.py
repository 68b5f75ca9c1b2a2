"""Parallel corpora: tokens, vocabularies, padded batches, length buckets, pairs files and the
errors a bad line gets."""
import numpy
import pytest

from s2sxp import corpus
from s2sxp.pairs import is_pairs_file
from s2sxp.corpus import CorpusError
from s2sxp.vocab import (BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, TokenVocab, detokenize,
                         tokenize, train_subwords)


def test_characters_of_any_script_and_whitespace_words():
    assert tokenize("行け。", "char") == ["行", "け", "。"]
    assert tokenize("  Go   on\t!", "char") == list("Go on !")
    assert tokenize("  Go   on\t!", "word") == ["Go", "on", "!"]
    assert detokenize(["行", "け"], "char") == "行け"
    assert detokenize(["Go", "on"], "word") == "Go on"
    with pytest.raises(ValueError, match="unknown tokens 'bpe'"):
        tokenize("a", "bpe")


def test_vocabulary_has_the_specials_first_then_tokens_by_count():
    vocab = TokenVocab.build([["b", "a"], ["a", "c"], ["a", "b"]], "word")
    assert vocab.tokens == ["<pad>", "<s>", "</s>", "<unk>", "a", "b", "c"]
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert TokenVocab.build([["b", "a"], ["a", "c"]], "word", min_freq=2).tokens[4:] == ["a"]
    assert TokenVocab.build([["b", "a"], ["a", "c"]], "word", max_size=6).tokens[4:] == ["a", "b"]
    with pytest.raises(ValueError, match="min_freq"):
        TokenVocab.build([["a"]], "word", min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        TokenVocab.build([["a"]], "word", max_size=4)


def test_unknown_tokens_encode_as_unk_and_decoding_stops_at_the_end_symbol():
    vocab = TokenVocab.build([list("ab")], "char")
    ids = vocab.encode_text("abz", bos=True, eos=True)
    assert ids.tolist() == [BOS_ID, 4, 5, UNK_ID, EOS_ID] and ids.dtype == numpy.int32
    assert vocab.decode([BOS_ID, 4, 5, EOS_ID, 4, PAD_ID]) == ["a", "b"]
    assert vocab.decode_text([5, 4, PAD_ID, PAD_ID]) == "ba"
    with pytest.raises(ValueError, match="ids outside 0..5"):
        vocab.decode([4, 9])


def test_vocabulary_round_trips_through_a_dict_and_refuses_bad_ones():
    vocab = TokenVocab.build([["Go", "."], ["行け", "。"]], "word")
    again = TokenVocab.from_dict(vocab.to_dict())
    assert again == vocab and again.tokenizer == "word"
    with pytest.raises(ValueError, match="needs 'tokens' and 'tokenizer'"):
        TokenVocab.from_dict({"tokens": vocab.tokens})
    with pytest.raises(ValueError, match="starts with <pad>"):
        TokenVocab(["a", "b"], "char")
    with pytest.raises(ValueError, match="more than once.*'a'"):
        TokenVocab(list(SPECIALS) + ["a", "a"], "char")


def test_pairs_lines_ignore_extra_columns_a_byte_order_mark_and_crlf():
    lines = ["\ufeffGo.\t行け。\tCC-BY 2.0 (France)\r\n", "Hi.\tこんにちは。\n"]
    assert corpus.pairs_from_lines(lines, "char") == [(list("Go."), list("行け。")),
                                                      (list("Hi."), list("こんにちは。"))]


@pytest.mark.parametrize("line, problem", [
    ("", "line 2: empty"),
    ("   ", "line 2: empty"),
    ("no tab here", "line 2: without a tab"),
    ("\tonly a target", "line 2: with an empty side"),
    ("a b c d e f\tg", "line 2: longer than 5 tokens"),
])
def test_a_bad_line_is_an_error_naming_its_source_and_line(line, problem):
    with pytest.raises(CorpusError, match=f"pairs.tsv, {problem}"):
        corpus.pairs_from_lines(["a\tb", line, "c\td"], "word", "pairs.tsv", max_length=5)


def test_bad_lines_skipped_on_request_are_counted_in_one_notice():
    said = []
    pairs = corpus.pairs_from_lines(["a\tb", "", "x", "c\td", "y", "\te"], "word", "p.tsv",
                                    skip_bad=True, notice=said.append)
    assert pairs == [(["a"], ["b"]), (["c"], ["d"])]
    assert said == ["skipped 4 of 6 lines of p.tsv: 1 empty (first: line 2), 2 without a tab "
                    "(first: line 3), 1 with an empty side (first: line 6)"]
    with pytest.raises(CorpusError, match="no sentence pairs"):
        corpus.pairs_from_lines(["x", "y"], "word", skip_bad=True, notice=said.append)


def test_a_file_with_undecodable_bytes_names_the_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("Go.\t行け。\n".encode() + b"Hi.\t\xff\xfe\n")
    with pytest.raises(CorpusError, match=r"pairs.tsv, line 2: not UTF-8"):
        corpus.read_pairs(path)
    said = []
    assert corpus.read_pairs(path, skip_bad=True, notice=said.append) == [
        (list("Go."), list("行け。"))]
    assert "1 not UTF-8 (first: line 2)" in said[0]


def test_pairs_files_are_told_by_suffix_or_by_a_tab_on_the_first_line(tmp_path):
    (tmp_path / "a.tsv").write_text("")
    (tmp_path / "b.txt").write_text("\nGo.\t行け。\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("16+75  _91  \n")
    assert is_pairs_file(tmp_path / "a.tsv")
    assert is_pairs_file(tmp_path / "b.txt")
    assert not is_pairs_file(tmp_path / "c.txt")
    assert not is_pairs_file(tmp_path / "missing.txt")


def test_load_pairs_splits_once_and_builds_the_vocabulary_from_the_training_split(tmp_path):
    pairs = corpus.synthetic_pairs(200, seed=3)
    path = tmp_path / "pairs.tsv"
    corpus.write_pairs(path, pairs)
    c = corpus.load_pairs(path, tokens="word", shared_vocab=True)
    again = corpus.load_pairs(pairs, tokens="word", shared_vocab=True)
    assert (len(c.x_train), len(c.x_test)) == (180, 20)
    assert c.ref_test == again.ref_test and c.vocab == again.vocab
    assert sorted(zip(c.src_train + c.src_test, c.ref_train + c.ref_test)) == sorted(pairs)
    train_words = {w for s in c.src_train + c.ref_train for w in s.split()}
    assert set(c.vocab.tokens[4:]) == train_words
    for i in range(len(c.t_test)):
        t = c.t_test[i]
        assert t[0] == BOS_ID and t[-1] == EOS_ID
        assert c.vocab.decode_text(t) == c.ref_test[i]
        assert c.vocab.decode_text(c.x_test[i]) == c.src_test[i]
    assert [c.vocab.decode_text(c.x_train[i]) for i in range(3)] == c.src_train[:3]


def test_load_pairs_refuses_what_is_not_a_list_of_text_pairs():
    with pytest.raises(CorpusError, match="item 2: expected a \\(source, target\\) pair"):
        corpus.load_pairs([("a", "b"), ("c",)])
    with pytest.raises(CorpusError, match="item 1: a tab or line break"):
        corpus.load_pairs([("a\tb", "c")])


def test_synthetic_language_is_a_reversed_word_for_word_translation():
    pairs = corpus.synthetic_pairs(300, seed=0, min_words=2, max_words=8)
    assert pairs == corpus.synthetic_pairs(300, seed=0, min_words=2, max_words=8)
    lengths = {len(s.split()) for s, _ in pairs}
    assert lengths == set(range(2, 9))
    lexicon = {}
    for s, t in pairs:
        s, t = s.split(), t.split()
        assert len(s) == len(t)
        for a, b in zip(s, reversed(t)):
            assert lexicon.setdefault(a, b) == b
    assert len(set(lexicon.values())) == len(lexicon)


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_dev_and_test_files_and_the_source_column_through_the_api(tmp_path):
    """English first, as the Anki export has it: source_column=2 translates the second column;
    with a dev file nothing is held out of the training file."""
    pairs = corpus.synthetic_pairs(60, seed=1)
    train = _write(tmp_path / "train.tsv", [f"{t}\t{s}\tCC-BY" for s, t in pairs[:40]])
    dev = _write(tmp_path / "dev.tsv", [f"{t}\t{s}" for s, t in pairs[40:50]])
    test = _write(tmp_path / "test.tsv", [f"{t}\t{s}" for s, t in pairs[50:]])
    c = corpus.load_pairs(train, tokens="word", dev=dev, test=test, source_column=2)
    assert (len(c.x_train), len(c.x_test), len(c.test_set.x)) == (40, 10, 10)
    assert sorted(zip(c.src_train, c.ref_train)) == sorted(pairs[:40])
    assert (c.src_test, c.ref_test) == ([s for s, _ in pairs[40:50]], [t for _, t in pairs[40:50]])
    assert c.test_set.references == [t for _, t in pairs[50:]]
    assert [c.source_vocab.decode_text(x) for x in c.test_set.x] == [s for s, _ in pairs[50:]]


def test_two_aligned_files_read_as_a_pairs_file_does(tmp_path):
    pairs = corpus.synthetic_pairs(30, seed=2)
    source = _write(tmp_path / "train.xx", [s for s, _ in pairs])
    target = _write(tmp_path / "train.yy", [t for _, t in pairs])
    aligned = corpus.load_pairs((source, target), tokens="word")
    joined = corpus.load_pairs(pairs, tokens="word")
    assert (aligned.src_train, aligned.ref_test) == (joined.src_train, joined.ref_test)
    _write(target, [t for _, t in pairs[:-1]])
    with pytest.raises(CorpusError, match="train.xx has 30 lines but .*train.yy has 29"):
        corpus.load_pairs((source, target), tokens="word")
    _write(target, [t for _, t in pairs[:4]] + [" "] + [t for _, t in pairs[5:]])
    with pytest.raises(CorpusError, match=r"train.xx \+ .*train.yy, line 5: with an empty side"):
        corpus.load_pairs((source, target), tokens="word")


def test_each_side_has_a_vocabulary_of_its_own_unless_shared():
    pairs = corpus.synthetic_pairs(200, seed=3)
    c = corpus.load_pairs(pairs, tokens="word")
    sources = {w for s in c.src_train for w in s.split()}
    targets = {w for t in c.ref_train for w in t.split()}
    assert set(c.source_vocab.tokens[4:]) == sources and set(c.vocab.tokens[4:]) == targets
    assert not sources & targets
    assert [c.source_vocab.decode_text(c.x_train[i]) for i in range(3)] == c.src_train[:3]
    shared = corpus.load_pairs(pairs, tokens="word", shared_vocab=True)
    assert shared.source_vocab is shared.vocab
    assert set(shared.vocab.tokens[4:]) == sources | targets


def test_subwords_are_learned_from_the_training_split_and_decode_to_plain_text(tmp_path):
    pairs = corpus.synthetic_pairs(300, seed=4)
    dev = pairs[:20] + [("zqzqzq ka", "vwvwvw ka")]
    c = corpus.load_pairs(pairs[20:], tokens="spm", vocab_size=40, dev=dev)
    assert c.vocab.tokenizer == c.source_vocab.tokenizer == "spm"
    assert c.vocab.subword_model != c.source_vocab.subword_model
    assert not any("zqzq" in t for t in c.source_vocab.tokens)
    assert [c.vocab.decode_text(t) for t in c.t_test][:20] == [t for _, t in pairs[:20]]
    assert c.src_test[-1] == "zqzqzq ka"
    pieces = c.source_vocab.tokenize("zqzqzq ka")
    assert "".join(pieces).replace("\u2581", " ").strip() == "zqzqzq ka"
    again = TokenVocab.from_dict(c.vocab.to_dict())
    assert again == c.vocab and again.decode_text(c.t_test[0]) == pairs[0][1]


def test_too_few_subwords_for_the_characters_is_a_one_line_error():
    texts = [chr(0x4e00 + i) * 3 for i in range(40)]            # 40 characters, each its own
    with pytest.raises(ValueError, match=r"of 10 pieces cannot hold the \d+ characters.*at "
                       r"least \d+ \(--vocab-size\)"):
        train_subwords(texts, 10)
    assert train_subwords(texts, 60)

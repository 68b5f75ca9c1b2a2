"""A saved model of either kind translates lines through one entry (translate_lines): the book's
questions answered, sentences translated, as the command line gives them, with the attention map
of one answer."""
import pytest

from s2sxp import cli, corpus, io
from s2sxp.decoding import DecodeOptions
from s2sxp.translation import (QuestionAnswerer, SentenceTranslator, translate_lines,
                               translator)

TINY = ["--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16", "--seed", "0",
        "--epochs", "1"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """{kind: path} of a model of the book's data and one of a corpus, saved by s2sxp train."""
    folder = tmp_path_factory.mktemp("translation")
    corpus.write_pairs(folder / "pairs.tsv", corpus.synthetic_pairs(300, seed=0, max_words=4))
    assert cli.main(["train", "--examples", "200", "--out", str(folder / "date"), *TINY]) == 0
    assert cli.main(["train", "--data", str(folder / "pairs.tsv"), "--tokens", "word",
                     "--model", "bahdanau", "--out", str(folder / "words"), *TINY]) == 0
    return {"book": folder / "date" / "model.npz", "corpus": folder / "words" / "model.npz"}


def _cli_lines(capsys, path, lines, *flags):
    capsys.readouterr()
    assert cli.main(["translate", *lines, "--run", str(path), *flags]) == 0
    return capsys.readouterr().out.splitlines()


def test_each_kind_of_model_gets_its_translator(saved, xp32):
    assert isinstance(translator(io.load(saved["book"])), QuestionAnswerer)
    assert isinstance(translator(io.load(saved["corpus"])), SentenceTranslator)
    assert not QuestionAnswerer.beams and SentenceTranslator.beams


def test_translate_lines_gives_what_the_command_line_prints(saved, capsys, xp32):
    questions = ["September 27, 1994", "9/27/94"]
    out = translate_lines(io.load(saved["book"]), questions)
    assert out.texts == _cli_lines(capsys, saved["book"], questions)
    assert [len(s) for s in out.sources] == [29, 29] and out.unknown == []
    sentences = [s for s, _ in corpus.synthetic_pairs(4, seed=9, max_words=4)]
    out = translate_lines(io.load(saved["corpus"]), sentences, DecodeOptions(beam=3))
    assert out.texts == _cli_lines(capsys, saved["corpus"], sentences, "--beam", "3")
    best = translate_lines(io.load(saved["corpus"]), sentences, DecodeOptions(beam=3, n_best=2))
    assert [texts[0] for texts in best.texts] == out.texts and len(best.scores[0]) == 2
    assert [s[0] for s in best.scores] == [s[0] for s in out.scores]    # beam search scores
    assert translate_lines(io.load(saved["corpus"]), sentences).scores is None


def test_empty_lines_are_refused_or_kept_empty(saved, xp32):
    for kind, line in (("book", "9/27/94"), ("corpus", "ka tomu")):
        model = io.load(saved[kind])
        with pytest.raises(ValueError, match="holds no"):
            translate_lines(model, [line, "  "])
        assert translate_lines(model, [line, "  "], skip_empty=True).texts[1] == ""


def test_the_attention_map_of_one_answer_spans_its_source_and_answer(saved, xp32):
    for kind, line in (("book", "9/27/94"), ("corpus", "ka tomu ri")):
        reader = translator(io.load(saved[kind]))
        weights, source, answer, shown = reader.attention(reader.translate([line]))
        assert weights.shape == (len(answer), len(source)) and isinstance(shown, str)

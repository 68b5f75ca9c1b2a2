"""The command line as a new user meets it, each command replayed as they typed it: a run folder's
model, pairs files in CSV, scores that would mislead, mistyped and abbreviated flags, input piped
in; and the conveniences of other toolkits: settings from a file, checkpoint averaging, eval's
hypotheses and further references, the CSV log."""
import csv
import json
import os
import sys

import numpy
import pytest

from s2sxp import cli, corpus, io
from s2sxp.config import tomllib

pytestmark = pytest.mark.usefixtures("xp32")

DATE_TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size",
             "16", "--seed", "0"]
#: A small Bahdanau model that learns the generated language in a few epochs: the model's own
#: recipe (Adam 1e-2, one direction, no dropout or label smoothing), not a real corpus's.
CORPUS_TINY = ["--tokens", "word", "--model", "bahdanau", "--wordvec-size", "8",
               "--hidden-size", "32", "--batch-size", "32", "--seed", "0", "--lr", "0.01",
               "--no-bidirectional", "--dropout", "0", "--label-smoothing", "0"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``s2sxp ARGV``."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv):
    """(exit code, stderr) of ``s2sxp ARGV`` that argparse refuses."""
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    return stop.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Train, dev and test pairs files of the generated language."""
    folder = tmp_path_factory.mktemp("pairs")
    pairs = corpus.synthetic_pairs(700, seed=0, max_words=4)
    for name, part in (("train", pairs[:500]), ("dev", pairs[500:600]), ("test", pairs[600:])):
        corpus.write_pairs(folder / f"{name}.tsv", part)
    return folder


@pytest.fixture(scope="module")
def kept(tmp_path_factory, files):
    """A small Bahdanau run on those files that kept the models of its 3 best epochs of 5."""
    folder = tmp_path_factory.mktemp("runs") / "kept"
    argv = ["train", "--data", files / "train.tsv", "--dev", files / "dev.tsv", "--epochs", "5",
            "--keep-best", "3", "--out", folder, *CORPUS_TINY]
    assert cli.main([str(a) for a in argv]) == 0
    return folder


# -- 1: the first command says what it does ---------------------------------------------------

def test_train_says_how_many_epochs_of_how_many_iterations_and_when_files_come(capsys,
                                                                               tmp_path):
    code, out, _ = run(capsys, "train", "--epochs", "1", "--out", tmp_path / "r", *DATE_TINY)
    assert code == 0
    assert "training 1 epoch of 11 iterations (batch 16); after each epoch: the validation " \
           "accuracy, model.npz and best.npz" in out


def test_a_fresh_run_shows_its_accuracy_a_quarter_into_the_first_epoch_and_keeps_nothing_of_it(
        capsys, tmp_path, monkeypatch):
    code, out, _ = run(capsys, "train", "--epochs", "2", "--out", tmp_path / "r", *DATE_TINY)
    assert code == 0
    line = next(l for l in out.splitlines() if "a first look" in l)
    assert line.startswith("val acc ") and "so far (iteration 2 of 11" in line
    assert out.index(line) < out.index("(epoch 1,") and out.count("a first look") == 1
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert len(history["val_acc"]) == 2 and history["val_at"] == [11, 22]
    monkeypatch.setattr(cli.train, "_first_look", lambda run: None)
    code, out, _ = run(capsys, "train", "--epochs", "2", "--out", tmp_path / "s", *DATE_TINY)
    assert code == 0 and "a first look" not in out
    for name in ("checkpoint.npz", "best.npz"):       # the look changes nothing of training
        with numpy.load(tmp_path / "r" / name) as a, numpy.load(tmp_path / "s" / name) as b:
            for k in a.files:
                if k != "meta":
                    numpy.testing.assert_array_equal(a[k], b[k], err_msg=f"{name} {k}")


# -- 3: a run folder means its best model on a corpus -------------------------------------------

def test_a_corpus_run_folder_means_its_best_model_and_says_so(capsys, kept, files):
    history = json.loads((kept / "history.json").read_text())
    code, out, err = run(capsys, "translate", "qa qa", "--run", kept)
    assert code == 0 and f"{kept / 'best.npz'} (epoch {history['best_epoch']})" in err
    code, out, _ = run(capsys, "eval", "--run", kept)
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"{kept / 'best.npz'} on {files / 'dev.tsv'} (dev, 100 sentences")


def test_a_book_run_folder_still_means_its_last_model(capsys, tmp_path):
    assert run(capsys, "train", "--epochs", "1", "--out", tmp_path, *DATE_TINY)[0] == 0
    code, out, err = run(capsys, "translate", "9/27/94", "--run", tmp_path)
    assert code == 0 and f"{tmp_path / 'model.npz'} (epoch 1)" in err


# -- 4: a CSV file of pairs -------------------------------------------------------------------

def test_a_csv_file_of_pairs_trains_and_a_csv_under_another_name_is_told_the_formats(
        capsys, tmp_path):
    pairs = corpus.synthetic_pairs(200, seed=3, max_words=4)
    with open(tmp_path / "pairs.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([(s, f"{t}, said \"he\"") for s, t in pairs])
    code, out, _ = run(capsys, "train", "--data", tmp_path / "pairs.csv", "--epochs", "1",
                       "--out", tmp_path / "run", *CORPUS_TINY)
    assert code == 0 and "180 train / 20 held-out sentence pairs" in out
    test = corpus.load_split(tmp_path / "pairs.csv", *[io.load(tmp_path / "run" / "best.npz")
                                                        .vocab] * 2)
    assert test.references[0] == f"{pairs[0][1]}, said \"he\""
    (tmp_path / "pairs.txt").write_text("His life is in danger.,彼の命が危ない。\n")
    code, _, err = run(capsys, "train", "--data", tmp_path / "pairs.txt", "--out",
                       tmp_path / "other")
    assert code == 2 and err.count("\n") == 1
    assert "line 1: no '_' marks where the answer starts" in err
    assert "source<TAB>target per line, or source,target in a file named .csv" in err
    assert not (tmp_path / "other").exists()


# -- 5: scores that mislead -------------------------------------------------------------------

def test_eval_the_wrong_way_round_notes_the_unknown_sources(capsys, kept, tmp_path, files):
    swapped = [line.split("\t")[::-1] for line in
               (files / "test.tsv").read_text().splitlines()]
    corpus.write_pairs(tmp_path / "swapped.tsv", swapped)
    code, _, err = run(capsys, "eval", "--run", kept, "--data", tmp_path / "swapped.tsv")
    assert code == 0
    assert "of the source tokens are not in the model's vocabulary" in err
    assert "(--source-column)" in err


@pytest.fixture(scope="module")
def japanese(tmp_path_factory):
    """Pairs whose targets are written in Hiragana, without spaces."""
    path = tmp_path_factory.mktemp("ja") / "ja.tsv"
    corpus.write_pairs(path, [(s, "".join(chr(0x3042 + ord(c) % 40) for c in t if c != " "))
                              for s, t in corpus.synthetic_pairs(300, seed=4, max_words=4)])
    return path


def test_bleu_by_13a_on_a_japanese_target_gets_a_note(capsys, tmp_path, japanese):
    code, _, err = run(capsys, "train", "--data", japanese, "--epochs", "1", "--out", tmp_path,
                       "--max-output-length", "5", *CORPUS_TINY[2:])
    assert code == 0 and "score them with --bleu-tokenize char (or ja-mecab)" in err


def test_words_of_a_language_without_spaces_get_a_note(capsys, tmp_path, japanese):
    code, _, err = run(capsys, "train", "--data", japanese, "--epochs", "1", "--out", tmp_path,
                       "--max-output-length", "5", *CORPUS_TINY)
    assert code == 0
    assert "s2sxp train: note: most target sentences are one word each when split at " \
           "spaces" in err and 'tokens="char"' in err


def test_ja_mecab_says_how_to_get_it_where_it_is_missing(capsys, tmp_path, files):
    try:
        import MeCab  # noqa: F401
        pytest.skip("MeCab is installed here")
    except ImportError:
        pass
    code, _, err = run(capsys, "train", "--data", files / "train.tsv", "--bleu-tokenize",
                       "ja-mecab", "--out", tmp_path / "r", *CORPUS_TINY)
    assert code == 2 and 'pip install "sacrebleu[ja]"' in err and err.count("\n") == 1


def test_evals_help_says_the_column_follows_the_model(capsys):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    flag = help_text.split("--source-column {1,2} the column")[1].split(" --")[0]
    assert flag.endswith("[default: the model's]"), flag


# -- 6: flags ---------------------------------------------------------------------------------

def test_a_misspelt_flag_gets_the_commands_usage_and_what_it_resembles(capsys):
    code, err = refused(capsys, "train", "--epohcs", "3")
    assert code == 2 and err.startswith("usage: s2sxp train")
    assert "unrecognized arguments: --epohcs 3 (did you mean --epochs?)" in err


@pytest.mark.parametrize("argv", [["train", "--epoch", "1"], ["train", "--token", "spm"],
                                  ["eval", "--source-colum", "2"]])
def test_a_prefix_of_a_flag_is_refused(capsys, argv):
    code, err = refused(capsys, *argv)
    assert code == 2 and f"unrecognized arguments: {argv[1]}" in err and "did you mean" in err


def test_translate_reads_standard_input_piped_in_without_a_sentence(capsys, kept, files,
                                                                    monkeypatch, tmp_path):
    sources = [line.split("\t")[0] for line in
               (files / "test.tsv").read_text().splitlines()[:5]]
    (tmp_path / "in.txt").write_text("".join(s + "\n" for s in sources))
    with open(tmp_path / "in.txt", encoding="utf-8") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        code, out, err = run(capsys, "translate", "--run", kept)
    assert code == 0 and len(out.splitlines()) == 5 and "5 sentences in" in err


# -- 7: Japanese in pictures ------------------------------------------------------------------

def test_a_heatmap_of_japanese_tokens_draws_them_in_a_font_that_has_them(capsys, tmp_path,
                                                                         japanese):
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager

    from s2sxp import viz

    assert run(capsys, "train", "--data", japanese, "--source-column", "2", "--epochs", "1",
               "--out", tmp_path / "r", "--max-output-length", "6", *CORPUS_TINY[2:])[0] == 0
    sentence = japanese.read_text(encoding="utf-8").split("\t")[1].split("\n")[0]
    code, out, err = run(capsys, "translate", sentence, "--run", tmp_path / "r", "--heatmap",
                         tmp_path / "h.png")
    assert code == 0 and f"wrote {tmp_path / 'h.png'}" in out and "font" not in err
    tokens = list("今日は暑いですね。")
    assert "IPAexGothic" in viz.label_fonts()            # matplotlib-fontja's, a dependency
    path = font_manager.findfont(font_manager.FontProperties(family="IPAexGothic"),
                                 fallback_to_default=False)
    cmap = TTFont(path).getBestCmap()
    assert all(ord(c) in cmap for c in tokens)


# -- 9: the smaller ones ----------------------------------------------------------------------

def test_a_corpus_run_draws_bleu_not_a_flat_accuracy_and_plot_names_what_it_drew(capsys,
                                                                                  kept):
    assert (kept / "bleu.png").exists() and not (kept / "accuracy.png").exists()
    code, out, _ = run(capsys, "plot", kept)
    assert code == 0 and "bleu.png" in out and "accuracy.png" not in out


def test_the_folder_is_let_go_when_a_run_ends(kept):
    from s2sxp.files import FolderLock
    assert not (kept / ".owner.json").exists()
    with FolderLock(kept):                              # no process holds it
        pass


def test_max_output_length_caps_translations(capsys, kept):
    code, out, _ = run(capsys, "translate", "qa qa qa", "--run", kept, "--max-output-length",
                       "2")
    assert code == 0 and len(out.split()) <= 2


def test_a_batch_larger_than_the_data_is_refused_leaving_no_folder(capsys, tmp_path, files):
    code, _, err = run(capsys, "train", "--data", files / "dev.tsv", "--out", tmp_path / "r",
                       *CORPUS_TINY[:-4], "--batch-size", "128")
    assert code == 2 and "batch size 128 is larger than the 90 training examples" in err
    assert not (tmp_path / "r").exists()


def test_the_test_extra_brings_no_cuda_compiler():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert not [d for d in extras["test"] if "nvidia" in d or "cupy" in d]
    assert any("nvrtc" in d for d in extras["cuda-compile"])


# -- the conveniences -------------------------------------------------------------------------

def test_train_reads_its_settings_from_a_toml_file_and_flags_override_it(capsys, tmp_path,
                                                                         files):
    (tmp_path / "run.toml").write_text(
        f'data = "{files / "train.tsv"}"\nmodel = "bahdanau"\ntokens = "word"\nepochs = 3\n'
        'wordvec-size = 8\nhidden_size = 32\nbatch_size = 32\n')
    code, out, _ = run(capsys, "train", "--config", tmp_path / "run.toml", "--epochs", "1",
                       "--out", tmp_path / "a")
    assert code == 0
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (config["epochs"], config["hidden_size"], config["tokens"]) == (1, 32, "word")
    code, out, _ = run(capsys, "train", "--config", tmp_path / "a" / "config.json", "--seed",
                       "1", "--out", tmp_path / "b")
    again = json.loads((tmp_path / "b" / "config.json").read_text())
    assert code == 0 and again == dict(config, seed=1)


@pytest.mark.parametrize("text, message", [
    ("epoch = 3\n", "'epoch' is not a setting of a run (did you mean 'epochs'?)"),
    ("epochs = 0\n", "--epochs must be a whole number of at least 1, got 0"),
    ("epochs = \n", "not TOML (Invalid value (at line 1, column 10))"),
])
def test_a_bad_settings_file_is_one_line_naming_it(capsys, tmp_path, text, message):
    (tmp_path / "run.toml").write_text(text)
    code, _, err = run(capsys, "train", "--config", tmp_path / "run.toml", "--out",
                       tmp_path / "r")
    assert code == 2 and err.count("\n") == 1 and f"{tmp_path / 'run.toml'}: {message}" in err
    assert not (tmp_path / "r").exists()


def test_keep_best_keeps_the_best_epochs_and_average_averages_them(capsys, kept, tmp_path):
    history = json.loads((kept / "history.json").read_text())
    best = sorted(range(1, 6), key=lambda e: (history["val_bleu"][e - 1], e))[-3:]
    assert sorted(p.name for p in kept.glob("epoch-*.npz")) == sorted(
        f"epoch-{e}.npz" for e in best)
    code, out, _ = run(capsys, "average", kept, "--best", "2", "--out", tmp_path / "avg.npz")
    assert code == 0 and "averaged 2 models" in out
    chosen = sorted(best, key=lambda e: (history["val_bleu"][e - 1], e))[-2:]
    models = [io.load(kept / f"epoch-{e}.npz") for e in sorted(chosen)]
    averaged = io.load(tmp_path / "avg.npz")
    for p, a, b in zip(averaged.params, *(m.params for m in models)):
        numpy.testing.assert_allclose(p, (a + b) / 2, rtol=1e-6, atol=1e-7)
    assert averaged.meta["averaged"] == [f"epoch-{e}.npz" for e in sorted(chosen)]
    code, out, _ = run(capsys, "eval", "--run", tmp_path / "avg.npz")
    assert code == 0 and "BLEU" in out.splitlines()[-1]
    code, _, err = run(capsys, "average", kept / "best.npz", "--out", tmp_path / "x.npz")
    assert code == 2 and "averaging takes two models or more" in err


def test_eval_writes_its_translations_and_scores_further_references(capsys, kept, tmp_path,
                                                                    files):
    code, out, _ = run(capsys, "eval", "--run", kept, "--data", files / "test.tsv", "--output",
                       tmp_path / "hyp.txt")
    hypotheses = (tmp_path / "hyp.txt").read_text().splitlines()
    assert code == 0 and len(hypotheses) == 100
    one = float(out.strip().splitlines()[-2].split("BLEU ")[1].split(",")[0])
    (tmp_path / "ref2.txt").write_text("".join(h + "\n" for h in hypotheses))
    code, out, _ = run(capsys, "eval", "--run", kept, "--data", files / "test.tsv",
                       "--references", tmp_path / "ref2.txt")
    last = out.strip().splitlines()[-1]
    assert code == 0 and "2 references" in last and "exact 100.000%" in last
    assert float(last.split("BLEU ")[1].split(",")[0]) == 100.0 > one
    (tmp_path / "short.txt").write_text("one line\n")
    code, _, err = run(capsys, "eval", "--run", kept, "--data", files / "test.tsv",
                       "--references", tmp_path / "short.txt")
    assert code == 2 and "has 1 lines but" in err


def test_history_csv_holds_every_report_and_validation(kept):
    history = json.loads((kept / "history.json").read_text())
    with open(kept / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    losses = [r for r in rows if r["event"] == "loss"]
    validations = [r for r in rows if r["event"] == "validation"]
    assert [float(r["loss"]) for r in losses] == pytest.approx(history["loss"], rel=1e-5)
    assert [float(r["bleu"]) for r in validations] == pytest.approx(history["val_bleu"],
                                                                    rel=1e-5)
    assert [float(r["epoch"]) for r in validations] == [1, 2, 3, 4, 5]

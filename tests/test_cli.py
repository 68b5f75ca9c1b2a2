"""The command line, run in-process on tiny models and data: every command, resume, Ctrl-C, and
one line (never a traceback) for each kind of user error."""
import dataclasses
import io as stdio
import json
import pathlib
import re
import signal
import subprocess
import sys
import types
import zipfile

import numpy
import pytest

import s2sxp
from s2sxp import backend, cli, corpus, io, models
from s2sxp.config import TrainConfig
from s2sxp.run import Run

pytestmark = pytest.mark.usefixtures("xp32")

TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0"]
COMMANDS = ("train", "eval", "translate", "compare", "plot")


def run(capsys, *argv):
    """(exit code, stdout, stderr) of ``s2sxp ARGV``."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def params(path):
    with numpy.load(path) as f:
        return [f[k] for k in sorted(f.files) if k.startswith("param_")]


def assert_same_params(a, b):
    for p, q in zip(params(a), params(b), strict=True):
        numpy.testing.assert_array_equal(p, q)


def assert_same_training(a, b):
    """Two run folders trained alike: equal parameters and losses. Bit for bit on NumPy; on CuPy
    the embedding gradient's scatter-add sums in no fixed order, so two runs agree only closely."""
    history_a, history_b = (json.loads((f / "history.json").read_text()) for f in (a, b))
    if backend.name() == "numpy":
        assert_same_params(a / "checkpoint.npz", b / "checkpoint.npz")
        assert history_a["loss"] == history_b["loss"]
        return
    for p, q in zip(params(a / "checkpoint.npz"), params(b / "checkpoint.npz"), strict=True):
        numpy.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-5)
    numpy.testing.assert_allclose(history_a["loss"], history_b["loss"], rtol=1e-4)


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def press_ctrl_c_at_backward(monkeypatch, n):
    """Make the n-th AttentionSeq2seq.backward from now raise SIGINT, as Ctrl-C would, before it
    runs; returns the function that puts backward back."""
    backward = models.AttentionSeq2seq.backward
    calls = []

    def press_ctrl_c(self, *args):
        calls.append(1)
        if len(calls) == n:
            signal.raise_signal(signal.SIGINT)
        return backward(self, *args)

    monkeypatch.setattr(models.AttentionSeq2seq, "backward", press_ctrl_c)
    return lambda: monkeypatch.setattr(models.AttentionSeq2seq, "backward", backward)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny attention run on dates, two epochs."""
    folder = tmp_path_factory.mktemp("runs") / "attention"
    assert cli.main(["train", "--epochs", "2", "--out", str(folder), *TINY]) == 0
    return folder


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0
    assert f"s2sxp {command}" in out and "examples:\n  s2sxp " + command in out


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "s2sxp", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for command in COMMANDS + ("bench",):
        assert command in done.stdout


def test_train_defaults_are_the_books_and_the_models_recipe():
    book = TrainConfig().resolved()
    assert (book.model, book.cell, book.data, book.epochs, book.batch_size, book.wordvec_size,
            book.hidden_size) == ("attention", "lstm", "date", 10, 128, 16, 256)
    assert (book.optimizer, book.lr, book.max_grad, book.reverse) == ("adam", 0.001, 5.0, True)
    assert book.default_folder() == "runs/attention-date"
    for kind, cls in models.MODELS.items():
        config = TrainConfig(model=kind).resolved()
        assert (config.lr, config.reverse, config.max_grad) == (
            cls.recipe["lr"], cls.recipe["reverse"], cls.recipe["max_grad"])
    given = TrainConfig(model="attention", lr=0.01, reverse=False).resolved()
    assert (given.lr, given.reverse) == (0.01, False)


def test_bahdanau_trains_with_its_own_recipe():
    config = TrainConfig(model="bahdanau").resolved()
    assert (config.lr, config.reverse, config.optimizer) == (0.01, False, "adam")


def test_bahdanau_options_reach_the_model_and_name_the_run_folder(capsys, tmp_path):
    assert TrainConfig(model="bahdanau").resolved().default_folder() == "runs/bahdanau-date"
    config = TrainConfig(model="bahdanau", cell="lstm", init_state="last",
                         reset_state_each_step=True).resolved()
    assert config.default_folder() == "runs/bahdanau-lstm-last-reset-date"
    assert "init_state" not in TrainConfig().resolved().as_dict()
    code, out, _ = run(capsys, "train", "--model", "bahdanau", "--init-state", "last",
                       "--reset-state-each-step", "--epochs", "1", "--out", tmp_path, *TINY)
    assert code == 0 and '"init_state": "last", "reset_state_each_step": true' in out
    model = io.load(tmp_path / "model.npz")
    assert (model.config["init_state"], model.config["reset_state_each_step"]) == ("last", True)
    code, _, err = run(capsys, "train", "--resume", "--init-state", "sum", "--out", tmp_path)
    assert_one_line_error(code, err, "--init-state sum differs from the resumed run's last")


@pytest.mark.parametrize("flag", [["--init-state", "last"], ["--reset-state-each-step"]])
def test_an_option_of_another_model_family_is_one_line(capsys, tmp_path, flag):
    code, _, err = run(capsys, "train", *flag, "--out", tmp_path, *TINY)
    assert_one_line_error(code, err, f"{flag[0]} is an option of bahdanau only, not of attention")


def test_train_writes_a_run_folder(trained):
    names = {p.name for p in trained.iterdir() if p.name != ".lock"}   # the folder's lock
    assert names == {"config.json", "checkpoint.npz", "history.json", "history.csv", "model.npz",
                     "best.npz", "accuracy.png", "loss.png"}
    history = json.loads((trained / "history.json").read_text())
    assert len(history["val_acc"]) == 2 and history["config"]["hidden_size"] == 8
    assert len(history["loss"]) == len(history["loss_epochs"]) == 2 * 1
    assert io.read_checkpoint(trained / "checkpoint.npz").epoch == 2
    assert_same_params(trained / "model.npz", trained / "checkpoint.npz")


def test_train_prints_settings_log_lines_and_accuracy(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "--epochs", "1", "--out", tmp_path, *TINY)
    assert code == 0
    assert "settings: {" in out and '"lr": 0.001' in out
    assert "| epoch 1 |  iter 11 / 11 | time " in out and "val acc " in out


def test_resume_equals_an_uninterrupted_run(capsys, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run(capsys, "train", "--epochs", "2", "--out", straight, *TINY)[0] == 0
    assert run(capsys, "train", "--epochs", "1", "--out", resumed, *TINY)[0] == 0
    code, out, _ = run(capsys, "train", "--resume", "--epochs", "2", "--out", resumed)
    assert code == 0 and f"resuming {resumed} after epoch 1" in out
    assert_same_training(straight, resumed)


def test_ctrl_c_saves_a_checkpoint_mid_epoch_and_resume_carries_on_exactly(
        capsys, tmp_path, monkeypatch):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run(capsys, "train", "--epochs", "2", "--out", straight, *TINY)[0] == 0

    press_ctrl_c_at_backward(monkeypatch, 11 + 4)                # epoch 2, iteration 5
    code, _, err = run(capsys, "train", "--epochs", "2", "--out", stopped, *TINY)
    assert code == 130
    assert f"interrupted in epoch 2 after iteration 4; checkpoint saved in {stopped}" in err
    assert f"s2sxp train --resume --out {stopped}" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()

    code, out, _ = run(capsys, "train", "--resume", "--out", stopped)
    assert code == 0 and "resuming" in out and "in epoch 2 after iteration 4" in out
    assert_same_training(straight, stopped)


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(
        capsys, tmp_path, monkeypatch):
    calls = []
    forward = models.AttentionSeq2seq.forward

    def nan_in_epoch_2(self, xs, ts):
        calls.append(1)
        loss = forward(self, xs, ts)
        return loss * numpy.nan if len(calls) > 11 + 2 else loss

    monkeypatch.setattr(models.AttentionSeq2seq, "forward", nan_in_epoch_2)
    code, _, err = run(capsys, "train", "--epochs", "3", "--out", tmp_path, *TINY)
    assert code == 1 and err.count("\n") == 1
    assert "loss became nan in epoch 2, iteration 11" in err
    assert "the last good checkpoint (after epoch 1) is kept" in err
    checkpoint = io.read_checkpoint(tmp_path / "checkpoint.npz")
    assert checkpoint.epoch == 1 and all(numpy.isfinite(p).all() for p in checkpoint.params)
    assert_same_params(tmp_path / "model.npz", tmp_path / "checkpoint.npz")


def test_resume_refuses_a_checkpoint_of_another_model_kind(capsys, trained):
    code, _, err = run(capsys, "train", "--resume", "--model", "peeky", "--out", trained)
    assert_one_line_error(code, err, "holds a model of kind 'attention', not 'peeky'")


def test_resume_refuses_data_changed_since_and_a_checkpoint_of_another_vocabulary(
        capsys, tmp_path):
    data = tmp_path / "pairs.txt"
    data.write_text("".join(f"{a}+{b}".ljust(5) + f"_{a + b}".ljust(4) + "\n"
                            for a in range(12) for b in range(12)))
    assert run(capsys, "train", "--data", data, "--epochs", "1", "--out", tmp_path / "r",
               *TINY)[0] == 0
    data.write_text(data.read_text().replace("+", "-"))
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "pairs.txt is not what the run was trained on")
    other = s2sxp.datasets.Data.load(str(data), None, True)
    with pytest.raises(io.CheckpointError, match="only in the checkpoint: '\\+'"):
        Run.resume(tmp_path / "r", data=other).close()


def test_resume_refuses_changed_settings(capsys, trained):
    code, _, err = run(capsys, "train", "--resume", "--hidden-size", "16", "--out", trained)
    assert_one_line_error(code, err, "--hidden-size 16 differs from the resumed run's 8")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:len(b) // 3], "truncated or corrupt"),
    (lambda b: b"\x00" * len(b), "not an .npz archive"),
])
def test_a_damaged_checkpoint_or_model_is_one_line(capsys, tmp_path, trained, damage, message):
    for name in ("checkpoint.npz", "model.npz"):
        (tmp_path / name).write_bytes(damage((trained / name).read_bytes()))
    code, _, err = run(capsys, "train", "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, "checkpoint.npz", message)
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path)
    assert_one_line_error(code, err, "model.npz", message)


def test_resume_without_a_checkpoint_says_so(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--resume", "--out", tmp_path)
    assert_one_line_error(code, err, f"no checkpoint to resume in {tmp_path}")


def test_eval_prints_examples_and_the_accuracy(capsys, trained):
    code, out, _ = run(capsys, "eval", "--run", trained, "--count", "2")
    assert code == 0
    assert out.count("\nT ") == 2 and "on date (test): accuracy " in out and "(of 20)" not in out
    assert out.rstrip().endswith("of 20)")


def test_eval_on_data_with_unknown_characters_lists_them(capsys, trained):
    code, _, err = run(capsys, "eval", "--run", trained, "--data", "addition", "--examples", "50")
    assert_one_line_error(code, err, "characters the model's vocabulary lacks: '+'")


def test_translate_prints_the_answer(capsys, trained):
    code, out, _ = run(capsys, "translate", "September 27, 1994", "9/27/94", "--run", trained)
    assert code == 0 and len(out.splitlines()) == 2


def test_translate_lists_characters_missing_from_the_vocabulary(capsys, trained):
    code, _, err = run(capsys, "translate", "Sept€mber 27, 1994¿", "--run", trained)
    assert_one_line_error(code, err, "not in the vocabulary", "'€', '¿'")


def test_translate_states_both_lengths_of_a_too_long_question(capsys, trained):
    text = "September 27, 1994 September 27"
    code, _, err = run(capsys, "translate", text, "--run", trained)
    assert_one_line_error(code, err, f"is {len(text)} characters long", "at most 29")


def test_translate_heatmap_is_drawn_in_reading_order(capsys, trained, tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(s2sxp.viz, "plot_attention",
                        lambda w, q, a, path, title: drawn.update(w=w, q=q, a=a, path=path))
    code, out, _ = run(capsys, "translate", "9/27/94", "--run", trained,
                       "--heatmap", tmp_path / "a.png")
    assert code == 0
    model = io.load(trained / "model.npz")
    xs = model.vocab.encode("9/27/94".ljust(29))[None, ::-1]
    model.generate_batch(xs, model.vocab.char_to_id["_"], 10)
    weights = backend.asnumpy(model.attention_weights)[0]
    numpy.testing.assert_allclose(drawn["w"], weights[:, ::-1])
    assert drawn["q"] == "9/27/94".ljust(29) and drawn["a"].rstrip() == out.splitlines()[0]


def test_translate_heatmap_writes_a_png(capsys, trained, tmp_path):
    code, out, _ = run(capsys, "translate", "9/27/94", "--run", trained,
                       "--heatmap", tmp_path / "a.png")
    assert code == 0 and (tmp_path / "a.png").stat().st_size > 1000


def test_translate_heatmap_needs_an_attention_model(capsys, tmp_path):
    assert run(capsys, "train", "--model", "seq2seq", "--epochs", "1", "--out", tmp_path,
               *TINY)[0] == 0
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path,
                       "--heatmap", tmp_path / "a.png")
    assert_one_line_error(code, err, "seq2seq model, which has no attention to draw")


def test_a_missing_run_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path / "nothing")
    assert_one_line_error(code, err, "no run folder or model file at")


def test_plot_redraws_the_pictures_from_the_history(capsys, trained, tmp_path):
    for name in ("accuracy.png", "loss.png"):
        (trained / name).unlink()
    code, out, _ = run(capsys, "plot", trained)
    assert code == 0 and (trained / "accuracy.png").exists() and (trained / "loss.png").exists()
    code, _, err = run(capsys, "plot", trained, trained)
    assert_one_line_error(code, err, "--out")
    code, _, _ = run(capsys, "plot", trained, trained, "--out", tmp_path / "both")
    assert code == 0 and (tmp_path / "both" / "accuracy.png").exists()


def test_plot_of_a_folder_without_history_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "plot", tmp_path)
    assert_one_line_error(code, err, "holds no history.json")


def test_compare_trains_models_side_by_side_and_resumes(capsys, tmp_path):
    argv = ["compare", "--models", "seq2seq", "attention", "--out", tmp_path, *TINY]
    code, out, _ = run(capsys, *argv, "--epochs", "1")
    assert code == 0 and "val acc seq2seq " in out
    assert {"seq2seq", "attention", "accuracy.png", "loss.png", "compare.json"} <= {
        p.name for p in tmp_path.iterdir()}
    code, out, _ = run(capsys, *argv, "--epochs", "2", "--resume")
    assert code == 0 and "resuming" in out
    for name in ("seq2seq", "attention"):
        history = json.loads((tmp_path / name / "history.json").read_text())
        assert len(history["val_acc"]) == 2 and history["config"]["model"] == name
    code, _, _ = run(capsys, "plot", tmp_path)
    assert code == 0


def test_compare_scores_each_model_on_the_test_file(capsys, tmp_path, pairs_file):
    test = tmp_path / "test.tsv"
    corpus.write_pairs(test, corpus.synthetic_pairs(30, seed=5, max_words=5))
    code, out, _ = run(capsys, "compare", "--models", "seq2seq", "attention", "--data",
                       pairs_file, "--tokens", "word", "--test", test, "--epochs", "1",
                       "--wordvec-size", "8", "--hidden-size", "16", "--batch-size", "64",
                       "--out", tmp_path / "cmp")
    assert code == 0, out
    for name in ("seq2seq", "attention"):
        history = json.loads((tmp_path / "cmp" / name / "history.json").read_text())
        assert history["test"]["sentences"] == 30 and history["test"]["beam"] == 5
        assert 0 <= history["test"]["bleu"] <= 100
        assert f"{name} test BLEU {history['test']['bleu']:.2f}, chrF " in out
        assert f"30 sentences of {test})" in out


def test_ctrl_c_in_compare_saves_every_run_and_resume_finishes_them(capsys, tmp_path,
                                                                    monkeypatch):
    argv = ["compare", "--models", "seq2seq", "attention", "--epochs", "2", "--out", tmp_path,
            *TINY]
    press_ctrl_c_at_backward(monkeypatch, 3)
    code, _, err = run(capsys, *argv)
    assert code == 130 and "interrupted in epoch 1 after iteration 3" in err
    assert f"s2sxp compare --resume --out {tmp_path}" in err
    assert io.read_checkpoint(tmp_path / "seq2seq" / "checkpoint.npz").epoch == 1
    monkeypatch.undo()
    code, out, _ = run(capsys, "compare", "--resume", "--out", tmp_path)
    assert code == 0 and "attention in epoch 1 after iteration 3" in out
    for name in ("seq2seq", "attention"):
        assert len(json.loads((tmp_path / name / "history.json").read_text())["val_acc"]) == 2


def test_cupy_without_a_gpu_is_one_line(capsys, monkeypatch):
    if backend.gpu_available():
        pytest.skip("a GPU is usable here")
    monkeypatch.setenv("S2S_BACKEND", "cupy")
    monkeypatch.setattr(backend, "_active", [])
    code, _, err = run(capsys, "train", *TINY)
    assert_one_line_error(code, err, "CuPy")


def test_auto_backend_falls_back_to_numpy_with_a_notice(capsys, trained):
    if backend.gpu_available():
        pytest.skip("a GPU is usable here")
    code, out, err = run(capsys, "translate", "9/27/94", "--run", trained, "--backend", "auto")
    assert code == 0 and "using NumPy" in err and len(out.splitlines()) == 1


def test_bench_hands_its_arguments_to_the_benchmark(capsys, monkeypatch, tmp_path):
    """``s2sxp bench [padded] ARGS`` runs the checkout's benchmark module with ARGS."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "__init__.py").write_text("")
    for name in ("epoch_cost", "padded_epoch"):
        (tmp_path / "benchmarks" / f"{name}.py").write_text(
            "import json, pathlib, sys\n"
            f"with open(pathlib.Path(__file__).parent / 'seen.jsonl', 'a') as f:\n"
            f"    f.write(json.dumps([{name!r}, sys.argv[1:]]) + '\\n')\n")
    monkeypatch.setattr(cli, "checkout", lambda: str(tmp_path))
    assert cli.main(["bench", "--quick", "--help"]) == 0
    assert cli.main(["bench", "padded", "--quick"]) == 0
    seen = [json.loads(line) for line in (tmp_path / "benchmarks" / "seen.jsonl").open()]
    assert seen == [["epoch_cost", ["--quick", "--help"]], ["padded_epoch", ["--quick"]]]


def test_bench_runs_the_benchmarks_of_this_checkout(capfd):
    assert cli.main(["bench", "--help"]) == 0
    assert "usage: s2sxp bench" in capfd.readouterr().out


def test_bench_without_the_benchmarks_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(cli, "checkout", lambda: None)
    code, _, err = run(capsys, "bench")
    assert_one_line_error(code, err, "benchmarks/ folder of a source checkout")


# -- parallel corpora ----------------------------------------------------------------------------

#: A small Bahdanau model that learns the generated language in a few epochs: the model's own
#: recipe (Adam 1e-2, one direction, no dropout or label smoothing), not a real corpus's.
CORPUS_TINY = ["--tokens", "word", "--model", "bahdanau", "--wordvec-size", "8",
               "--hidden-size", "32", "--batch-size", "32", "--seed", "0", "--lr", "0.01",
               "--no-bidirectional", "--dropout", "0", "--label-smoothing", "0"]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "pairs.tsv"
    corpus.write_pairs(path, corpus.synthetic_pairs(1000, seed=0, max_words=5))
    return path


@pytest.fixture(scope="module")
def translator(tmp_path_factory, pairs_file):
    """A small Bahdanau model trained on 900 pairs of the generated language, by words."""
    folder = tmp_path_factory.mktemp("runs") / "bahdanau-words"
    argv = ["train", "--data", str(pairs_file), "--epochs", "12", "--out", str(folder),
            *CORPUS_TINY]
    assert cli.main(argv) == 0
    return folder


def test_train_on_a_pairs_file_reports_bleu_and_keeps_the_best_by_it(capsys, translator):
    history = json.loads((translator / "history.json").read_text())
    assert len(history["val_bleu"]) == len(history["val_chrf"]) == 12
    assert history["best_epoch"] == 1 + history["val_bleu"].index(max(history["val_bleu"]))
    assert max(history["val_bleu"]) >= 80, history["val_bleu"]
    assert history["config"]["tokens"] == "word" and "examples" not in history["config"]
    for name in ("model.npz", "best.npz", "checkpoint.npz", "bleu.png", "history.csv"):
        assert (translator / name).exists(), name
    assert not (translator / "accuracy.png").exists()   # exact match of translations: near 0
    model = io.load(translator / "model.npz")
    assert model.vocab.tokenizer == "word" and model.config["pad_id"] == model.vocab.pad_id


def test_train_on_a_pairs_file_prints_pairs_vocabulary_and_scores(capsys, tmp_path, pairs_file):
    code, out, _ = run(capsys, "train", "--data", pairs_file, "--epochs", "1", "--out", tmp_path,
                       *CORPUS_TINY)
    assert code == 0
    assert "900 train / 100 held-out sentence pairs, vocabulary" in out and " words;" in out
    assert "val BLEU " in out and "chrF " in out


def test_eval_with_beam_search_prints_bleu_and_chrf(capsys, translator):
    code, out, _ = run(capsys, "eval", "--run", translator, "--beam", "3", "--count", "2")
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert "(held-out, 100 sentences, beam 3): BLEU " in last and "chrF " in last
    assert float(last.split("BLEU ")[1].split(",")[0]) >= 80, last
    greedy = run(capsys, "eval", "--run", translator)[1].strip().splitlines()[-1]
    assert "(held-out, 100 sentences, greedy): BLEU " in greedy


def test_translate_a_sentence_with_beam_search_and_draw_its_heatmap(capsys, translator,
                                                                     tmp_path):
    source, target = corpus.synthetic_pairs(1, seed=99, min_words=4, max_words=4)[0]
    code, out, err = run(capsys, "translate", source, "--run", translator, "--beam", "3",
                         "--heatmap", tmp_path / "h.png")
    assert code == 0 and err.startswith(f"s2sxp translate: {translator / 'best.npz'} (epoch ")
    assert err.count("\n") == 1
    lines = out.splitlines()
    assert lines[0] == target and lines[1] == f"wrote {tmp_path / 'h.png'}"
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_translate_reads_unknown_words_as_unk_with_a_note(capsys, translator):
    code, out, err = run(capsys, "translate", "qqqq zzzz", "--run", translator)
    assert code == 0 and len(out.splitlines()) == 1
    assert "note: not in the vocabulary" in err and "'qqqq', 'zzzz'" in err


def test_beam_on_a_fixed_width_model_is_one_line(capsys, trained):
    code, _, err = run(capsys, "eval", "--run", trained, "--beam", "3")
    assert_one_line_error(code, err, "--beam is for models trained on a parallel corpus")


def test_resume_on_a_pairs_file_carries_on(capsys, tmp_path, pairs_file):
    argv = ["train", "--data", pairs_file, "--out", tmp_path, *CORPUS_TINY]
    assert run(capsys, *argv, "--epochs", "1")[0] == 0
    code, out, _ = run(capsys, "train", "--resume", "--epochs", "2", "--out", tmp_path)
    assert code == 0 and "val BLEU" in out
    assert len(json.loads((tmp_path / "history.json").read_text())["val_bleu"]) == 2


@pytest.mark.parametrize("content, message", [
    (b"Go.\t\xe8\xa1\x8c\n\nHi.\tx\n", "bad.tsv, line 2: empty"),
    (b"Go.\tgo\nno tab\n", "bad.tsv, line 2: without a tab"),
    (b"Go.\tgo\nHi.\t\xff\n", "bad.tsv, line 2: not UTF-8"),
    (b"Go.\tgo\nHi.\tone two three four\n", "bad.tsv, line 2: longer than 3 tokens"),
])
def test_a_bad_pairs_file_is_one_line_naming_the_line_and_writes_nothing(capsys, tmp_path,
                                                                        content, message):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    code, _, err = run(capsys, "train", "--data", path, "--max-length", "3",
                       "--out", tmp_path / "run", *CORPUS_TINY)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "run").exists()


def test_skip_bad_counts_the_skipped_lines_in_a_notice(capsys, tmp_path):
    path = tmp_path / "some-bad.tsv"
    path.write_text("".join(f"s{i} a\tt{i} b\n" for i in range(40)) + "no tab\n\n",
                    encoding="utf-8")
    code, _, err = run(capsys, "train", "--data", path, "--skip-bad", "--epochs", "1",
                       "--out", tmp_path / "run", *CORPUS_TINY)
    assert code == 0
    assert "skipped 2 of 42 lines of" in err and "1 without a tab (first: line 41)" in err


def test_the_learning_rate_halves_every_half_life_and_resume_keeps_the_schedule(
        capsys, tmp_path, monkeypatch):
    rates = []
    step = s2sxp.Adam.step

    def record(self, model):
        rates.append(self.lr)
        return step(self, model)

    monkeypatch.setattr(s2sxp.Adam, "step", record)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    argv = ["train", "--epochs", "2", "--lr-half-life", "4", *TINY]
    code, out, _ = run(capsys, *argv, "--out", straight)
    assert code == 0 and '"lr_half_life": 4' in out
    assert rates == pytest.approx([0.001 * 0.5 ** (i / 4) for i in range(22)], rel=1e-12)
    assert f"(epoch 2, lr now {0.001 * 0.5 ** (22 / 4):.3g}, " in out

    restore = press_ctrl_c_at_backward(monkeypatch, 11 + 4)
    assert run(capsys, *argv, "--out", stopped)[0] == 130
    restore()
    rates.clear()
    assert run(capsys, "train", "--resume", "--out", stopped)[0] == 0
    assert rates == pytest.approx([0.001 * 0.5 ** (i / 4) for i in range(15, 22)], rel=1e-12)
    assert_same_training(straight, stopped)


def test_a_run_saved_without_a_schedule_resumes_at_a_constant_rate(capsys, tmp_path):
    assert run(capsys, "train", "--epochs", "1", "--out", tmp_path, "--model", "bahdanau",
               *TINY)[0] == 0
    saved = Run.resume(tmp_path)
    assert saved.config.lr_half_life == 350
    settings = saved.config.as_dict()
    del settings["lr_half_life"]                      # as a checkpoint of an older s2sxp
    io.save_checkpoint(tmp_path / "checkpoint.npz", saved.model, saved.optimizer, saved.trainer,
                       vocab=saved.data.vocab, run=settings, history=saved.history,
                       **saved.model_meta())
    resumed = Run.resume(tmp_path)
    assert resumed.config.lr_half_life == 0 and resumed.lr_at(10_000) == resumed.config.lr


def test_the_rate_halves_after_every_epoch_from_the_first_that_reached_anneal_at(tmp_path):
    config = TrainConfig(examples=200, wordvec_size=4, hidden_size=8, batch_size=16,
                         anneal_at=0.99)
    run_ = Run.start(tmp_path, config, log=None)
    run_.history["val_acc"] = [0.5, 0.995, 0.98, 0.2]
    for finished, halvings in ((0, 0), (1, 0), (2, 1), (3, 2), (4, 3)):
        run_.trainer.current_epoch = finished
        assert run_.lr_at(7) == pytest.approx(0.001 * 0.5 ** halvings), finished
    run_.config = dataclasses.replace(run_.config, anneal_at=0.0)
    assert run_.lr_at(7) == 0.001
    with pytest.raises(ValueError, match="--anneal-at must be an accuracy from 0 to 1"):
        TrainConfig(anneal_at=99).resolved()


def test_version():
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0


@pytest.fixture(scope="module")
def anki_files(tmp_path_factory):
    """Train, dev and test pairs files laid out as the Anki export: target first, then source,
    then an attribution."""
    folder = tmp_path_factory.mktemp("anki")
    pairs = corpus.synthetic_pairs(700, seed=5, max_words=5)
    for name, part in (("train", pairs[:500]), ("dev", pairs[500:600]), ("test", pairs[600:])):
        (folder / f"{name}.tsv").write_text("".join(f"{t}\t{s}\tCC-BY 2.0\n" for s, t in part),
                                            encoding="utf-8")
    return folder, pairs


def test_train_on_dev_and_test_files_with_the_source_in_the_second_column(capsys, tmp_path,
                                                                          anki_files):
    folder, pairs = anki_files
    code, out, _ = run(capsys, "train", "--data", folder / "train.tsv", "--dev",
                       folder / "dev.tsv", "--test", folder / "test.tsv", "--source-column",
                       "2", "--epochs", "1", "--out", tmp_path, *CORPUS_TINY)
    assert code == 0
    assert "500 train / 100 dev sentence pairs, vocabulary 24 source / 24 target words" in out
    assert f"beam 5, 100 sentences of {folder / 'test.tsv'})" in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["test"]["sentences"] == 100 and history["test"]["beam"] == 5
    model = io.load(tmp_path / "model.npz")
    assert set(model.source_vocab.tokens[4:]) == {w for s, _ in pairs[:500] for w in s.split()}
    assert set(model.vocab.tokens[4:]) == {w for _, t in pairs[:500] for w in t.split()}
    assert model.source_vocab_size == len(model.source_vocab)
    code, out, _ = run(capsys, "eval", "--run", tmp_path, "--data", folder / "test.tsv")
    assert code == 0 and "(all 100 sentences, greedy): BLEU" in out


def test_train_on_aligned_files(capsys, tmp_path, anki_files):
    _, pairs = anki_files
    for split, part in (("train", pairs[:500]), ("dev", pairs[500:600])):
        for lang, side in (("xx", 0), ("yy", 1)):
            (tmp_path / f"{split}.{lang}").write_text("".join(p[side] + "\n" for p in part))
    code, out, _ = run(capsys, "train", "--data", tmp_path / "train", "--dev", tmp_path / "dev",
                       "--langs", "xx", "yy", "--epochs", "1", "--out", tmp_path / "run",
                       *CORPUS_TINY)
    assert code == 0 and "500 train / 100 dev sentence pairs" in out
    assert run(capsys, "train", "--resume", "--epochs", "2", "--out", tmp_path / "run")[0] == 0


def test_subwords_travel_in_the_model_file_and_translate_raw_text_elsewhere(
        capsys, tmp_path, anki_files, monkeypatch):
    folder, pairs = anki_files
    code, out, _ = run(capsys, "train", "--data", folder / "train.tsv", "--dev",
                       folder / "dev.tsv", "--source-column", "2", "--tokens", "spm",
                       "--vocab-size", "60", "--epochs", "2", "--out", tmp_path / "run",
                       *[a for a in CORPUS_TINY if a != "word" and a != "--tokens"])
    assert code == 0
    assert (tmp_path / "run" / "source.model").read_bytes() == io.load(
        tmp_path / "run" / "model.npz").source_vocab.subword_model
    assert run(capsys, "train", "--resume", "--epochs", "3", "--out", tmp_path / "run")[0] == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "m.npz").write_bytes((tmp_path / "run" / "model.npz").read_bytes())
    monkeypatch.chdir(elsewhere)
    sources = [s for s, _ in pairs[600:605]]
    code, out, _ = run(capsys, "translate", *sources, "--run", "m.npz")
    assert code == 0 and len(out.splitlines()) == 5
    assert "\u2581" not in out and "<unk>" not in out
    model = io.load(elsewhere / "m.npz")
    from s2sxp.translation import translate_sentences
    assert out.splitlines() == translate_sentences(model, sources).texts


def test_a_file_and_standard_input_translate_line_for_line(capsys, tmp_path, translator,
                                                           monkeypatch):
    sources = [s for s, _ in corpus.synthetic_pairs(6, seed=11)]
    lines = [sources[0], "", sources[1], "   ", *sources[2:]]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "translate", "--input", tmp_path / "in.txt", "--output",
                       tmp_path / "out.txt", "--run", translator, "--beam", "3")
    assert code == 0 and "8 sentences in" in err and "sentences/s" in err
    out = (tmp_path / "out.txt").read_text(encoding="utf-8").split("\n")
    assert len(out) == len(lines) + 1 and out[-1] == "" and out[1] == out[3] == ""
    alone = [run(capsys, "translate", s, "--run", translator, "--beam", "3")[1].strip()
             for s in sources]
    assert [out[i] for i in (0, 2, 4, 5, 6, 7)] == alone
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(
        buffer=stdio.BytesIO(("\n".join(lines) + "\n").encode())))
    code, printed, _ = run(capsys, "translate", "--input", "-", "--run", translator, "--beam",
                           "3")
    assert code == 0 and printed.split("\n") == out


def test_n_best_lists_the_best_translations_of_each_sentence(capsys, translator):
    sources = [s for s, _ in corpus.synthetic_pairs(2, seed=12)]
    code, out, _ = run(capsys, "translate", *sources, "--run", translator, "--beam", "4",
                       "--n-best", "3")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert [int(r[0]) for r in rows] == [1, 1, 1, 2, 2, 2]
    for first in (0, 3):
        scores = [float(r[1]) for r in rows[first:first + 3]]
        assert scores == sorted(scores, reverse=True)
    best = run(capsys, "translate", *sources, "--run", translator, "--beam", "4")[1]
    assert [rows[0][2], rows[3][2]] == best.splitlines()
    code, _, err = run(capsys, "translate", sources[0], "--run", translator, "--n-best", "3")
    assert_one_line_error(code, err, "--n-best 3 needs a beam of as many")


def test_validations_every_n_iterations_and_patience_stop_a_stalled_run(capsys, tmp_path,
                                                                       pairs_file):
    """At a rate too small to change anything, dev BLEU stays where it is: with --patience 2
    training stops at the third validation, inside the first epoch (28 iterations)."""
    code, out, _ = run(capsys, "train", "--data", pairs_file, "--eval-every", "5", "--patience",
                       "2", "--lr", "1e-12", "--epochs", "3", "--out", tmp_path, *CORPUS_TINY)
    assert code == 0 and "(epoch 0.18, iteration 5)" in out and "stopped early" in out
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["val_at"] == [5, 10, 15] and len(history["val_bleu"]) == 3
    assert history["val_epochs"] == pytest.approx([5 / 28, 10 / 28, 15 / 28])
    code, out, _ = run(capsys, "train", "--resume", "--out", tmp_path)
    assert code == 0 and "the run has finished" in out


def test_validations_inside_epochs_leave_training_as_it_was(capsys, tmp_path, pairs_file):
    """With no plateau, validating every 9 iterations changes no update: the parameters equal
    those of a run that validates after each epoch only, resumed or not."""
    argv = ["train", "--data", pairs_file, "--plateau", "0", "--epochs", "2", *CORPUS_TINY]
    assert run(capsys, *argv, "--out", tmp_path / "plain")[0] == 0
    assert run(capsys, *argv, "--eval-every", "9", "--out", tmp_path / "often")[0] == 0
    assert_same_params(tmp_path / "plain" / "model.npz", tmp_path / "often" / "model.npz")
    history = json.loads((tmp_path / "often" / "history.json").read_text())
    assert history["val_at"] == [9, 18, 27, 28, 36, 45, 54, 56]


def test_batches_by_tokens_train_resume_and_are_refused_where_they_cannot_be(capsys, tmp_path,
                                                                             pairs_file):
    at = CORPUS_TINY.index("--batch-size")
    tiny = CORPUS_TINY[:at] + CORPUS_TINY[at + 2:]
    argv = ["train", "--data", pairs_file, "--batch-tokens", "150", *tiny]
    code, out, _ = run(capsys, *argv, "--epochs", "1", "--out", tmp_path / "tokens")
    assert code == 0, out
    per_epoch = int(re.search(r"iter \d+ / (\d+)", out).group(1))
    assert 30 < per_epoch < 90                  # 900 pairs of 2-7 tokens, not 900 / 128
    config = json.loads((tmp_path / "tokens" / "config.json").read_text())
    assert config["batch_tokens"] == 150 and config["batch_size"] is None
    code, out, _ = run(capsys, "train", "--resume", "--epochs", "2", "--out", tmp_path / "tokens")
    assert code == 0 and f"iter {per_epoch} / {per_epoch}" in out
    history = json.loads((tmp_path / "tokens" / "history.json").read_text())
    assert history["val_epochs"] == [1.0, 2.0]

    for flags, message in (
            (argv + ["--batch-size", "16"], "--batch-size and --batch-tokens both size the"),
            (["train", "--batch-tokens", "150"], "--batch-tokens is for a parallel corpus")):
        code, _, err = run(capsys, *flags, "--out", tmp_path / "refused")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "refused").exists()


def test_input_feeding_trains_translates_and_belongs_to_the_attention_model(capsys, tmp_path,
                                                                           pairs_file):
    small = ["--tokens", "word", "--wordvec-size", "8", "--hidden-size", "32", "--batch-size",
             "32", "--seed", "0"]
    code, out, _ = run(capsys, "train", "--data", pairs_file, "--model", "attention",
                       "--input-feeding", "--bidirectional", "--layers", "2",
                       "--encoder-layers", "1", "--dropout", "0.2", "--epochs", "1", "--out",
                       tmp_path / "fed", *small)
    assert code == 0, out
    config = json.loads((tmp_path / "fed" / "config.json").read_text())
    assert (config["input_feeding"], config["bidirectional"], config["encoder_layers"],
            config["decoder_layers"], config["dropout"]) == (True, True, 1, 2, 0.2)
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(line.split("\t")[0] + "\n" for line in
                               pathlib.Path(pairs_file).read_text().splitlines()[:5]))
    code, out, err = run(capsys, "translate", "--run", tmp_path / "fed" / "best.npz", "--input",
                         sources, "--beam", "3")
    assert code == 0 and len(out.splitlines()) == 5, err
    code, _, err = run(capsys, "train", "--data", pairs_file, "--model", "seq2seq",
                       "--input-feeding", "--out", tmp_path / "refused", *small)
    assert code == 2 and "--input-feeding is an option of attention only" in err, err
    code, _, err = run(capsys, "train", "--data", pairs_file, "--model", "seq2seq",
                       "--bidirectional", "--out", tmp_path / "refused", *small)
    assert code == 2 and "--bidirectional is an option of attention, bahdanau only" in err, err
    assert not (tmp_path / "refused").exists()


# -- hostile and clumsy input ------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--lr", "0"], "--lr must be above 0, got 0.0"),
    (["--lr", "nan"], "expected a finite number, got 'nan'"),
    (["--max-grad", "inf"], "expected a finite number, got 'inf'"),
])
def test_bad_numbers_for_training_are_refused(capsys, tmp_path, flags, message):
    try:
        code = cli.main(["train", *flags, "--out", str(tmp_path), *TINY])
    except SystemExit as stop:                      # argparse's refusal
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "checkpoint.npz").exists()


@pytest.mark.parametrize("flags, message", [
    (["--beam", "1000"], "a beam of at most 64, got 1000"),
    (["--length-penalty", "nan"], "expected a finite number, got 'nan'"),
])
def test_bad_decoding_settings_are_refused(capsys, translator, flags, message):
    with pytest.raises(SystemExit) as stop:
        cli.main(["eval", "--run", str(translator), *flags])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_an_empty_question_and_the_books_dataset_for_a_corpus_model_are_one_line(
        capsys, trained, translator):
    code, _, err = run(capsys, "translate", "", "--run", trained)
    assert_one_line_error(code, err, "'' holds no question to answer")
    code, _, err = run(capsys, "eval", "--run", translator, "--data", "date")
    assert_one_line_error(code, err, "date is a dataset of the book's questions")


def test_crafted_metadata_is_refused_before_a_model_is_built(capsys, tmp_path, trained):
    with numpy.load(trained / "model.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    for change, message in (({"hidden_size": 200000}, "has shape (4, 32), its model has (4, 800000)"),
                            ({"vocab_size": "x"}, "vocab_size is 'x', not a size")):
        crafted = dict(meta, config=dict(meta["config"], **change))
        numpy.savez(tmp_path / "m.npz", **dict(arrays, meta=numpy.array(json.dumps(crafted))))
        code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path / "m.npz")
        assert_one_line_error(code, err, message)
    numpy.savez(tmp_path / "m.npz", **dict(arrays, meta=numpy.array(json.dumps(
        dict(meta, answer_width="x")))))
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path / "m.npz")
    assert_one_line_error(code, err, "answer_width of 'x', not a width")
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as archive:   # a header claiming 2^40 floats
        for name, a in arrays.items():
            member = stdio.BytesIO()
            if name == "param_0":
                numpy.lib.format.write_array_header_1_0(
                    member, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)})
                member.write(bytes(16))
            else:
                numpy.lib.format.write_array(member, a)
            archive.writestr(f"{name}.npy", member.getvalue())
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path / "big.npz")
    assert_one_line_error(code, err, "param_0.npy claims 4398046511104 bytes")
    (tmp_path / "pk.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    code, _, err = run(capsys, "translate", "9/27/94", "--run", tmp_path / "pk.npz")
    assert_one_line_error(code, err, "does not end as a zip archive does")
    assert "allow_pickle" not in err


def test_resuming_in_another_float_type_is_refused(capsys, tmp_path, monkeypatch):
    assert run(capsys, "train", "--epochs", "1", "--out", tmp_path, *TINY)[0] == 0
    backend.use(backend.name(), dtype="float64")
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", tmp_path)
    assert_one_line_error(code, err, "was trained in float32, not float64")


def test_a_byte_order_mark_in_a_question_answer_file_is_no_character(capsys, tmp_path):
    lines = [f"{a}+{b}".ljust(5) + f"_{a + b}".ljust(4) for a in range(12) for b in range(12)]
    (tmp_path / "bom.txt").write_bytes("\ufeff".encode() + "\n".join(lines).encode() + b"\n")
    assert run(capsys, "train", "--data", tmp_path / "bom.txt", "--epochs", "1", "--out",
               tmp_path / "run", *TINY)[0] == 0


def test_a_sentence_over_the_default_length_is_one_line(capsys, tmp_path):
    (tmp_path / "long.tsv").write_text("a b\tc d\n" + "x " * 100_000 + "\ty\n",
                                       encoding="utf-8")
    code, _, err = run(capsys, "train", "--data", tmp_path / "long.tsv", "--out", tmp_path / "r",
                       *CORPUS_TINY)
    assert_one_line_error(code, err, "long.tsv, line 2: longer than 200 tokens")


def test_ctrl_c_while_starting_up_is_one_line():
    """Ctrl-C while NumPy and the rest are imported (here: raised where numpy is imported)
    ends the command with 130 and one line; the entry point itself imports none of it."""
    script = ("import importlib.abc, sys\n"
              "import s2sxp.cli\n"
              "assert 'numpy' not in sys.modules\n"
              "class Interrupt(importlib.abc.MetaPathFinder):\n"
              "    def find_spec(self, name, path, target=None):\n"
              "        if name == 'numpy':\n"
              "            raise KeyboardInterrupt\n"
              "sys.meta_path.insert(0, Interrupt())\n"
              "sys.exit(s2sxp.cli.main(['train', '--epochs', '1']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 130 and done.stderr == "s2sxp: interrupted\n", done.stderr

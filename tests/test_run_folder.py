"""The run folder under crashes, concurrency and clumsy use: a process killed at any moment
leaves a folder that --resume completes to what an uninterrupted run writes; one writer a
folder; no file with NaN weights; no folder of other files replaced."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy
import pytest

from s2sxp import cli, corpus, files, io, models

TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0", "--epochs", "2"]

#: Runs the command line, SIGKILLing itself at the N-th file event (argv[1]; 0: never): right
#: after a temporary file is made, after a staged file is written, before and after each rename.
KILLER = textwrap.dedent("""
    import os, signal, sys, tempfile
    n, seen = int(sys.argv[1]), [0]

    def event():
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    replace, mkstemp = os.replace, tempfile.mkstemp

    def killing_replace(src, dst):
        event()
        replace(src, dst)
        event()

    def killing_mkstemp(*args, **kwargs):
        made = mkstemp(*args, **kwargs)
        event()
        return made

    os.replace, tempfile.mkstemp = killing_replace, killing_mkstemp
    import s2sxp.files as files
    write = files._write_file

    def killing_write(path, writer):
        write(path, writer)
        event()

    files._write_file = killing_write
    from s2sxp.cli import main
    code = main(sys.argv[2:])
    print("events", seen[0])
    sys.exit(code)
""")


def _cli(tmp_path, *argv, kill_at=0):
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    return subprocess.run([sys.executable, str(script), str(kill_at), *map(str, argv)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, S2S_BACKEND="numpy", S2S_DTYPE="float32"))


def _arrays(path):
    with numpy.load(path) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def _assert_same_folder(a, b):
    names = sorted(n for n in os.listdir(a) if not n.startswith("."))
    assert names == sorted(n for n in os.listdir(b) if not n.startswith("."))
    assert not [n for n in os.listdir(b) if n.startswith(files.TMP_PREFIX)]
    for name in names:
        if name.endswith(".npz"):
            x, y = _arrays(os.path.join(a, name)), _arrays(os.path.join(b, name))
            assert x.keys() == y.keys(), name
            for k in x:
                numpy.testing.assert_array_equal(x[k], y[k], err_msg=f"{name} {k}")
        elif name.endswith(".json"):
            with open(os.path.join(a, name)) as f, open(os.path.join(b, name)) as g:
                assert json.load(f) == json.load(g), name
        elif name.endswith(".csv"):
            with open(os.path.join(a, name)) as f, open(os.path.join(b, name)) as g:
                assert f.read() == g.read(), name
        else:
            with open(os.path.join(b, name), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", name


def test_a_run_killed_at_any_file_event_resumes_to_the_uninterrupted_files(tmp_path):
    straight = _cli(tmp_path, "train", "--out", tmp_path / "straight", *TINY)
    assert straight.returncode == 0, straight.stderr
    events = int(straight.stdout.split("events")[-1])
    assert events > 40
    for n in numpy.linspace(1, events, 9).astype(int)[1:]:
        folder = tmp_path / f"killed-{n}"
        killed = _cli(tmp_path, "train", "--out", folder, *TINY, kill_at=n)
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr)
        again = _cli(tmp_path, "train", "--resume", "--out", folder)
        if again.returncode == 2 and "no checkpoint to resume" in again.stderr:
            again = _cli(tmp_path, "train", "--out", folder, *TINY)      # killed at the start
        assert again.returncode == 0, (n, again.stderr)
        _assert_same_folder(tmp_path / "straight", folder)


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom s2sxp.files import FolderLock\n"
         f"lock = FolderLock({str(folder)!r}).acquire()\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.time()
        code = cli.main(["train", "--out", str(folder), *TINY])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and time.time() - start < 10
        assert f"is in use by process {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()
    assert cli.main(["train", "--out", str(folder), *TINY]) == 0       # a dead holder: free


def test_a_folder_of_other_files_is_not_trained_into_without_overwrite(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "history.json").write_text("{}")
    code = cli.main(["train", "--out", str(tmp_path), *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "holds files that are not a run's (history.json, notes.txt)" in err
    assert (tmp_path / "history.json").read_text() == "{}"
    assert cli.main(["train", "--out", str(tmp_path), "--overwrite", *TINY]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert cli.main(["train", "--out", str(tmp_path), *TINY]) == 2      # a run folder now
    assert "holds a run already: carry it on with --resume, or replace it with --overwrite" in (
        capsys.readouterr().err)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_run_and_a_comparison_do_not_write_into_each_others_folders(tmp_path, capsys):
    one = [*TINY, "--epochs", "1"]
    assert cli.main(["train", "--out", str(tmp_path / "run"), *one]) == 0
    assert cli.main(["compare", "--models", "seq2seq", "--out", str(tmp_path / "cmp"), *one]) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for overwrite in ([], ["--overwrite"]):
        assert cli.main(["compare", "--models", "seq2seq", "--out", str(tmp_path / "run"), *one,
                         *overwrite]) == 2
        assert "run holds a run (s2sxp train), not a comparison" in capsys.readouterr().err
        assert cli.main(["train", "--out", str(tmp_path / "cmp"), *one, *overwrite]) == 2
        assert "cmp holds a comparison (s2sxp compare), not a run" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_ctrl_c_after_the_loss_turned_nan_writes_no_nan_weights(tmp_path, capsys, monkeypatch):
    """NaN parameters from the 13th update on, Ctrl-C at the 15th (before any report)."""
    backward = models.AttentionSeq2seq.backward
    calls = []

    def poisoned(self, *args):
        calls.append(1)
        backward(self, *args)
        if len(calls) >= 13:
            self.flat_grads[...] = numpy.nan
        if len(calls) == 15:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(models.AttentionSeq2seq, "backward", poisoned)
    code = cli.main(["train", "--out", str(tmp_path), *TINY, "--max-grad", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "NaN or infinite" in err and "after epoch 1" in err, err
    checkpoint = io.read_checkpoint(tmp_path / "checkpoint.npz")
    assert checkpoint.epoch == 1 and all(numpy.isfinite(p).all() for p in checkpoint.params)


def test_a_file_with_non_finite_parameters_is_not_loaded(tmp_path):
    model = models.build("seq2seq", 7, 3, 4, seed=0)
    io.save(model, tmp_path / "m.npz")
    arrays = _arrays(tmp_path / "m.npz")
    arrays["param_1"][0, 0] = numpy.inf
    with numpy.load(tmp_path / "m.npz") as f:
        meta = f["meta"]
    numpy.savez(tmp_path / "bad.npz", meta=meta, **arrays)
    with pytest.raises(io.CheckpointError, match="bad.npz holds NaN or infinite values"):
        io.load(tmp_path / "bad.npz")
    model.params[0][0, 0] = numpy.nan
    with pytest.raises(io.NonFiniteParameters, match="was not written"):
        io.save(model, tmp_path / "nan.npz")
    assert not (tmp_path / "nan.npz").exists()


def test_sigterm_stops_training_as_ctrl_c_does(tmp_path):
    script = ("import os, signal, sys\nfrom s2sxp import cli, models\n"
              "backward = models.AttentionSeq2seq.backward\ncalls = []\n"
              "def kill(self, *a):\n    calls.append(1)\n"
              "    if len(calls) == 15: os.kill(os.getpid(), signal.SIGTERM)\n"
              "    return backward(self, *a)\n"
              "models.AttentionSeq2seq.backward = kill\n"
              f"sys.exit(cli.main(['train', '--out', {str(tmp_path)!r}, *{TINY!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 143, done.stderr
    assert "terminated in epoch 2 after iteration 4; checkpoint saved" in done.stderr
    assert cli.main(["train", "--resume", "--out", str(tmp_path)]) == 0


def test_leftover_temporary_files_are_removed_and_errors_name_the_file(tmp_path):
    assert cli.main(["train", "--out", str(tmp_path), *TINY[:-1], "1"]) == 0
    (tmp_path / ".tmp-model.npz").write_bytes(b"half")
    (tmp_path / ".tmp-abc123history.json").write_bytes(b"{")
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", str(tmp_path)]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    with pytest.raises(OSError) as raised:
        files.atomic_write(tmp_path / "missing" / "loss.png", lambda f: f.write(b"x"))
    assert raised.value.filename == str(tmp_path / "missing" / "loss.png")


def test_a_run_folder_works_from_anywhere_and_follows_a_moved_corpus(tmp_path, capsys,
                                                                     monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    corpus.write_pairs("pairs.tsv", corpus.synthetic_pairs(300, seed=0, max_words=4))
    argv = ["--tokens", "word", "--model", "bahdanau", "--wordvec-size", "8", "--hidden-size",
            "16", "--batch-size", "32", "--seed", "0"]
    assert cli.main(["train", "--data", "pairs.tsv", "--epochs", "1", "--out", "runs/r",
                     *argv]) == 0
    monkeypatch.chdir(tmp_path)                                 # elsewhere
    assert cli.main(["eval", "--run", "work/runs/r"]) == 0
    assert cli.main(["train", "--resume", "--epochs", "2", "--out", "work/runs/r"]) == 0
    os.rename("work/pairs.tsv", "moved.tsv")                   # the corpus moves
    capsys.readouterr()
    assert cli.main(["train", "--resume", "--epochs", "3", "--out", "work/runs/r"]) == 2
    assert "moved? give it with --data FILE" in capsys.readouterr().err
    assert cli.main(["train", "--resume", "--epochs", "3", "--out", "work/runs/r", "--data",
                     "moved.tsv"]) == 0
    corpus.write_pairs("other.tsv", corpus.synthetic_pairs(300, seed=1, max_words=4))
    assert cli.main(["train", "--resume", "--epochs", "4", "--out", "work/runs/r", "--data",
                     "other.tsv"]) == 2
    assert "is not what the run was trained on" in capsys.readouterr().err
    assert cli.main(["eval", "--run", "work/runs/r"]) == 0     # the model.npz of epoch 3


def test_a_batch_that_cannot_fit_is_refused_before_it_is_allocated(tmp_path, capsys,
                                                                   monkeypatch):
    from s2sxp import backend
    monkeypatch.setattr(backend, "available_memory", lambda: 1 << 20)    # 1 MiB free
    corpus.write_pairs(tmp_path / "p.tsv", corpus.synthetic_pairs(200, seed=0))
    code = cli.main(["train", "--data", str(tmp_path / "p.tsv"), "--tokens", "word",
                     "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not enough memory" in err
    assert "GiB, and 0.0 GiB are free" in err and not (tmp_path / "r").exists()


def test_a_comparison_that_fails_to_open_lets_every_folder_go(tmp_path, monkeypatch):
    from s2sxp import compare, run as runs
    from s2sxp.config import TrainConfig
    opened, start = [], runs.Run.start

    def failing_second(*args, **kwargs):
        if opened:
            raise RuntimeError("the second run cannot start")
        opened.append(start(*args, **kwargs, log=None))
        return opened[0]

    monkeypatch.setattr(compare.Run, "start", failing_second)
    configs = [TrainConfig(model=m, examples=200, hidden_size=8, wordvec_size=4, batch_size=16)
               for m in ("seq2seq", "attention")]
    with pytest.raises(RuntimeError, match="cannot start"):
        compare.Comparison.start(str(tmp_path / "cmp"), configs)
    assert opened[0].folder.lock is None
    assert not (tmp_path / "cmp" / ".owner.json").exists()
    assert not (tmp_path / "cmp" / "seq2seq" / ".owner.json").exists()

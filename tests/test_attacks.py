"""The attacks our files were put through, each replayed: what a command writes never replaces a
file it should not, never loses what was there, never leaves debris, and never reads or shows
what it should not (the run folder's own kills and resumes: test_run_folder.py)."""
import json
import os
import shutil
import signal
import stat
import threading
import tracemalloc
import zipfile

import numpy
import pytest

from s2sxp import backend, cli, corpus, files, folder, io, models
from s2sxp.config import TrainConfig
from s2sxp.data import load_data
from s2sxp.models.shapes import param_shapes
from s2sxp.run import Run
from s2sxp import trainer as s2sxp_trainer

pytestmark = pytest.mark.usefixtures("xp32")

TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0"]
CORPUS = ["--tokens", "word", "--model", "bahdanau", "--wordvec-size", "8", "--hidden-size", "16",
          "--batch-size", "32", "--seed", "0"]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def _raise(error):
    def raising(*args, **kwargs):
        raise error
    return raising


def assert_same_folders(a, b):
    """Two run folders alike: every array of every .npz, every JSON file, every picture."""
    names = {p.name for p in a.iterdir() if not p.name.startswith(".")}
    assert names == {p.name for p in b.iterdir() if not p.name.startswith(".")}
    for name in names:
        x, y = a / name, b / name
        if name.endswith(".npz"):
            p, q = _arrays(x), _arrays(y)
            meta_p, meta_q = (json.loads(str(d.pop("meta"))) for d in (p, q))
            meta_p.pop("files", None), meta_q.pop("files", None)
            assert p.keys() == q.keys() and meta_p == meta_q, name
            for k in p:
                numpy.testing.assert_array_equal(p[k], q[k], err_msg=f"{name}: {k}")
        elif name.endswith(".json"):
            assert json.loads(x.read_text()) == json.loads(y.read_text()), name
        else:
            assert x.read_bytes() == y.read_bytes(), name


def _copy_run(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*"))
    return target


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny attention model of dates, one epoch."""
    folder = tmp_path_factory.mktemp("runs") / "attention"
    assert cli.main(["train", "--epochs", "1", "--out", str(folder), *TINY]) == 0
    return folder / "model.npz"


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A tiny attention run of dates stopped (Ctrl-C) inside its first epoch."""
    folder = tmp_path_factory.mktemp("runs") / "stopped"
    trainer_fit = s2sxp_trainer.Trainer.fit

    def stop_after_two(self, *args, **kwargs):
        on_iteration = kwargs["on_iteration"]

        def then_stop(epoch, iteration):
            on_iteration(epoch, iteration)
            if iteration == 1:
                self.stop()
        return trainer_fit(self, *args, **dict(kwargs, on_iteration=then_stop))

    s2sxp_trainer.Trainer.fit = stop_after_two
    try:
        assert cli.main(["train", "--epochs", "1", "--out", str(folder), *TINY]) == 130
    finally:
        s2sxp_trainer.Trainer.fit = trainer_fit
    return folder


# -- what translate writes -----------------------------------------------------------------------

def test_translate_writes_through_a_pipe_and_keeps_it_a_pipe(capsys, tmp_path, model):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    code, _, err = run(capsys, "translate", "9/27/94", "--run", model, "--output", fifo)
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].count(b"\n") == 1


def test_translate_writes_through_a_link_to_a_descriptor_as_dev_stdout_is(capsys, tmp_path,
                                                                          model):
    read, write = os.pipe()
    link = tmp_path / "stdout"
    os.symlink(f"/proc/self/fd/{write}", link)
    try:
        code, _, err = run(capsys, "translate", "9/27/94", "--run", model, "--output", link)
        os.close(write)
        text = os.read(read, 1 << 16)
    finally:
        os.close(read)
    assert code == 0, err
    assert os.path.islink(link)
    assert text.count(b"\n") == 1


def test_translate_into_dev_stdout_redirected_to_a_file_writes_at_the_descriptors_place(
        capsys, tmp_path, model):
    log = tmp_path / "log.txt"
    with open(log, "wb") as redirected:                 # as a shell's `> log.txt` leaves it
        redirected.write(b"earlier\n")
        redirected.flush()
        inode = os.fstat(redirected.fileno()).st_ino
        link = tmp_path / "stdout"
        os.symlink(f"/proc/self/fd/{redirected.fileno()}", link)
        assert run(capsys, "translate", "9/27/94", "--run", model, "--output", link)[0] == 0
        redirected.write(b"later\n")
    assert os.stat(log).st_ino == inode
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier" and lines[2] == "later" and len(lines) == 3


def test_translate_into_a_link_to_a_file_writes_the_file_and_keeps_the_link(capsys, tmp_path,
                                                                             model):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    link = tmp_path / "out.txt"
    os.symlink(target, link)
    assert run(capsys, "translate", "9/27/94", "--run", model, "--output", link)[0] == 0
    assert os.path.islink(link)
    assert target.read_text() != "old\n" and target.read_text().count("\n") == 1


def test_translate_checks_the_heatmap_path_before_writing_its_output(capsys, tmp_path, model):
    out = tmp_path / "o.txt"
    out.write_text("old\n")
    code, _, err = run(capsys, "translate", "9/27/94", "--run", model, "--output", out,
                       "--heatmap", tmp_path / "missing" / "x.png")
    assert_one_line_error(code, err, "missing")
    assert out.read_text() == "old\n"


def test_translate_removes_what_a_killed_translate_left_beside_its_output(capsys, tmp_path,
                                                                          model):
    out = tmp_path / "o.txt"
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    debris = tmp_path / f"{files.TMP_PREFIX}{dead}-abc123o.txt"
    debris.write_text("half")
    mine = tmp_path / f"{files.TMP_PREFIX}{os.getpid()}-abc123o.txt"
    mine.write_text("a write still under way")
    other = tmp_path / f"{files.TMP_PREFIX}keep"
    other.write_text("someone else's")
    assert run(capsys, "translate", "9/27/94", "--run", model, "--output", out)[0] == 0
    assert not debris.exists() and mine.exists() and other.exists()


def test_a_line_longer_than_the_limit_is_refused_before_decoding(capsys, tmp_path, model):
    lines = tmp_path / "in.txt"
    lines.write_text("9/27/94\n" + "1" * 2001 + "\n")
    out = tmp_path / "o.txt"
    code, _, err = run(capsys, "translate", "--input", lines, "--run", model, "--output", out)
    assert_one_line_error(code, err, "line 2", "2001 characters", "--max-input-length 2000")
    assert not out.exists()
    code, _, err = run(capsys, "translate", "9/27/94", "--run", model, "--max-input-length", 5)
    assert_one_line_error(code, err, "sentence 1", "7 characters", "--max-input-length 5")


# -- permissions ---------------------------------------------------------------------------------

@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_what_we_write_follows_the_umask_as_open_would(umask_027, tmp_path):
    files.atomic_write(tmp_path / "a.json", lambda f: f.write(b"{}"))
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o640
    files.write_output(tmp_path / "b.txt", lambda f: f.write(b"x"))
    assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o640


def test_a_file_replaced_keeps_its_permissions(tmp_path):
    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o664)
    files.atomic_write(path, lambda f: f.write(b"new"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o664 and path.read_text() == "new"


def test_a_run_folder_follows_the_umask(capsys, umask_027, tmp_path):
    folder = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(folder), *TINY]) == 0
    for name in ("config.json", "history.json", "model.npz", "checkpoint.npz", "loss.png"):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o640, name


# -- what a folder is, and what may replace it ---------------------------------------------------

def test_default_folders_differ_where_runs_differ_in_direction_or_tokens():
    def folder(**settings):
        return TrainConfig(data="x.tsv", **settings).resolved().default_folder()

    names = {folder(), folder(source_column=2), folder(tokens="spm"), folder(tokens="word"),
             folder(tokens="spm", source_column=2)}
    assert len(names) == 5
    assert TrainConfig(data="x", langs=("ja", "en")).resolved().default_folder() != \
        TrainConfig(data="x", langs=("en", "ja")).resolved().default_folder()


def test_a_file_named_as_ours_does_not_make_a_folder_ours(tmp_path):
    (tmp_path / "config.json").write_text('{"mine": 1}')
    assert folder.folder_kind(tmp_path) == "other"
    (tmp_path / "config.json").unlink()
    numpy.savez(tmp_path / "checkpoint.npz", weights=numpy.ones(3))
    assert folder.folder_kind(tmp_path) == "other"
    (tmp_path / "compare.json").write_text('{"models": ["mine"]}')
    assert folder.folder_kind(tmp_path) == "other"


def test_overwrite_replaces_only_what_a_run_writes_and_keeps_the_rest(capsys, tmp_path):
    (tmp_path / "config.json").write_text('{"mine": 1}')
    numpy.savez(tmp_path / "checkpoint.npz", weights=numpy.ones(3))
    for name in ("source.model", "bleu.png", ".tmp-keep"):
        (tmp_path / name).write_text("the user's")
    mine = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = run(capsys, "train", "--out", tmp_path, "--epochs", "1", *TINY)
    assert_one_line_error(code, err, "holds files that are not a run's", "--overwrite")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == mine
    assert run(capsys, "train", "--out", tmp_path, "--epochs", "1", "--overwrite", *TINY)[0] == 0
    for name in ("source.model", "bleu.png", ".tmp-keep"):      # a date run writes none of them
        assert (tmp_path / name).read_text() == "the user's"
    assert json.loads((tmp_path / "config.json").read_text())["format"] == folder.RUN_FORMAT


def test_a_finished_run_is_replaced_only_with_overwrite(capsys, tmp_path):
    assert run(capsys, "train", "--out", tmp_path, "--epochs", "1", *TINY)[0] == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, _, err = run(capsys, "train", "--out", tmp_path, "--epochs", "1", *TINY)
    assert_one_line_error(code, err, "holds a run already", "--resume", "--overwrite")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    code, out, _ = run(capsys, "train", "--out", tmp_path, "--epochs", "1", "--overwrite", *TINY)
    assert code == 0 and "replacing the run" in out


# -- resuming on the data it was trained on ------------------------------------------------------

def _pairs(path, seed):
    corpus.write_pairs(path, corpus.synthetic_pairs(120, seed=seed, max_words=4))


def test_resume_from_another_folder_trains_on_the_recorded_data_and_keeps_its_record(
        capsys, tmp_path, monkeypatch):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    _pairs(here / "pairs.tsv", 0)
    _pairs(there / "pairs.tsv", 1)                  # another file of the same name
    monkeypatch.chdir(here)
    assert run(capsys, "train", "--data", "pairs.tsv", "--epochs", "2", "--out", "straight",
               *CORPUS)[0] == 0
    assert run(capsys, "train", "--data", "pairs.tsv", "--epochs", "1", "--out", "carried",
               *CORPUS)[0] == 0
    monkeypatch.chdir(there)
    assert run(capsys, "train", "--resume", "--epochs", "2", "--out", here / "carried")[0] == 0
    for name in ("model.npz", "best.npz", "checkpoint.npz"):
        a, b = (io.read_checkpoint if name == "checkpoint.npz" else io.load)(
            here / "straight" / name), (io.read_checkpoint if name == "checkpoint.npz" else
                                        io.load)(here / "carried" / name)
        assert a.meta["data"] == b.meta["data"] == "pairs.tsv", name
        assert a.meta["files"] == b.meta["files"], name
    straight, carried = (json.loads((here / f / "history.json").read_text())
                         for f in ("straight", "carried"))
    assert straight["loss"] == carried["loss"] and straight["config"] == carried["config"]


def test_resume_refuses_a_data_file_whose_content_changed_wherever_it_is_found(
        capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _pairs(tmp_path / "pairs.tsv", 0)
    assert run(capsys, "train", "--data", "pairs.tsv", "--epochs", "1", "--out", "r",
               *CORPUS)[0] == 0
    _pairs(tmp_path / "pairs.tsv", 1)
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", "r")
    assert_one_line_error(code, err, "is not what the run was trained on")


# -- steps after the last epoch ------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for name, seed in (("train.tsv", 0), ("dev.tsv", 1), ("test.tsv", 2)):
        _pairs(folder / name, seed)
    return folder


def _corpus_run(folder, data, *extra):
    return ["train", "--data", data / "train.tsv", "--dev", data / "dev.tsv", "--test",
            data / "test.tsv", "--epochs", "2", "--out", folder, *CORPUS, *extra]


def test_a_kill_before_the_test_file_is_scored_is_completed_by_resume(capsys, tmp_path,
                                                                      test_corpus, monkeypatch):
    assert run(capsys, *_corpus_run(tmp_path / "straight", test_corpus))[0] == 0
    killed = pytest.raises(RuntimeError, match="killed")
    with monkeypatch.context() as m:
        m.setattr(Run, "score_test", _raise(RuntimeError("killed")))
        with killed:
            cli.main([str(a) for a in _corpus_run(tmp_path / "killed", test_corpus)])
    assert "test" not in json.loads((tmp_path / "killed" / "history.json").read_text())
    code, out, _ = run(capsys, "train", "--resume", "--out", tmp_path / "killed")
    assert code == 0 and "test BLEU" in out
    assert_same_folders(tmp_path / "straight", tmp_path / "killed")
    code, out, _ = run(capsys, "train", "--resume", "--out", tmp_path / "killed")
    assert code == 0 and "has finished its 2 epochs" in out


def test_sigterm_while_the_test_file_is_scored_stops_at_once_with_143(capsys, tmp_path,
                                                                      test_corpus, monkeypatch):
    with monkeypatch.context() as m:
        beam_search = models.BahdanauSeq2seq.beam_search

        def terminated(self, *args, **kwargs):
            signal.raise_signal(signal.SIGTERM)
            return beam_search(self, *args, **kwargs)

        m.setattr(models.BahdanauSeq2seq, "beam_search", terminated)
        code, _, err = run(capsys, *_corpus_run(tmp_path, test_corpus))
    assert code == 128 + signal.SIGTERM
    assert "terminated after epoch 2, before the test file was scored" in err
    code, out, _ = run(capsys, "train", "--resume", "--out", tmp_path)
    assert code == 0 and "test BLEU" in out
    assert "test" in json.loads((tmp_path / "history.json").read_text())


def test_a_comparison_killed_before_its_last_pictures_draws_them_on_resume(capsys, tmp_path):
    argv = ["compare", "--models", "seq2seq", "attention", "--epochs", "1", *TINY]
    assert run(capsys, *argv, "--out", tmp_path / "straight")[0] == 0
    assert run(capsys, *argv, "--out", tmp_path / "killed")[0] == 0
    for name in ("accuracy.png", "loss.png"):           # as an earlier round left them
        (tmp_path / "killed" / name).write_bytes(b"stale")
    assert run(capsys, "compare", "--resume", "--out", tmp_path / "killed")[0] == 0
    for name in ("accuracy.png", "loss.png"):
        assert (tmp_path / "killed" / name).read_bytes() == (
            tmp_path / "straight" / name).read_bytes()


def test_best_npz_of_a_validation_inside_an_epoch_is_written_with_the_epoch(
        capsys, tmp_path, test_corpus, monkeypatch):
    argv = _corpus_run(tmp_path / "straight", test_corpus, "--eval-every", "2")
    assert run(capsys, *argv)[0] == 0
    validations = []
    validate = Run._validate

    def killed_at_the_fourth(self, *args):
        validations.append(1)
        if len(validations) == 4:                    # inside epoch 2, after a best one
            raise RuntimeError("killed")
        return validate(self, *args)

    with monkeypatch.context() as m:
        m.setattr(Run, "_validate", killed_at_the_fourth)
        with pytest.raises(RuntimeError, match="killed"):
            cli.main([str(a) for a in _corpus_run(tmp_path / "killed", test_corpus,
                                                  "--eval-every", "2")])
    killed = tmp_path / "killed"
    history = io.read_checkpoint(killed / "checkpoint.npz").meta["history"]
    assert io.load(killed / "best.npz").meta["val_bleu"] == max(history["val_bleu"])
    assert run(capsys, "train", "--resume", "--out", killed)[0] == 0
    assert_same_folders(tmp_path / "straight", killed)


# -- crafted files -------------------------------------------------------------------------------

def _arrays(path):
    with numpy.load(path) as f:
        return {k: f[k] for k in f.files}


def _crafted(path, source, meta=None, **arrays):
    """``source``'s arrays and metadata, changed by ``meta(meta)`` and ``arrays``, at ``path``."""
    saved = dict(_arrays(source), **arrays)
    if meta is not None:
        value = json.loads(str(saved["meta"]))
        meta(value)
        saved["meta"] = numpy.array(json.dumps(value))
    numpy.savez(path, **{k: v for k, v in saved.items() if v is not None})
    return path


def _peak_bytes(work):
    tracemalloc.start()
    try:
        work()
    except io.CheckpointError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_a_member_the_model_does_not_use_is_never_read(tmp_path, model):
    path = _crafted(tmp_path / "m.npz", model)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("junk.npy", "w", force_zip64=True) as member:
            numpy.lib.format.write_array_header_1_0(
                member, {"descr": "|u1", "fortran_order": False, "shape": (1 << 28,)})
            for _ in range(1 << 4):
                member.write(bytes(1 << 24))
    assert os.path.getsize(path) < 2 << 20
    assert _peak_bytes(lambda: io.load(path)) < 32 << 20
    assert io.load(path).config == io.load(model).config


def test_sizes_a_file_claims_are_held_to_its_arrays_before_anything_is_built(
        capsys, tmp_path, model):
    def huge(meta):
        meta["config"]["hidden_size"] = 12000

    empty = {f"param_{i}": numpy.zeros((0, 12000), numpy.float32) for i in range(10)}
    path = _crafted(tmp_path / "m.npz", model, huge, **empty)
    assert os.path.getsize(path) < 30_000
    assert _peak_bytes(lambda: io.load(path)) < 32 << 20
    code, _, err = run(capsys, "translate", "9/27/94", "--run", path)
    assert_one_line_error(code, err, "parameter 0 has shape (0, 12000), its model has")


def test_a_parameter_of_strings_is_one_line(capsys, tmp_path, model):
    path = _crafted(tmp_path / "m.npz", model, param_0=numpy.array([["a"] * 16] * 13))
    code, _, err = run(capsys, "translate", "9/27/94", "--run", path)
    assert_one_line_error(code, err, "parameter 0 holds <U1, not floating point numbers")


def _set(*keys, value):
    def change(meta):
        for key in keys[:-1]:
            meta = meta[key]
        meta[keys[-1]] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set("run", "hidden_size", value="8"), "--hidden-size must be a whole number"),
    (_set("trainer", "epoch", value=-3), "trainer.epoch is below 0"),
    (_set("history", "val_at", value=5), "history.val_at is not of type array"),
    (_set("trainer", "next", value="x"), "trainer.next is not of type integer"),
    (_set("trainer", "loss_list", value="abc"), "trainer.loss_list is not of type array"),
    (_set("optimizer", "name", value="rmsprop"), "optimizer.name is none of adam, sgd"),
    (_set("files", value={"data": {"path": 3}}), "files.data lacks"),
])
def test_a_crafted_checkpoint_field_is_one_line_naming_the_field(capsys, tmp_path, model, change,
                                                                 message):
    folder = _copy_run(model.parent, tmp_path / "r")
    _crafted(folder / "checkpoint.npz", model.parent / "checkpoint.npz", change)
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", folder)
    assert_one_line_error(code, err, message)


def test_a_crafted_order_of_the_epoch_in_progress_is_one_line(capsys, tmp_path, stopped):
    folder = _copy_run(stopped, tmp_path / "r")
    order = _arrays(stopped / "checkpoint.npz")["trainer.order"]
    _crafted(folder / "checkpoint.npz", stopped / "checkpoint.npz",
             **{"trainer.order": order + 10**6})
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", folder)
    assert_one_line_error(code, err, "trainer.order and trainer.bounds are not batches")


@pytest.mark.parametrize("history, message", [
    ({"val_acc": [], "loss": []}, None),
    ({"val_acc": ["x"], "loss": []}, "val_acc.0 is not of type number"),
    ({"val_acc": [0.5], "loss": 3}, "loss is not of type array"),
    ({"val_acc": [0.5], "loss": [], "val_epochs": [1, 2]}, "val_epochs has 2 entries"),
    ({"loss": []}, "lacks val_acc"),
])
def test_plot_of_a_crafted_history_draws_or_is_one_line(capsys, tmp_path, history, message):
    (tmp_path / "history.json").write_text(json.dumps(history))
    code, _, err = run(capsys, "plot", tmp_path)
    if message is None:
        assert code == 0, err
    else:
        assert_one_line_error(code, err, message)


def test_a_file_a_crafted_checkpoint_names_is_never_shown(capsys, tmp_path, model):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:hunter2:20228:0:99999:7:::\n")
    folder = _copy_run(model.parent, tmp_path / "r")
    _crafted(folder / "checkpoint.npz", model.parent / "checkpoint.npz",
             _set("run", "data", value=str(secret)))
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", folder)
    assert_one_line_error(code, err, "secret.txt, line 1")
    assert "hunter2" not in err
    _crafted(folder / "checkpoint.npz", model.parent / "checkpoint.npz",
             _set("files", value={"data": {"path": str(secret), "sha256": "0" * 64,
                                           "from_run": "x"}}))
    code, _, err = run(capsys, "train", "--resume", "--epochs", "2", "--out", folder)
    assert_one_line_error(code, err, "is not what the run was trained on")
    assert "hunter2" not in err


def test_the_memory_a_models_weights_take_is_checked_before_they_are_made(
        capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "available_memory", lambda: 1 << 30)
    for flag, size in (("--wordvec-size", 1000000), ("--hidden-size", 20000)):
        code, _, err = run(capsys, "train", "--out", tmp_path / "r", flag, size)
        assert_one_line_error(code, err, "the model's weights and a batch", "1.0 GiB are free")
        assert not (tmp_path / "r").exists()


def test_the_memory_estimate_counts_the_model_it_will_build(tmp_path):
    config = TrainConfig(wordvec_size=40, hidden_size=60, examples=200).resolved()
    data = load_data(config)
    built = config.new_model(data)
    assert config.memory(data) >= 16 * built.flat_params.size + config.batch_memory(data)
    assert [tuple(p.shape) for p in built.params] == param_shapes(type(built), built.config)

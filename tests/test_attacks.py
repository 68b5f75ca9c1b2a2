"""The attacks our files were put through, each replayed: what a command writes never replaces a
file it should not, never loses what was there, never leaves debris, and never reads or shows
what it should not (the run folder's own kills and resumes: test_run_folder.py)."""
import os
import stat
import threading

import pytest

from s2sxp import cli, files

pytestmark = pytest.mark.usefixtures("xp32")

TINY = ["--examples", "200", "--wordvec-size", "4", "--hidden-size", "8", "--batch-size", "16",
        "--seed", "0"]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny attention model of dates, one epoch."""
    folder = tmp_path_factory.mktemp("runs") / "attention"
    assert cli.main(["train", "--epochs", "1", "--out", str(folder), *TINY]) == 0
    return folder / "model.npz"


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

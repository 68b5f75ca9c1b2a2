"""Run folders written by the last release (0.1.0) resume with this code: carried on, they end
where the release itself ended them, the same parameters, losses and scores. The folders are in
tests/fixtures/0.1.0 (its README.md says how they were made), the release's own ends of them in
its expected/ folder."""
import json
import pathlib
import shutil

import numpy
import pytest

from s2sxp import cli

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "0.1.0"


@pytest.fixture
def old_runs(tmp_path, monkeypatch, xp32):
    """A copy of the release's folders, used from another working directory than theirs (each
    finds its data beside it, by content)."""
    copy = tmp_path / "0.1.0"
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("expected"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("S2S_THREADS", "1")
    return copy


def _params(path):
    with numpy.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: (len(k), k)) if k.startswith("param_")]


def assert_ended_as_the_release(folder, expected):
    """The files of ``expected`` (the release's end of the run) against those now in ``folder``:
    the same parameters and history, up to the float32 rounding of another machine's BLAS."""
    for path in sorted(expected.iterdir()):
        mine = folder / path.name
        if path.suffix == ".npz":
            for p, q in zip(_params(mine), _params(path), strict=True):
                numpy.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5, err_msg=str(mine))
            continue
        got, want = (json.loads(p.read_text()) for p in (mine, path))
        assert sorted(got) == sorted(want), mine
        for key, value in want.items():
            if key == "config":
                continue                    # names the data where this machine found it
            if key == "test":
                assert {k: v for k, v in got[key].items() if k not in ("bleu", "chrf")} == {
                    k: v for k, v in value.items() if k not in ("bleu", "chrf")}
                numpy.testing.assert_allclose([got[key]["bleu"], got[key]["chrf"]],
                                              [value["bleu"], value["chrf"]], atol=1e-6)
            elif isinstance(value, list) and value and isinstance(value[0], float):
                numpy.testing.assert_allclose(got[key], value, rtol=1e-4, err_msg=key)
            else:
                assert got[key] == value, key


@pytest.mark.parametrize("run, argv", [
    ("date", ["train", "--resume", "--epochs", "2"]),
    ("words", ["train", "--resume"]),
], ids=["book-data-after-epoch-1", "corpus-stopped-inside-epoch-2"])
def test_a_run_folder_of_the_last_release_carries_on_to_where_the_release_took_it(old_runs, run,
                                                                                  argv):
    assert cli.main([*argv, "--out", str(old_runs / run)]) == 0
    assert_ended_as_the_release(old_runs / run, FIXTURE / "expected" / run)


def test_a_comparison_of_the_last_release_carries_on_to_where_the_release_took_it(old_runs):
    folder = old_runs / "compare"
    assert cli.main(["compare", "--resume", "--epochs", "2", "--out", str(folder)]) == 0
    for model in ("seq2seq", "attention"):
        assert_ended_as_the_release(folder / model, FIXTURE / "expected" / "compare" / model)


def test_a_model_of_the_last_release_answers_and_scores_as_the_release_did(old_runs, capsys,
                                                                          monkeypatch):
    monkeypatch.chdir(old_runs)
    expected = FIXTURE / "expected"
    assert cli.main(["translate", "September 27, 1994", "--run", "date/best.npz"]) == 0
    assert capsys.readouterr().out == (expected / "translate.txt").read_text()
    assert cli.main(["eval", "--run", "words/best.npz", "--data", "test.tsv", "--beam", "5"]) == 0
    assert capsys.readouterr().out == (expected / "eval.txt").read_text()

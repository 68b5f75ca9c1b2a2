"""Each example runs end to end with tiny sizes and writes its picture."""
import pathlib
import runpy
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
TINY = ["--epochs", "1", "--n", "200", "--hidden-size", "8"]
RUNS = {
    "compare_models.py": (TINY + ["--batch-size", "16"], "accuracy.png"),
    "addition.py": (TINY + ["--batch-size", "16"], "accuracy.png"),
    "visualize_attention.py": (TINY + ["--seed", "0"], "attention.png"),
    "bahdanau_date.py": (TINY, "attention.png"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_runs_tiny(xp32, name, tmp_path, monkeypatch, capsys):
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} is not in this copy")
    argv, picture = RUNS[name]
    monkeypatch.setattr(sys, "argv", [str(path), *argv, "--out", str(tmp_path)])
    runpy.run_path(str(path), run_name="__main__")
    assert (tmp_path / picture).stat().st_size > 1000
    assert f"wrote {tmp_path}" in capsys.readouterr().out


def test_every_example_has_a_smoke_test():
    assert {p.name for p in EXAMPLES.glob("*.py")} <= set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_example_help_gives_its_whole_description_its_defaults_and_tiny_sizes(name, monkeypatch,
                                                                               capsys):
    path = EXAMPLES / name
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "(default: " in out and f"python examples/{name} --epochs" in out
    first = out.split("\n\n")[1]                    # the description's first paragraph
    assert first.rstrip().endswith(".") or first.rstrip().endswith(":"), first


def test_visualize_attention_of_a_run_not_yet_trained_is_one_line(monkeypatch, tmp_path,
                                                                  capsys):
    path = EXAMPLES / "visualize_attention.py"
    monkeypatch.setattr(sys, "argv", [str(path), "--model", str(tmp_path), "--n", "200"])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(path), run_name="__main__")
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert f"{tmp_path} holds no model.npz" in err

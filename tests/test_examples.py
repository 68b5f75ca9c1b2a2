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

"""The README as a reader follows it: its Python blocks run as written, in order, in one fresh
process in an empty folder."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)


def test_the_readmes_python_blocks_run_in_order_in_one_process(tmp_path):
    blocks = python_blocks()
    assert len(blocks) >= 4
    script = "".join(f"exec(compile({block!r}, 'README.md, Python block {i}', 'exec'))\n"
                     for i, block in enumerate(blocks, start=1))
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^accuracy 0\.\d{3}$", done.stdout, re.M), done.stdout[-2000:]
    assert "'bleu':" in done.stdout
    assert {"date.npz", "AttentionSeq2seq.pkl", "pairs.tsv", "pairs.npz", "runs"} <= set(
        os.listdir(tmp_path))

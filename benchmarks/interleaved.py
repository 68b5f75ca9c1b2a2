"""The same work timed under two checkouts of s2sxp in turns (before, after, after, before, before,
after, ...: each first in every other round), each run a fresh process that imports its own
checkout, so that what a change costs shows against the machine's noise and its drift:

    train       one epoch of a Bahdanau GRU (bidirectional, 256) on the first pairs of the shared
                Japanese-English corpus by characters, with the command line (``s2sxp train``:
                reading the data, the epoch, validating on the dev file, writing the folder)
    eval        beam 5 over the corpus's test file with the model the first ``before`` run
                trained (``s2sxp eval``), the same file for both
    epoch-cost  ``python -m benchmarks.epoch_cost`` of each checkout: a training iteration and a
                batched evaluation of every model at the book's sizes
    instructions  the instructions (valgrind's callgrind, one BLAS thread) that three training
                steps and three greedy decodings of a batch of 64 take, of a Seq2seq LSTM and a
                Bahdanau GRU (H = 128): a count that the machine's load does not move

    python -m benchmarks.interleaved --before PATH [--after .] [--rounds 2] [--pairs 8000]
        [--items train,eval,epoch-cost,instructions]

The record (``benchmarks/results/interleaved/``) gives every run's seconds (or instructions) and
the ratio of the medians, after over before.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpora", "tatoeba-jpn-eng")
#: The epoch-cost benchmark's figures compared: per model, a training iteration and an
#: evaluation of the test questions (milliseconds, seconds).
EPOCH_COST = ("train", "eval")


def _run(checkout, argv, cwd):
    """Seconds ``python ARGV`` took with ``checkout``'s s2sxp; its output on failure."""
    env = dict(os.environ, PYTHONPATH=checkout, PYTHONSAFEPATH="1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} under {checkout} failed:\n{done.stdout[-3000:]}\n"
                         f"{done.stderr[-3000:]}")
    return seconds


def _corpus(work, pairs):
    """The first ``pairs`` training pairs of the shared corpus, its dev and test files."""
    with open(os.path.join(CORPUS, "train.tsv"), encoding="utf-8") as f:
        lines = [next(f) for _ in range(pairs)]
    with open(os.path.join(work, "train.tsv"), "w", encoding="utf-8") as f:
        f.writelines(lines)
    for name in ("dev.tsv", "test.tsv"):
        shutil.copy(os.path.join(CORPUS, name), os.path.join(work, name))


def _epoch_cost(checkout, work, name):
    """{model: {train: ms, eval: s}} of one epoch-cost run of ``checkout``."""
    out = os.path.join(work, f"epoch-cost-{name}")
    _run(checkout, ["-m", "benchmarks.epoch_cost", "--devices", "cpu", "--no-torch",
                    "--out", out], checkout)
    (path,) = [os.path.join(out, p) for p in os.listdir(out) if p.endswith(".json")]
    with open(path) as f:
        rows = json.load(f)["result"]["rows"]
    shutil.rmtree(out)
    return {row["model"]: {k: row[k]["ours"]["median"] for k in EPOCH_COST} for row in rows}


#: The work whose instructions are counted: N training steps, then N greedy decodings.
STEPS = """import sys, numpy, s2sxp
kind, cell, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = numpy.random.default_rng(0)
xs, ts = rng.integers(0, 59, (64, 29)), rng.integers(0, 59, (64, 11))
model, adam = s2sxp.models.build(kind, 59, 16, 128, cell=cell, seed=0), s2sxp.Adam()
for _ in range(n):
    model.forward(xs, ts); model.backward(); s2sxp.clip_grads([model.flat_grads], 5.0)
    adam.step(model)
decode = getattr(model, "generate_batch", model.generate)    # a checkout before the rename
for _ in range(n):
    decode(xs, 0, 10)
"""
#: The models whose steps are counted.
COUNTED = (("seq2seq", "lstm"), ("bahdanau", "gru"))


def _instructions(checkout, work, kind, cell):
    """The instructions of three more training steps and decodings (four less one: the start-up
    and the first step's allocations cancel out)."""
    script = os.path.join(work, "steps.py")
    with open(script, "w") as f:
        f.write(STEPS)
    counts = []
    for n in (1, 4):
        out = os.path.join(work, "callgrind.out")
        env = dict(os.environ, PYTHONPATH=checkout, OPENBLAS_NUM_THREADS="1", S2S_THREADS="1")
        done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               sys.executable, script, kind, cell, str(n)], cwd=work, env=env,
                              capture_output=True, text=True)
        line = next(x for x in done.stderr.splitlines() if "Collected" in x)
        counts.append(int(line.split()[-1]))
        os.remove(out)
    return counts[1] - counts[0]


def measure(before, after, rounds, pairs, work, items=("train", "eval", "epoch-cost")):
    """{item: {"before": [seconds...], "after": [...]}}, the two checkouts in turns."""
    _corpus(work, pairs)
    train = ["-m", "s2sxp", "train", "--data", "train.tsv", "--dev", "dev.tsv",
             "--source-column", "2", "--tokens", "char", "--model", "bahdanau", "--bidirectional",
             "--dropout", "0", "--label-smoothing", "0", "--lr", "0.01",
             "--epochs", "1", "--batch-size", "64", "--seed", "0"]
    times = {}
    model = os.path.join(work, "run-before-0", "best.npz")      # trained first
    for r in range(rounds):
        turns = (("before", before), ("after", after))
        for name, checkout in turns if r % 2 == 0 else turns[::-1]:
            folder = os.path.join(work, f"run-{name}-{r}")
            say(f"round {r + 1}: {name}")
            if "train" in items or "eval" in items and not os.path.exists(model):
                seconds = _run(checkout, [*train, "--out", folder], work)
                if "train" in items:
                    times.setdefault("train", {}).setdefault(name, []).append(seconds)
            if "eval" in items:
                times.setdefault("eval", {}).setdefault(name, []).append(_run(checkout, [
                    "-m", "s2sxp", "eval", "--run", model, "--data", "test.tsv",
                    "--source-column", "2", "--beam", "5", "--count", "0"], work))
            if "epoch-cost" in items:
                for model_name, figures in _epoch_cost(checkout, work, f"{name}-{r}").items():
                    for key, value in figures.items():
                        times.setdefault(f"epoch-cost {model_name} {key}", {}).setdefault(
                            name, []).append(value)
            for kind, cell in COUNTED if "instructions" in items else ():
                times.setdefault(f"instructions {kind} {cell}", {}).setdefault(name, []).append(
                    _instructions(checkout, work, kind, cell))
    return times


def table(times):
    lines = ["| item | before | after | after / before (medians) |", "|---|---:|---:|---:|"]
    for item, runs in times.items():
        b, a = statistics.median(runs["before"]), statistics.median(runs["after"])
        unit = ("ms" if item.endswith("train") and item.startswith("epoch-cost") else
                "" if item.startswith("instructions") else "s")
        shown = [", ".join(f"{v:.4g}" for v in runs[k]) + f" {unit}".rstrip()
                 for k in ("before", "after")]
        lines.append(f"| {item} | {shown[0]} | {shown[1]} | {a / b:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.interleaved", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the checkout before the change")
    p.add_argument("--after", default=ROOT, help="the checkout after it (default: this one)")
    p.add_argument("--rounds", type=int, default=2, help="turns of each (default 2)")
    p.add_argument("--pairs", type=int, default=8000, help="training pairs (default 8000)")
    p.add_argument("--items", default="train,eval,epoch-cost",
                   help="what to time, of train, eval, epoch-cost, instructions (default: the "
                   "first three)")
    p.add_argument("--out", default=results_folder("interleaved"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    before, after = (os.path.abspath(c) for c in (args.before, args.after))
    with tempfile.TemporaryDirectory() as work:
        times = measure(before, after, args.rounds, args.pairs, work, args.items.split(","))
    commits = {name: subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
               for name, path in (("before", before), ("after", after))}
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"# Before and after, in turns, {time.strftime('%Y-%m-%d')}\n\n"
            f"`python -m benchmarks.interleaved {shown}`: before {commits['before']}, after "
            f"{commits['after']} ({args.rounds} rounds, each checkout first in every other one; "
            f"{args.pairs} training pairs).\n\n{table(times)}\n")
    record = {"tool": "benchmarks.interleaved", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": shown, "commits": commits, "machine": machine_info(),
              "source": source_info(), "times": times}
    write_record(record_stem(args.out, "interleaved", args.tag), record, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

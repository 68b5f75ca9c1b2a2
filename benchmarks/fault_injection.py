"""Kill real training runs again and again at random moments (SIGKILL, from outside), resume them
each time, and check that each folder ends as an uninterrupted run's does.

    python -m benchmarks.fault_injection                 # 50 kills of each kind, the record
    python -m benchmarks.fault_injection --kinds corpus --kills 5 --out /tmp/faults

Three kinds of run (--kinds): ``book``, ``s2sxp train`` on the date data, small sizes, many short
epochs; ``corpus``, a Bahdanau model with dropout on a generated parallel corpus with a dev and a
test file, validated every few iterations inside its epochs (--eval-every), the test file scored
by beam search at the end; ``compare``, ``s2sxp compare`` of two models side by side. For each, a
reference run trains uninterrupted first. Then the same run starts in another folder; each
process is killed after a random time, uniform between 0 and --max-delay seconds (start-up,
training, validations, the test file's scoring and the writing of files alike), and the next one
carries on with ``--resume`` (or starts afresh where nothing was written to resume yet), until
the kills are spent and a process finishes. Every file of the two folders (and of the run
folders inside a comparison's) is compared: the arrays and metadata of every .npz, the JSON files
as data, the pictures byte for byte. The record goes to --out (default
benchmarks/results/faults/) as DATE-faults.json and .md (DATE-faults-KIND... for some kinds).
"""
import argparse
import datetime
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy

from s2sxp import corpus
from s2sxp.files import atomic_write

from .harness import results_folder, source_info

TINY = ["--wordvec-size", "8", "--hidden-size", "16", "--batch-size", "32", "--seed", "0"]
#: Each kind of run: the command, and its settings (DATA: the generated corpus's folder).
KINDS = {
    "book": ("train", ["--examples", "1000", *TINY, "--epochs", "150"]),
    "corpus": ("train", ["--data", "DATA/train.tsv", "--dev", "DATA/dev.tsv", "--test",
                         "DATA/test.tsv", "--tokens", "word", "--model", "bahdanau",
                         "--dropout", "0.1", "--no-bidirectional", "--label-smoothing", "0",
                         "--lr", "0.01", "--eval-every", "7", *TINY, "--epochs", "120"]),
    "compare": ("compare", ["--models", "seq2seq", "attention", "--examples", "1000", *TINY,
                            "--epochs", "40"]),
}
#: What a resume says where the killed process had not yet written what it needs.
NOTHING_YET = ("no checkpoint to resume", "holds no compare.json")


def _command(kind, folder, work, resume):
    command, settings = KINDS[kind]
    extra = ["--resume"] if resume else [s.replace("DATA", work) for s in settings]
    return [sys.executable, "-m", "s2sxp", command, "--out", folder, *extra]


def _write_corpus(work):
    for name, seed, n in (("train", 0, 600), ("dev", 1, 60), ("test", 2, 60)):
        corpus.write_pairs(os.path.join(work, f"{name}.tsv"),
                           corpus.synthetic_pairs(n, seed=seed, max_words=5))


def _npz(path):
    with numpy.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def differences(a, b):
    """The files of folders ``a`` and ``b`` (and of the folders inside) that differ, are in one
    only, or are left over from a write in ``b``."""
    names = {n for n in os.listdir(a) + os.listdir(b) if not n.startswith(".")}
    differ = []
    for name in sorted(names):
        x, y = os.path.join(a, name), os.path.join(b, name)
        if not (os.path.exists(x) and os.path.exists(y)):
            differ.append(f"{name} (in one folder only)")
        elif os.path.isdir(x):
            differ.extend(f"{name}/{d}" for d in differences(x, y))
        elif name.endswith(".npz"):
            (meta_x, p), (meta_y, q) = _npz(x), _npz(y)
            if meta_x != meta_y or p.keys() != q.keys() or any(
                    not numpy.array_equal(p[k], q[k]) for k in p):
                differ.append(name)
        elif name.endswith(".json"):
            with open(x) as f, open(y) as g:
                if json.load(f) != json.load(g):
                    differ.append(name)
        else:
            with open(x, "rb") as f, open(y, "rb") as g:
                if f.read() != g.read():
                    differ.append(name)
    leftovers = [n for n in os.listdir(b) if n.startswith(".tmp-") or n == ".commit.json"]
    return differ + [f"{n} (left over)" for n in leftovers]


def run(kind, kills, seed, work, max_delay):
    """Kill the run of ``kind`` ``kills`` times: the events, and how its folder compares."""
    rng = random.Random(seed)
    reference, folder = (os.path.join(work, f"{kind}-{n}") for n in ("reference", "killed"))
    start = time.time()
    subprocess.run(_command(kind, reference, work, False), check=True, capture_output=True)
    reference_s = time.time() - start
    events, started = [], False
    start = time.time()
    while True:
        command = _command(kind, folder, work, started)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        killed = sum(e["event"] == "killed" for e in events)
        if killed < kills:
            delay = rng.uniform(0, max_delay)
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                events.append({"event": "killed", "after_s": round(delay, 3),
                               "command": "resume" if started else "start"})
                started = True
                continue
        err = process.communicate()[1]
        if process.returncode == 2 and any(s in err for s in NOTHING_YET):
            started = False
            events.append({"event": "nothing to resume yet: start afresh"})
            continue
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} ended with {process.returncode}: {err}")
        events.append({"event": "finished", "command": "resume" if started else "start"})
        break
    return {"kind": kind, "kills": sum(e["event"] == "killed" for e in events),
            "resumes": sum(e.get("command") == "resume" for e in events),
            "fresh_starts": sum(e.get("command") == "start" for e in events),
            "reference_s": reference_s, "killed_run_s": time.time() - start,
            "differences": differences(reference, folder), "events": events}


def markdown(report):
    rows = []
    for r in report["results"]:
        same = "yes" if not r["differences"] else "no: " + ", ".join(r["differences"])
        command, settings = KINDS[r["kind"]]
        rows.append(f"| {r['kind']} | `s2sxp {command} {' '.join(settings)}` | "
                    f"{r['reference_s']:.1f} s | {r['kills']} | {r['resumes']} | "
                    f"{r['fresh_starts']} | {same} |")
    return "\n".join([
        f"# Training runs killed at random moments ({report['date']})", "",
        f"`{report['command']}` at {report['source'].get('commit', '?')[:10]}.", "",
        "DATA is a generated parallel corpus (600 training, 60 dev and 60 test pairs). Each "
        "kill came after a time drawn uniformly from 0 to "
        f"{report['max_delay']:g} s of a process's life (start-up included); the moments are in "
        "the JSON file beside this one.", "",
        "| kind | settings | uninterrupted | kills (SIGKILL) | resumes | fresh starts (nothing "
        "to resume yet) | every file as the uninterrupted run's |",
        "|---|---|---:|---:|---:|---:|---|", *rows, ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS),
                   help="the kinds of run to kill (default: all)")
    p.add_argument("--kills", type=int, default=50, help="kills of each kind (default 50)")
    p.add_argument("--seed", type=int, default=0, help="of the kill moments (default 0)")
    p.add_argument("--max-delay", type=float, default=2.0,
                   help="the longest a process runs before its kill, in seconds (default 2)")
    p.add_argument("--out", default=results_folder("faults"),
                   help="folder for the record (default %(default)s)")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="s2sxp-faults-")
    try:
        _write_corpus(work)
        results = [run(kind, args.kills, args.seed, work, args.max_delay) for kind in args.kinds]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    date = datetime.date.today().isoformat()
    report = {"tool": "benchmarks.fault_injection", "date": date,
              "command": " ".join(["python -m benchmarks.fault_injection", *(argv or
                                                                            sys.argv[1:])]),
              "source": source_info(), "max_delay": args.max_delay, "results": results}
    os.makedirs(args.out, exist_ok=True)
    kinds = "" if args.kinds == list(KINDS) else "-" + "-".join(args.kinds)
    stem = os.path.join(args.out, f"{date}-faults{kinds}")
    atomic_write(stem + ".json", lambda f: f.write(json.dumps(report, indent=1).encode()))
    text = markdown(report)
    atomic_write(stem + ".md", lambda f: f.write(text.encode()))
    print(text)
    return 0 if not any(r["differences"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

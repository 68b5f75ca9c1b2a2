"""Kill a real training run again and again at random moments (SIGKILL, from outside), resume it
each time, and check that its folder ends as an uninterrupted run's does.

    python -m benchmarks.fault_injection                 # 50 kills, then the record
    python -m benchmarks.fault_injection --kills 5 --out /tmp/faults

A reference run trains uninterrupted first (``s2sxp train`` on the date data, small sizes, many
short epochs). Then the same run starts in another folder; each process is killed after a random
time, uniform between 0 and --max-delay seconds (start-up, training and the writing of an
epoch's files alike), and the next one carries on with ``--resume`` (or starts afresh where no
checkpoint was written yet), until the kills are spent and a process finishes. Every file of the
two folders is compared: the arrays of every .npz bit for bit, the JSON files as data, the
pictures as PNG. The record goes to --out (default benchmarks/results/faults/) as
DATE-faults.json and .md.
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

from s2sxp.files import atomic_write

from .harness import results_folder, source_info

SETTINGS = ["--examples", "1000", "--wordvec-size", "8", "--hidden-size", "16",
            "--batch-size", "32", "--epochs", "150", "--seed", "0"]


def _train(folder, *extra):
    return [sys.executable, "-m", "s2sxp", "train", "--out", folder, *extra]


def _arrays(path):
    with numpy.load(path) as f:
        return {k: f[k] for k in f.files if k != "meta"}


def differences(a, b):
    """The files of run folders ``a`` and ``b`` that differ (or are in one only)."""
    names = {n for n in os.listdir(a) + os.listdir(b) if not n.startswith(".")}
    differ = []
    for name in sorted(names):
        x, y = os.path.join(a, name), os.path.join(b, name)
        if not (os.path.exists(x) and os.path.exists(y)):
            differ.append(f"{name} (in one folder only)")
        elif name.endswith(".npz"):
            p, q = _arrays(x), _arrays(y)
            if p.keys() != q.keys() or any(not numpy.array_equal(p[k], q[k]) for k in p):
                differ.append(name)
        elif name.endswith(".json"):
            with open(x) as f, open(y) as g:
                if json.load(f) != json.load(g):
                    differ.append(name)
        else:
            with open(y, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    differ.append(f"{name} (not a PNG)")
    leftovers = [n for n in os.listdir(b) if n.startswith(".tmp-") or n == ".commit.json"]
    return differ + [f"{n} (left over)" for n in leftovers]


def run(kills, seed, work, max_delay):
    rng = random.Random(seed)
    reference, folder = os.path.join(work, "reference"), os.path.join(work, "killed")
    start = time.time()
    subprocess.run(_train(reference, *SETTINGS), check=True, capture_output=True)
    reference_s = time.time() - start
    events, started = [], False
    start = time.time()
    while True:
        command = _train(folder, "--resume") if started else _train(folder, *SETTINGS)
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
                started = started or os.path.exists(os.path.join(folder, "checkpoint.npz"))
                continue
        err = process.communicate()[1]
        if process.returncode == 2 and "no checkpoint to resume" in err:
            started = False
            events.append({"event": "no checkpoint yet: start afresh"})
            continue
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} ended with {process.returncode}: {err}")
        events.append({"event": "finished", "command": "resume" if started else "start"})
        break
    return {"kills": sum(e["event"] == "killed" for e in events),
            "resumes": sum(e.get("command") == "resume" for e in events),
            "fresh_starts": sum(e.get("command") == "start" for e in events),
            "reference_s": reference_s, "killed_run_s": time.time() - start,
            "differences": differences(reference, folder), "events": events}


def markdown(report):
    r = report["result"]
    same = "yes" if not r["differences"] else "no: " + ", ".join(r["differences"])
    return "\n".join([
        f"# A training run killed {r['kills']} times ({report['date']})", "",
        f"`{report['command']}` at {report['source'].get('commit', '?')[:10]}.", "",
        f"Settings: `s2sxp train {' '.join(SETTINGS)}` (the date data). The reference run took "
        f"{r['reference_s']:.1f} s uninterrupted; the killed run, with its restarts, "
        f"{r['killed_run_s']:.1f} s.", "",
        "| kills (SIGKILL at a random moment) | resumes | fresh starts (no checkpoint yet) | "
        "every file as the uninterrupted run's |",
        "|---:|---:|---:|---|",
        f"| {r['kills']} | {r['resumes']} | {r['fresh_starts']} | {same} |", "",
        f"Each kill came after a time drawn uniformly from 0 to {report['max_delay']:g} s of a "
        "process's life (start-up included); the moments are in the JSON file beside this "
        "one.", ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=50, help="how many kills (default 50)")
    p.add_argument("--seed", type=int, default=0, help="of the kill moments (default 0)")
    p.add_argument("--max-delay", type=float, default=2.0,
                   help="the longest a process runs before its kill, in seconds (default 2)")
    p.add_argument("--out", default=results_folder("faults"),
                   help="folder for the record (default %(default)s)")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="s2sxp-faults-")
    try:
        result = run(args.kills, args.seed, work, args.max_delay)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    date = datetime.date.today().isoformat()
    report = {"tool": "benchmarks.fault_injection", "date": date,
              "command": " ".join(["python -m benchmarks.fault_injection", *(argv or
                                                                            sys.argv[1:])]),
              "source": source_info(), "max_delay": args.max_delay, "result": result}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{date}-faults")
    atomic_write(stem + ".json", lambda f: f.write(json.dumps(report, indent=1).encode()))
    text = markdown(report)
    atomic_write(stem + ".md", lambda f: f.write(text.encode()))
    print(text)
    return 0 if not result["differences"] else 1


if __name__ == "__main__":
    sys.exit(main())

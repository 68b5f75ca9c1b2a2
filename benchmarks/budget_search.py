"""The corpus defaults for a budget: candidate settings of ``s2sxp train --minutes M`` on the
shared Tatoeba corpus (Japanese -> English), one after the other on this machine, each scored
on the test file with beam 5 and best.npz; beside them the headline recipe as it trains by
epochs, stopped by Ctrl-C at the same minutes (``plateau-stopped``). Dev BLEU against minutes
in a PNG.

    python -m benchmarks.budget_search --minutes 15
    python -m benchmarks.budget_search --minutes 60 --candidates plateau-stopped linear cosine

Each command's clock starts with it, so start-up (reading the corpus, learning the subwords)
counts, as --minutes counts it. Test BLEU is scored the same way for every candidate: best.npz
translates test.tsv's Japanese (beam 5) and sacrebleu (13a) scores the detokenized English; a
budgeted run also scores the test file itself at the end, which the record keeps beside it.
Writes DATE-budget-search-MIN[-TAG].json, .md and .png into --out (default
benchmarks/results/budget-search/); runs and logs go to --work (default
benchmarks/results/budget-search/.work/, which git ignores). ``--subset N`` trains on the first N
training pairs and 200 of dev and test, and ``--extra`` adds flags to every candidate: with
small ones, a check that the script runs end to end in a minute or two.

``--snapshots 15`` keeps, for a candidate trained by epochs, its best.npz as it stands 15 minutes
in and scores it as ``NAME@15min``: the run up to then is the run Ctrl-C would have stopped there,
so one 60-minute run also gives the 15-minute figure. ``--include RECORD.json`` puts the
candidates of an earlier record beside this one's in the table and the picture.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)
from benchmarks.headline import CORPUS, curve, plot, score, timed

#: The model of the headline recipe (benchmarks/headline.py): a bidirectional GRU encoder,
#: dropout 0.2, label smoothing 0.1, SentencePiece 4,000 a side, batches of 128.
MODEL = ["--model", "bahdanau", "--cell", "gru", "--bidirectional", "--dropout", "0.2",
         "--label-smoothing", "0.1", "--tokens", "spm", "--vocab-size", "4000",
         "--batch-size", "128"]
#: The candidates by name: their flags, and whether they train by --minutes (else by epochs,
#: stopped by Ctrl-C at the minutes).
CANDIDATES = {
    "defaults": ([], True),
    "plateau-stopped": (MODEL + ["--lr", "0.003", "--plateau", "1", "--epochs", "1000"], False),
    "plateau": (MODEL + ["--lr", "0.003", "--schedule", "plateau"], True),
    "linear": (MODEL + ["--lr", "0.003", "--schedule", "linear"], True),
    "cosine": (MODEL + ["--lr", "0.003", "--schedule", "cosine"], True),
    "linear-lr5e-3": (MODEL + ["--lr", "0.005", "--schedule", "linear"], True),
    "linear-lr7e-3": (MODEL + ["--lr", "0.007", "--schedule", "linear"], True),
    "cosine-lr5e-3": (MODEL + ["--lr", "0.005", "--schedule", "cosine"], True),
    "linear-lr2e-3": (MODEL + ["--lr", "0.002", "--schedule", "linear"], True),
    "linear-batch64": ([*MODEL[:-1], "64", "--lr", "0.002", "--schedule", "linear"], True),
    "linear-nodropout": ([f for f in MODEL if f not in ("--dropout", "0.2")]
                         + ["--lr", "0.003", "--schedule", "linear"], True),
    "linear-hidden384": (MODEL + ["--hidden-size", "384", "--lr", "0.003",
                                  "--schedule", "linear"], True),
}
DEFAULT = ("plateau-stopped", "linear", "cosine", "linear-lr5e-3", "linear-batch64",
           "linear-nodropout")
#: Seconds a budgeted run has after its minutes to score the test file before it is stopped.
GRACE = 1200


def corpus_files(work, subset):
    """The train, dev and test pairs files: the shared corpus's, or its first ``subset`` training
    pairs and 200 of dev and test, written into ``work``."""
    names = ("train", "dev", "test")
    if not subset:
        return {name: os.path.join(CORPUS, f"{name}.tsv") for name in names}
    files = {}
    for name, count in zip(names, (subset, 200, 200)):
        files[name] = os.path.join(work, f"{name}-{subset}.tsv")
        with open(os.path.join(CORPUS, f"{name}.tsv"), encoding="utf-8") as f:
            lines = [line for _, line in zip(range(count), f)]
        with open(files[name], "w", encoding="utf-8") as f:
            f.writelines(lines)
    return files


def run_candidate(name, flags, budgeted, minutes, files, work, snapshots=()):
    """Train one candidate for ``minutes``, then translate the test file with its best.npz;
    {command, dev: [(minute, dev BLEU)], hypotheses, history}, and under "snapshots" one such
    result for each of ``snapshots`` (minutes) of a candidate trained by epochs: its best.npz
    as it stood then."""
    folder = os.path.join(work, name)
    kept = {m: os.path.join(work, f"{name}@{m:g}min.npz") for m in snapshots}
    timers = [threading.Timer(m * 60, _keep, (os.path.join(folder, "best.npz"), path))
              for m, path in kept.items()]
    command = [sys.executable, "-m", "s2sxp", "train", "--data", files["train"], "--dev",
               files["dev"], "--source-column", "2", *flags, "--out", folder, "--overwrite"]
    if budgeted:
        command += ["--minutes", f"{minutes:g}", "--test", files["test"]]
    say(f"{name}: training for {minutes:g} minutes")
    started = time.monotonic()
    for timer in timers:
        timer.start()
    lines = timed(command, minutes * 60 + (GRACE if budgeted else 0),
                  os.path.join(work, f"{name}.log"), env=dict(os.environ, PYTHONUNBUFFERED="1"))
    wall = (time.monotonic() - started) / 60
    for timer in timers:
        timer.cancel()
    dev = curve(lines, r"^val BLEU ([\d.]+)")
    hypotheses = translate(os.path.join(folder, "best.npz"), name, files, work)
    history = {}
    if hypotheses:
        with open(os.path.join(folder, "history.json"), encoding="utf-8") as f:
            history = json.load(f)
    at = {f"{name}@{m:g}min": {"command": shlex.join(command[1:]), "budgeted": False,
                               "wall_minutes": m, "dev": [p for p in dev if p[0] <= m],
                               "hypotheses": translate(path, f"{name}@{m:g}min", files, work),
                               "plan": [], "history": {}}
          for m, path in kept.items()}
    return {"command": shlex.join(command[1:]), "budgeted": budgeted, "wall_minutes": wall,
            "dev": dev, "hypotheses": hypotheses, "snapshots": at,
            "plan": [line for _, line in lines if line.startswith(("plan:", "budget:"))],
            "history": {k: history.get(k) for k in ("val_bleu", "val_at", "val_minutes",
                                                    "val_epochs", "loss", "loss_epochs",
                                                    "test", "config")}}


def _keep(best, path):
    """A copy of ``best`` at ``path`` (nothing where no validation has written it yet)."""
    try:
        shutil.copyfile(best, path)
    except FileNotFoundError:
        pass


def translate(model, name, files, work):
    """The test file's Japanese translated by ``model`` (beam 5) into WORK/NAME.test.en, which
    it returns; None where there is no model (stopped before a validation)."""
    if not os.path.exists(model):
        say(f"{name}: no best.npz; see its log")
        return None
    say(f"{name}: translating the test file")
    sources = os.path.join(work, "test.ja")
    with open(files["test"], encoding="utf-8") as f, open(sources, "w", encoding="utf-8") as out:
        out.writelines(line.rstrip("\n").split("\t")[1] + "\n" for line in f)
    hypotheses = os.path.join(work, f"{name}.test.en")
    subprocess.run([sys.executable, "-m", "s2sxp", "translate", "--run", model, "--input",
                    sources, "--output", hypotheses, "--beam", "5"], check=True)
    return hypotheses


def references(files):
    with open(files["test"], encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t")[0] for line in f]


def report(results, args, argv):
    rows = ["| candidate | test BLEU | test chrF | train's own test BLEU | best dev BLEU "
            "| validations | minutes |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        best = max((b for _, b in r["dev"]), default=float("nan"))
        own = (r["history"].get("test") or {}).get("bleu")
        rows.append(f"| {name} | {r['test_bleu']:.2f} | {r['test_chrf']:.2f} | "
                    f"{'' if own is None else f'{own:.2f}'} | {best:.2f} | {len(r['dev'])} | "
                    f"{r['wall_minutes']:.1f} |")
    commands = "\n".join(f"- {name}: `{r['command']}`" + (f" (from {r['from']})" if "from" in r
                                                          else "") for name, r in results.items())
    return (f"# Budget search: Japanese → English in {args.minutes:g} minutes each, "
            f"{time.strftime('%Y-%m-%d')}\n\n`python -m benchmarks.budget_search "
            f"{' '.join(argv)}`\n\nOne after the other on this machine. Test: test.tsv "
            f"translated by best.npz, beam 5, sacrebleu 13a on detokenized text; dev BLEU by "
            f"greedy decoding during training; minutes: the training command's wall clock "
            f"(the test scoring of a budgeted run included).\n\n" + "\n".join(rows)
            + f"\n\n{commands}\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks.budget_search",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--candidates", nargs="*", default=list(DEFAULT), choices=list(CANDIDATES),
                   metavar="NAME", help=f"from: {', '.join(CANDIDATES)} (default: "
                   f"{' '.join(DEFAULT)})")
    p.add_argument("--subset", type=int, default=0, metavar="N",
                   help="train on the first N training pairs only (a check of the script)")
    p.add_argument("--snapshots", type=float, nargs="+", default=[], metavar="M",
                   help="score, for candidates trained by epochs, best.npz as it stood M "
                   "minutes in, as NAME@Mmin")
    p.add_argument("--include", nargs="+", default=[], metavar="RECORD",
                   help="earlier records (.json) whose candidates join the table and picture "
                   "(with --candidates and none named: a record of those alone)")
    p.add_argument("--extra", default="", metavar="FLAGS",
                   help="flags added to every candidate's s2sxp train, as one string")
    p.add_argument("--work", default=os.path.join(results_folder("budget-search"), ".work"))
    p.add_argument("--out", default=results_folder("budget-search"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    files = corpus_files(args.work, args.subset)
    if any(m >= args.minutes for m in args.snapshots):
        p.error("--snapshots: minutes before --minutes")
    results = {}
    for record in args.include:
        with open(record, encoding="utf-8") as f:
            for name, result in json.load(f)["results"].items():
                results[name] = {**result, "from": os.path.basename(record)}
    for name in args.candidates:
        flags, budgeted = CANDIDATES[name]
        trained = run_candidate(name, flags + shlex.split(args.extra), budgeted, args.minutes,
                                files, args.work, () if budgeted else args.snapshots)
        for label, result in {name: trained, **trained.pop("snapshots")}.items():
            results[label] = result
            if result["hypotheses"] is None:
                result.update(test_bleu=float("nan"), test_chrf=float("nan"))
                continue
            score(result, references(files))
            say(f"{label}: test BLEU {result['test_bleu']:.2f}")
    stem = record_stem(args.out, f"budget-search-{args.minutes:g}min", args.tag)
    plot(results, stem + ".png", args.minutes)
    text = report(results, args, argv) + f"\n![dev BLEU]({os.path.basename(stem)}.png)\n"
    write_record(stem, {"minutes": args.minutes, "subset": args.subset, "extra": args.extra,
                        "machine": machine_info(), "source": source_info(),
                        "results": results}, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

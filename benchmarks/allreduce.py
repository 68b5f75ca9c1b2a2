"""What training over several MPI ranks costs: per iteration, the step's time and the part of it
spent in the collectives (the losses' sum and the gradients' all-reduce, waiting for the slower
rank included), and the all-reduce of the flat gradient buffer on its own (after a barrier).

    python -m benchmarks.allreduce                    # 1 and 2 ranks, in turns, twice
    python -m benchmarks.allreduce --ranks 1,2,4 --rounds 1 --iterations 10
    S2S_BACKEND=cupy python -m benchmarks.allreduce --ranks 1 --out $OUT   # NCCL on one GPU

Each count of ranks runs as ``mpiexec -n K python -m benchmarks.allreduce --worker ...`` (the
mpiexec beside this Python, else on PATH) through s2sxp's own Trainer, on the first --lines
pairs of the shared Tatoeba corpus, Japanese -> English, with the README's recipe (Bahdanau GRU,
SentencePiece 4000 pieces a side, embedding and hidden 256, batch 128), or on generated pairs
where the corpus is missing. Every count trains the same global batches from the same weights.
Writes DATE-allreduce[-TAG].json and .md into --out (default benchmarks/results/allreduce/).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict

import numpy

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "corpora", "tatoeba-jpn-eng", "train.tsv")


class Timed:
    """A world (s2sxp.distributed) whose collectives are timed."""

    def __init__(self, world):
        self.world, self.seconds = world, defaultdict(float)

    def __getattr__(self, name):
        return getattr(self.world, name)

    def _timed(self, name, *args):
        start = time.perf_counter()
        result = getattr(self.world, name)(*args)
        self.seconds[name] += time.perf_counter() - start
        return result

    def sum(self, values, what=""):
        return self._timed("sum", values, what)

    def allreduce(self, array, what=""):
        return self._timed("allreduce", array, what)


def load(settings, world):
    """The corpus and the run's settings, loaded on rank 0 and sent to the others."""
    from s2sxp import corpus
    from s2sxp.config import TrainConfig
    from s2sxp.data import load_data

    config = TrainConfig(model="bahdanau", cell="gru", tokens="spm", vocab_size=4000,
                         bidirectional=False, dropout=0.0, label_smoothing=0.0, lr=0.01,
                         source_column=2, wordvec_size=256, hidden_size=256,
                         batch_size=settings["batch_size"], seed=0)
    data = None
    if world.rank == 0:
        if os.path.exists(settings["data"]):
            with open(settings["data"], encoding="utf-8") as f:
                lines = [next(f) for _ in range(settings["lines"])]
            path = os.path.join(settings["scratch"], "pairs.tsv")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(lines)
            source = f"the first {len(lines)} pairs of {settings['data']}"
        else:
            path = os.path.join(settings["scratch"], "pairs.tsv")
            corpus.write_pairs(path, corpus.synthetic_pairs(settings["lines"], seed=0))
            config = TrainConfig(**{**config.__dict__, "tokens": "word", "source_column": 1})
            source = f"{settings['lines']} generated pairs (the shared corpus is missing)"
        config = TrainConfig(**{**config.__dict__, "data": path}).resolved()
        data = (config, load_data(config), source)
    return world.broadcast(data, "receiving the corpus")


def worker(settings):
    """One rank's measurements, gathered on rank 0, which prints them as one JSON line."""
    from s2sxp import distributed, models
    from s2sxp.optim import Adam
    from s2sxp.trainer import Trainer

    world = distributed.world()
    config, data, source = load(settings, world)
    model = models.build("bahdanau", len(data.vocab), config.wordvec_size, config.hidden_size,
                         cell="gru", seed=0, pad_id=data.vocab.pad_id,
                         source_vocab_size=len(data.source_vocab))
    timed = Timed(world)
    trainer = Trainer(model, Adam(lr=1e-3), seed=0, log=None, world=timed)
    warmup, iterations = settings["warmup"], settings["iterations"]
    marks = []

    def mark(epoch, iteration):
        if iteration + 1 == warmup:
            timed.seconds.clear()
        marks.append(time.perf_counter())
        if iteration + 1 == warmup + iterations:
            raise StopIteration

    try:
        trainer.fit(data.x_train, data.t_train, max_epoch=1, batch_size=config.batch_size,
                    max_grad=config.max_grad, eval_interval=0, on_iteration=mark)
    except StopIteration:
        pass
    iterations = len(marks) - warmup
    if iterations < 1:
        sys.exit(f"benchmarks.allreduce: {len(marks)} batches of {config.batch_size} in the "
                 f"corpus, fewer than --warmup + 1; load more --lines")
    step = (marks[-1] - marks[warmup - 1]) / iterations
    buffer = model.flat_grads.copy()
    alone = []
    for _ in range(settings["repeats"]):
        world.sum([0], "a barrier")
        start = time.perf_counter()
        world.allreduce(buffer, "the all-reduce on its own")
        alone.append(time.perf_counter() - start)
    mine = {"rank": world.rank, "step_s": step, "iterations": iterations,
            "sum_s": timed.seconds["sum"] / iterations,
            "allreduce_s": timed.seconds["allreduce"] / iterations,
            "allreduce_alone_s": float(numpy.median(alone)),
            "blas_and_split_threads": __import__("s2sxp").parallel.usable_cores()}
    ranks = world.allgather(mine, "gathering the measurements")
    if world.rank == 0:
        from s2sxp import backend
        print(json.dumps({"ranks": world.size, "per_rank": ranks, "source": source,
                          "parameters": int(model.flat_params.size),
                          "dtype": str(model.flat_params.dtype), "backend": backend.name(),
                          "vocab": [len(data.source_vocab), len(data.vocab)],
                          "batch_size": config.batch_size}), flush=True)


def mpiexec():
    found = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
             or shutil.which("mpiexec"))
    if found is None:
        sys.exit("benchmarks.allreduce: no mpiexec here: pip install -e \".[mpi]\"")
    return found


def launch(ranks, settings):
    """One measurement: ``ranks`` ranks of this module's worker; its JSON, or None."""
    from s2sxp import distributed

    env = {k: v for k, v in os.environ.items() if k not in distributed.LAUNCHER_VARIABLES}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")   # Open MPI
    done = subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m",
                           "benchmarks.allreduce", "--worker", json.dumps(settings)],
                          capture_output=True, text=True, env=env, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        say(f"{ranks} ranks failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        return None
    return json.loads(lines[-1])


def table(results):
    rows = ["| ranks | step ms | sentences/s | losses' sum ms | gradients' all-reduce ms "
            "| all-reduce alone ms | threads a rank |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    def ms(ranks, key):
        return " / ".join(f"{1e3 * p[key]:.2f}" for p in ranks)

    for r in results:
        ranks = r["per_rank"]
        step = max(p["step_s"] for p in ranks)
        rows.append(f"| {r['ranks']} | {1e3 * step:.1f} | {r['batch_size'] / step:.0f} "
                    f"| {ms(ranks, 'sum_s')} | {ms(ranks, 'allreduce_s')} "
                    f"| {ms(ranks, 'allreduce_alone_s')} "
                    f"| {ranks[0]['blas_and_split_threads']} |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.allreduce",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", default="1,2", help="counts of ranks, comma-separated "
                   "(default %(default)s)")
    p.add_argument("--rounds", type=int, default=2, help="times each count runs, in turns")
    p.add_argument("--iterations", type=int, default=20, help="timed iterations")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20, help="all-reduces timed on their own")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lines", type=int, default=20000, help="pairs of the corpus to load")
    p.add_argument("--data", default=CORPUS, help="the corpus (default: the shared Tatoeba)")
    p.add_argument("--out", default=results_folder("allreduce"),
                   help="folder for the record (default %(default)s)")
    p.add_argument("--tag", default="")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    counts = [int(k) for k in args.ranks.split(",")]
    if min(counts) < 1 or args.rounds < 1 or args.iterations < 1 or args.warmup < 1:
        p.error("--ranks, --rounds, --iterations and --warmup must be at least 1")
    os.makedirs(args.out, exist_ok=True)
    scratch = os.path.join(args.out, ".allreduce-scratch")
    os.makedirs(scratch, exist_ok=True)
    settings = {"iterations": args.iterations, "warmup": args.warmup, "repeats": args.repeats,
                "batch_size": args.batch_size, "lines": args.lines, "data": args.data,
                "scratch": scratch}
    results = []
    for round_ in range(args.rounds):
        for ranks in counts:
            say(f"round {round_ + 1}: {ranks} rank(s)")
            result = launch(ranks, settings)
            if result is not None:
                results.append(result)
    shutil.rmtree(scratch, ignore_errors=True)
    if not results:
        return 1
    stem = record_stem(args.out, "allreduce", args.tag)
    record = {"settings": {k: v for k, v in settings.items() if k != "scratch"},
              "machine": machine_info(), "source": source_info(),
              "mpiexec": mpiexec(), "results": results}
    first = results[0]
    shown = " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"# All-reduce against the step, {time.strftime('%Y-%m-%d')}\n\n"
            f"`python -m benchmarks.allreduce {shown}`\n\n{first['source']}; Bahdanau GRU, {first['parameters']:,} parameters "
            f"({first['dtype']}, {first['backend']}), vocabularies {first['vocab'][0]} / "
            f"{first['vocab'][1]}, global batch {first['batch_size']}; {args.iterations} "
            f"iterations after {args.warmup}. Runs in the order shown. Per rank, separated by "
            "/: the collectives' time per iteration (waiting for the slower rank included) and "
            "the all-reduce of the flat gradients on its own after a barrier (median of "
            f"{args.repeats}).\n\n{table(results)}\n")
    write_record(stem, record, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

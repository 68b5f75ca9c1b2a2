"""bf16 products against float32 on this CPU: the Bahdanau models' training steps on the shared
corpus and on its longest quarter of sentences, the book's three models' iterations on the date
data, greedy and beam-5 decoding of the corpus's test sentences, and each step beside its GEMM
floor at both precisions (the time its GEMMs alone take).

    python -m benchmarks.precision                       # everything, about 15 minutes
    python -m benchmarks.precision --parts book --iterations 10

Each precision runs in a process of its own, as a user's run does: in one process, a float32
step's BLAS threads, still spinning when a bf16 step starts, take the cores the bf16 step splits
its batch over. For each case the two processes take turns, ``--rounds`` times each (which goes
first alternates), each building the model from one seed and timing ``--iterations`` steps on the
same batches after ``--warmup``; medians of all the steps of a precision. The floor of a step is
the time its GEMMs alone take at the rates this machine reaches at their shapes
(benchmarks/gemms.py: float32 through NumPy's BLAS, bf16 through oneDNN), measured in the same
process. Decoding: one model trained ``--train-steps`` steps in float32, saved, and decoded by both.
Needs the ``bf16`` extra and a CPU with bf16 instructions. Writes DATE-precision.json and .md into
--out (default benchmarks/results/precision/).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

from benchmarks import gemms
from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)
from benchmarks.joeynmt_step import CORPUS, batches, corpus_data, ours_step
from s2sxp import Adam, backend, datasets, models, precision
from s2sxp.batches import Sequences

PARTS = ("steps", "book", "decoding")
PRECISIONS = ("fp32", "bf16")


def longest_quarter(data):
    """The training split cut to the quarter of its pairs with the longest targets."""
    lengths = data.t_train.lengths
    rows = numpy.sort(numpy.argsort(-lengths, kind="stable")[:len(lengths) // 4])
    data.x_train, data.t_train = [Sequences([s.seqs[i] for i in rows], s.pad_id)
                                  for s in (data.x_train, data.t_train)]
    return data


def _timed_steps(model, inputs, warmup):
    optimizer = Adam(lr=1e-3)
    times = []
    for i, (xs, ts) in enumerate(inputs):
        start = time.perf_counter()
        ours_step(model, optimizer, xs, ts)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def _floor(products, sizes):
    """The GEMM FLOPs of a step and the seconds they take at this machine's rates; the
    embeddings' gradients, which the layers form by adding rows rather than by a product, left
    out."""
    products = [g for g in products if "embedding: dW" not in g.what]
    rates = gemms.gemm_throughput(products, lambda: None)
    return {"gemm_gflop": sum(g.flops for g in products) / 1e9,
            "floor_s": gemms.gemm_bound(products, rates)}


def _bidirectional(s, cell):
    """The Bahdanau step's GEMMs with a second encoder direction: the encoder RNN's counted
    twice."""
    one = gemms.bahdanau_gemms(s, cell)
    return one + [g for g in one if g.what.startswith("encoder") and "embedding" not in g.what]


def measure(case):
    """In a worker process: the seconds of each timed step (or decoding) of ``case`` at its
    precision, and the GEMM floor of a step."""
    backend.use("numpy", dtype="float32")
    if precision.use(case["precision"]) != case["precision"]:
        raise SystemExit(2)
    if case["part"] == "steps":
        data = corpus_data()
        if case["data"] == "longest quarter":
            data = longest_quarter(data)
        model = models.build("bahdanau", len(data.vocab), 256, 256, cell=case["cell"], seed=0,
                             pad_id=data.vocab.pad_id, source_vocab_size=len(data.source_vocab),
                             bidirectional=True)
        inputs = list(batches(data, case["batch"], case["warmup"] + case["iterations"]))
        times = _timed_steps(model, inputs, case["warmup"])
        T_enc, T_dec = [int(numpy.median(s.lengths)) for s in (data.x_train, data.t_train)]
        sizes = gemms.Sizes(N=case["batch"], T_enc=T_enc, T_dec=T_dec, V=len(data.vocab), D=256,
                            H=256)
        return {"times": times, **_floor(_bidirectional(sizes, case["cell"]), sizes)}
    if case["part"] == "book":
        (x, t), _, vocab = datasets.load("date")
        B = case["batch"]
        model = models.build(case["kind"], len(vocab), 16, 256, cell="lstm", seed=0)
        inputs = [(x[i * B:(i + 1) * B], t[i * B:(i + 1) * B])
                  for i in range(case["warmup"] + case["iterations"])]
        times = _timed_steps(model, inputs, case["warmup"])
        sizes = gemms.Sizes(N=B, T_enc=x.shape[1], T_dec=t.shape[1] - 1, V=len(vocab), D=16,
                            H=256)
        return {"times": times, **_floor(gemms.gemms(case["kind"], "lstm", sizes), sizes)}
    from s2sxp.decoding import DecodeOptions, decode
    data, test = _decoding_data()
    model = _decoding_model(data)
    model.load_params(case["params"])
    options = DecodeOptions(case["beam"], max_length=data.max_output_length)
    times, ids = [], None
    for i in range(1 + case["repeats"]):
        start = time.perf_counter()
        ids = decode(model, test.x, data.vocab.bos_id, data.vocab.eos_id, options).ids
        if i:
            times.append(time.perf_counter() - start)
    return {"times": times, "ids": [list(map(int, row)) for row in ids]}


def _decoding_data():
    from s2sxp.config import TrainConfig
    from s2sxp.data import load_data

    data = corpus_data()
    test = load_data(TrainConfig(
        model="bahdanau", cell="lstm", data=os.path.join(CORPUS, "train.tsv"),
        test=os.path.join(CORPUS, "test.tsv"), tokens="spm", vocab_size=4000, source_column=2,
        seed=0).resolved(), vocab=data.vocab, source_vocab=data.source_vocab).test_set
    return data, test


def _decoding_model(data):
    return models.build("bahdanau", len(data.vocab), 256, 256, cell="gru", seed=0,
                        pad_id=data.vocab.pad_id, source_vocab_size=len(data.source_vocab),
                        bidirectional=True)


def in_turns(case, rounds):
    """{precision: what ``measure`` returned, its times joined over the rounds}: the two
    precisions' worker processes in turns."""
    found = {p: None for p in PRECISIONS}
    for r in range(rounds):
        for p in (PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]):
            done = subprocess.run([sys.executable, "-m", "benchmarks.precision", "--worker",
                                   json.dumps(dict(case, precision=p))],
                                  capture_output=True, text=True, timeout=3600)
            if done.returncode:
                raise RuntimeError(f"the {p} worker of {case} failed:\n{done.stderr}")
            got = json.loads(done.stdout.splitlines()[-1])
            if found[p] is None:
                found[p] = got
            else:
                found[p]["times"] += got["times"]
    return found


def _row(case, found):
    fp32, bf16 = (statistics.median(found[p]["times"]) for p in PRECISIONS)
    row = {k: v for k, v in case.items() if k not in ("warmup", "iterations", "params")}
    row.update(fp32_s=fp32, bf16_s=bf16, ratio=bf16 / fp32,
               samples=len(found["fp32"]["times"]))
    if "floor_s" in found["fp32"]:
        row.update(gemm_gflop=found["fp32"]["gemm_gflop"],
                   floor_fp32_s=found["fp32"]["floor_s"], floor_bf16_s=found["bf16"]["floor_s"])
    return row


def steps(args):
    """Training steps of the Bahdanau LSTM and GRU (bidirectional, embedding and hidden 256), at
    each batch size, on the whole corpus and on its longest quarter."""
    rows = []
    for which in ("all", "longest quarter"):
        for cell in ("gru", "lstm"):
            for batch in args.batch_sizes:
                case = {"part": "steps", "data": which, "model": f"bahdanau-{cell}",
                        "cell": cell, "batch": batch, "warmup": args.warmup,
                        "iterations": args.iterations}
                rows.append(_row(case, in_turns(case, args.rounds)))
                say(f"{which} bahdanau-{cell} batch {batch}: bf16/fp32 {rows[-1]['ratio']:.3f}")
    return rows


def book(args):
    """One iteration of each of the book's models (LSTM, the book's sizes: embedding 16,
    hidden 256, batch 128) on the date data."""
    rows = []
    for kind in ("seq2seq", "peeky", "attention"):
        case = {"part": "book", "data": "date", "model": f"{kind}-lstm", "kind": kind,
                "batch": 128, "warmup": args.warmup, "iterations": args.iterations}
        rows.append(_row(case, in_turns(case, args.rounds)))
        say(f"date {kind}-lstm: bf16/fp32 {rows[-1]['ratio']:.3f}")
    return rows


def decoding(args):
    """Greedy and beam-5 decoding of the corpus's 1,000 test sentences by the Bahdanau GRU
    (bidirectional, 256) after ``--train-steps`` steps of training in float32, the same weights
    in both precisions."""
    data, _ = _decoding_data()
    model = _decoding_model(data)
    optimizer = Adam(lr=1e-3)
    for xs, ts in batches(data, 64, args.train_steps):
        ours_step(model, optimizer, xs, ts)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        params = os.path.join(folder, "params.pkl")
        model.save_params(params)
        for beam in (1, 5):
            case = {"part": "decoding", "model": "bahdanau-gru", "beam": beam,
                    "repeats": args.decode_repeats, "params": params}
            found = in_turns(case, args.rounds)
            row = _row(case, found)
            pairs = list(zip(found["fp32"]["ids"], found["bf16"]["ids"]))
            row.update(sentences=len(pairs), speedup=1 / row["ratio"],
                       same_output=sum(a == b for a, b in pairs) / len(pairs))
            say(f"decoding beam {beam}: bf16 {row['speedup']:.2f}x as fast")
            rows.append(row)
    return rows


def report(record):
    s = record["settings"]
    lines = [f"# bf16 against float32 ({record['date']})", "",
             f"CPU: {record['machine']['cpu']['model']}, {record['machine']['cpu']['cores']} "
             f"cores; each precision in a process of its own, {s['rounds']} rounds each in "
             f"turns, {s['iterations']} timed steps a round after {s['warmup']}; medians. "
             "Floor: the step's GEMMs alone at this machine's rates for their shapes.", ""]
    if record.get("steps") or record.get("book"):
        lines += ["| data | model | batch | fp32 ms | bf16 ms | bf16/fp32 | GEMM GFLOP | "
                  "fp32/floor | bf16/floor |", "|---|---|---|---|---|---|---|---|---|"]
        for r in record.get("steps", []) + record.get("book", []):
            lines.append(f"| {r['data']} | {r['model']} | {r['batch']} | {r['fp32_s'] * 1e3:.1f} | "
                         f"{r['bf16_s'] * 1e3:.1f} | {r['ratio']:.3f} | {r['gemm_gflop']:.2f} | "
                         f"{r['fp32_s'] / r['floor_fp32_s']:.2f} | "
                         f"{r['bf16_s'] / r['floor_bf16_s']:.2f} |")
        lines.append("")
    if record.get("decoding"):
        lines += ["| decoding | fp32 s | bf16 s | bf16 speed-up | same output |",
                  "|---|---|---|---|---|"]
        for r in record["decoding"]:
            lines.append(f"| beam {r['beam']}, {r['sentences']} sentences | {r['fp32_s']:.2f} | "
                         f"{r['bf16_s']:.2f} | {r['speedup']:.2f}x | {r['same_output']:.1%} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.precision",
                                description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--batch-sizes", type=lambda s: [int(b) for b in s.split(",")],
                   default=[64, 128])
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=300,
                   help="float32 training before the decoding part (default %(default)s)")
    p.add_argument("--decode-repeats", type=int, default=2)
    p.add_argument("--out", default=results_folder("precision"))
    p.add_argument("--tag", default="")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return 0
    backend.use("numpy", dtype="float32")
    why = precision.unavailable()
    if why:
        say(f"python -m benchmarks.precision: bf16 {why}")
        return 2
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
              "source": source_info(),
              "settings": {k: v for k, v in vars(args).items()
                           if k not in ("out", "tag", "worker")}}
    for part in args.parts:
        record[part] = globals()[part](args)
    write_record(record_stem(args.out, "precision", args.tag), record, report(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

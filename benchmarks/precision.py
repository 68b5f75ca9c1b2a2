"""bf16 products against float32 on this CPU: the Bahdanau models' training steps on the shared
corpus and on its longest quarter of sentences, the book's three models' iterations on the date
data, greedy and beam-5 decoding of the corpus's test sentences, and each step beside its GEMM
floor at both precisions.

    python -m benchmarks.precision                       # everything, about 15 minutes
    python -m benchmarks.precision --parts steps --iterations 10

Each comparison holds two models built from one seed, one trained or decoding in float32 and one
in bf16, on the same batches, in turns (which goes first alternates); medians of the wall time.
The floor of a step is the time its GEMMs alone take at the rates this machine reaches at their
shapes (benchmarks/gemms.py), float32 through NumPy's BLAS and bf16 through oneDNN. Needs the
``bf16`` extra and a CPU with bf16 instructions. Writes DATE-precision.json and .md into --out
(default benchmarks/results/precision/).
"""
import argparse
import statistics
import time

import numpy

from benchmarks import gemms
from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)
from benchmarks.joeynmt_step import CORPUS, batches, corpus_data
from s2sxp import Adam, backend, clip_grads, datasets, models, precision
from s2sxp.batches import Sequences

PARTS = ("steps", "book", "decoding")


def _step(model, optimizer, xs, ts):
    loss = model.forward(xs, ts)
    model.backward()
    clip_grads([model.flat_grads], 5.0)
    optimizer.step(model)
    return float(loss)


def in_turns(run, inputs, warmup):
    """{precision: [seconds]} of ``run(precision, input)`` for every input, the precisions in
    turns, the first ``warmup`` inputs untimed."""
    times = {"fp32": [], "bf16": []}
    for i, item in enumerate(inputs):
        for p in (("fp32", "bf16") if i % 2 == 0 else ("bf16", "fp32")):
            precision.use(p)
            start = time.perf_counter()
            run(p, item)
            if i >= warmup:
                times[p].append(time.perf_counter() - start)
    precision.use("fp32")
    return times


def _summary(times):
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return {"fp32_s": fp32, "bf16_s": bf16, "ratio": bf16 / fp32, "samples": len(times["fp32"])}


def _floors(products, sizes_of):
    """Seconds of a step's GEMMs at this machine's float32 and bf16 rates."""
    sizes = sizes_of()
    fp32 = gemms.gemm_bound(products(sizes), gemms.gemm_throughput(products(sizes), lambda: None))
    precision.use("bf16")
    try:
        bf16 = gemms.gemm_bound(products(sizes),
                                gemms.gemm_throughput(products(sizes), lambda: None))
    finally:
        precision.use("fp32")
    return {"gemm_gflop": sum(g.flops for g in products(sizes)) / 1e9,
            "floor_fp32_s": fp32, "floor_bf16_s": bf16}


def longest_quarter(data):
    """The training split cut to the quarter of its pairs with the longest targets."""
    lengths = data.t_train.lengths
    rows = numpy.argsort(-lengths, kind="stable")[:len(lengths) // 4]
    rows.sort()
    data.x_train, data.t_train = [Sequences([s.seqs[i] for i in rows], s.pad_id)
                                  for s in (data.x_train, data.t_train)]
    return data


def steps(args):
    """Training steps of the Bahdanau LSTM and GRU (bidirectional, embedding and hidden 256), at
    each batch size, on the whole corpus and on its longest quarter."""
    rows = []
    for which in ("all", "longest quarter"):
        data = corpus_data() if which == "all" else longest_quarter(corpus_data())
        V, S = len(data.vocab), len(data.source_vocab)
        for cell in ("gru", "lstm"):
            for batch_size in args.batch_sizes:
                built = {p: models.build("bahdanau", V, 256, 256, cell=cell, seed=0,
                                         pad_id=data.vocab.pad_id, source_vocab_size=S,
                                         bidirectional=True) for p in ("fp32", "bf16")}
                optimizers = {p: Adam(lr=1e-3) for p in built}
                inputs = list(batches(data, batch_size, args.warmup + args.iterations))
                times = in_turns(lambda p, b: _step(built[p], optimizers[p], *b), inputs,
                                 args.warmup)
                xs, ts = inputs[-1]
                T_enc, T_dec = [int(numpy.median(a.lengths)) for a in (data.x_train,
                                                                       data.t_train)]

                def sizes(N=batch_size, T_enc=T_enc, T_dec=T_dec, V=V):
                    return gemms.Sizes(N=N, T_enc=T_enc, T_dec=T_dec, V=V, D=256, H=256)

                row = {"data": which, "model": f"bahdanau-{cell}", "batch": batch_size,
                       **_summary(times),
                       **_floors(lambda s, cell=cell: _bidirectional(s, cell), sizes)}
                say(f"{which} {row['model']} batch {batch_size}: bf16/fp32 {row['ratio']:.3f}")
                rows.append(row)
    return rows


def _bidirectional(s, cell):
    """The Bahdanau step's GEMMs with a second encoder direction: the encoder's counted twice."""
    one = gemms.bahdanau_gemms(s, cell)
    return one + [g for g in one if g.what.startswith("encoder")]


def book(args):
    """One iteration of each of the book's models (LSTM, the book's sizes: embedding 16,
    hidden 256, batch 128) on the date data."""
    (x, t), _, vocab = datasets.load("date")
    rows = []
    B = 128
    for kind in ("seq2seq", "peeky", "attention"):
        built = {p: models.build(kind, len(vocab), 16, 256, cell="lstm", seed=0)
                 for p in ("fp32", "bf16")}
        optimizers = {p: Adam(lr=1e-3) for p in built}
        inputs = [(x[i * B:(i + 1) * B], t[i * B:(i + 1) * B])
                  for i in range(args.warmup + args.iterations)]
        times = in_turns(lambda p, b: _step(built[p], optimizers[p], *b), inputs, args.warmup)
        T_enc, T_dec = x.shape[1], t.shape[1] - 1

        def sizes(V=len(vocab)):
            return gemms.Sizes(N=B, T_enc=T_enc, T_dec=T_dec, V=V, D=16, H=256)

        row = {"data": "date", "model": f"{kind}-lstm", "batch": B, **_summary(times),
               **_floors(lambda s, kind=kind: gemms.gemms(kind, "lstm", s), sizes)}
        say(f"date {row['model']}: bf16/fp32 {row['ratio']:.3f}")
        rows.append(row)
    return rows


def decoding(args):
    """Greedy and beam-5 decoding of the corpus's 1,000 test sentences by the Bahdanau GRU
    (bidirectional, 256) after ``--train-steps`` steps of training in float32, the same weights
    in both precisions."""
    import os

    from s2sxp.config import TrainConfig
    from s2sxp.data import load_data
    from s2sxp.decoding import DecodeOptions, decode

    data = corpus_data()
    test = load_data(TrainConfig(
        model="bahdanau", cell="gru", data=os.path.join(CORPUS, "train.tsv"),
        test=os.path.join(CORPUS, "test.tsv"), tokens="spm", vocab_size=4000, source_column=2,
        seed=0).resolved(), vocab=data.vocab, source_vocab=data.source_vocab).test_set
    model = models.build("bahdanau", len(data.vocab), 256, 256, cell="gru", seed=0,
                         pad_id=data.vocab.pad_id, source_vocab_size=len(data.source_vocab),
                         bidirectional=True)
    optimizer = Adam(lr=1e-3)
    for xs, ts in batches(data, 64, args.train_steps):
        _step(model, optimizer, xs, ts)
    rows = []
    for beam in (1, 5):
        options = DecodeOptions(beam, max_length=data.max_output_length)
        outputs = {}

        def run(p, _, options=options):
            outputs[p] = decode(model, test.x, data.vocab.bos_id, data.vocab.eos_id, options).ids

        times = in_turns(run, range(1 + args.decode_repeats), 1)
        same = sum(numpy.array_equal(a, b) for a, b in zip(outputs["fp32"], outputs["bf16"]))
        row = {"data": "test", "model": "bahdanau-gru", "beam": beam, **_summary(times),
               "sentences": len(test.x), "same_output": same / len(test.x)}
        row["speedup"] = 1 / row["ratio"]
        say(f"decoding beam {beam}: bf16 {row['speedup']:.2f}x as fast")
        rows.append(row)
    return rows


def report(record):
    lines = [f"# bf16 against float32 ({record['date']})", "",
             f"CPU: {record['machine']['cpu']}; oneDNN bf16 products; "
             f"{record['settings']['iterations']} timed steps after "
             f"{record['settings']['warmup']}, precisions in turns, medians.", ""]
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
    p.add_argument("--iterations", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=300,
                   help="float32 training before the decoding part (default %(default)s)")
    p.add_argument("--decode-repeats", type=int, default=2)
    p.add_argument("--out", default=results_folder("precision"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    backend.use("numpy", dtype="float32")
    if precision.use("bf16") != "bf16":
        return 2
    precision.use("fp32")
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
              "source": source_info(),
              "settings": {k: v for k, v in vars(args).items() if k not in ("out", "tag")}}
    for part in args.parts:
        record[part] = globals()[part](args)
    write_record(record_stem(args.out, "precision", args.tag), record, report(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One training iteration of BahdanauSeq2seq beside AttentionSeq2seq, same cell, same batches.

    nice -n 19 python benchmarks/bahdanau_iteration.py               # H=256, D=16, batch 128
    python benchmarks/bahdanau_iteration.py --iterations 20 --cells gru

Each iteration is forward, backward, clipping at 5.0 and an Adam step. After two warm-up
iterations, the models take turns (the order rotating every round) on the same batches of the
date data, so that the load of other processes falls on all of them alike. Medians of the wall
time are printed, and of the CPU time of this process, which on a shared machine counts less of
the other processes' load (with one thread, OPENBLAS_NUM_THREADS=1, it is the time the iteration
computed).
"""
import argparse
import statistics
import time

import numpy

from s2sxp import Adam, backend, clip_grads, datasets
from s2sxp.models import AttentionSeq2seq, BahdanauSeq2seq


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--wordvec-size", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--cells", default="gru,lstm")
    args = p.parse_args()

    (x, t), _, vocab = datasets.load("date")
    V, D, H, B = len(vocab), args.wordvec_size, args.hidden_size, args.batch_size
    runs = {}
    for cell in args.cells.split(","):
        runs[f"attention-{cell}"] = AttentionSeq2seq(V, D, H, cell=cell, seed=0)
        runs[f"bahdanau-{cell}"] = BahdanauSeq2seq(V, D, H, cell=cell, seed=0)
    optimizers = {name: Adam(lr=1e-3) for name in runs}

    def iteration(name, i):
        model = runs[name]
        batch = slice(i * B % (len(x) - B), i * B % (len(x) - B) + B)
        start, start_cpu = time.perf_counter(), time.process_time()
        loss = model.forward(x[batch], t[batch])
        model.backward()
        clip_grads([model.flat_grads], 5.0)
        optimizers[name].step(model)
        float(loss)
        return time.perf_counter() - start, time.process_time() - start_cpu

    names = list(runs)
    for i in range(2):
        for name in names:
            iteration(name, i)
    samples = {name: [] for name in names}
    for r in range(args.iterations):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            samples[name].append(iteration(name, 2 + r))

    wall = {name: 1e3 * statistics.median(s[0] for s in runs) for name, runs in samples.items()}
    cpu = {name: 1e3 * statistics.median(s[1] for s in runs) for name, runs in samples.items()}
    print(f"backend {backend.name()} {numpy.dtype(backend.dtype).name}, H={H}, D={D}, "
          f"batch {B}, median of {args.iterations} interleaved iterations")
    print(f"  {'':16s} {'wall':>8s}          {'cpu':>8s}")
    for name in names:
        base = f"attention-{name.split('-')[1]}"
        print(f"  {name:16s} {wall[name]:6.1f} ms {wall[name] / wall[base]:5.2f}x   "
              f"{cpu[name]:6.1f} ms {cpu[name] / cpu[base]:5.2f}x   (x: of {base})")


if __name__ == "__main__":
    main()

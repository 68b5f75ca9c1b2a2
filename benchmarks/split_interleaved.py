"""Training iterations of a fused model split over the cores (S2S_THREADS=2) and unsplit
(S2S_THREADS=1, BLAS's own threads), each right after an iteration of the per-step reference (the
book's code, multi-threaded BLAS), alternating in one process; then batched greedy evaluation of
the 500 held-out questions of 5,000 the same way.

    python -m benchmarks.split_interleaved seq2seq peeky attention

Prints, per model, the median ms per iteration of the reference and of both settings, their
ratios to the reference, and the best evaluation time of each setting.
"""
import os
import statistics
import sys
import time

import numpy

from s2sxp import backend

from .epoch_cost import Settings, load_data
from .harness import Ours

SETTINGS = {"split": "2", "unsplit": "1"}


def measure(kind, data, rounds=14, warmup=2):
    (x, t), (x_eval, t_eval), vocab = data
    reference = Ours(kind, "lstm", len(vocab), 16, 256, impl="reference")
    ours = {name: Ours(kind, "lstm", len(vocab), 16, 256) for name in SETTINGS}
    rng = numpy.random.default_rng(0)
    train = {name: [] for name in ["reference", *SETTINGS]}
    for r in range(rounds):
        for name, threads in SETTINGS.items():
            batch = rng.choice(len(x), 128, replace=False)
            start = time.perf_counter()
            reference.step(x[batch], t[batch])
            middle = time.perf_counter()
            os.environ["S2S_THREADS"] = threads
            ours[name].step(x[batch], t[batch])
            end = time.perf_counter()
            if r >= warmup:
                train["reference"].append(middle - start)
                train[name].append(end - middle)
    evals = {name: [] for name in SETTINGS}
    for _ in range(3):
        for name, threads in SETTINGS.items():
            batch = rng.choice(len(x), 128, replace=False)
            reference.step(x[batch], t[batch])
            os.environ["S2S_THREADS"] = threads
            start = time.perf_counter()
            ours[name].evaluate(x_eval, t_eval)
            evals[name].append(time.perf_counter() - start)
    ms = {k: 1e3 * statistics.median(v) for k, v in train.items()}
    ratios = ", ".join(f"{k} {ms[k] / ms['reference']:.2f}" for k in SETTINGS)
    best = ", ".join(f"{k} {min(v):.2f} s" for k, v in evals.items())
    print(f"{kind}: ms/iteration " + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
          + f"; ours/reference {ratios}; evaluation of {len(x_eval)} questions {best}",
          flush=True)


def main():
    backend.use("numpy", "float32")
    data = load_data(Settings(questions=5000, eval_questions=500))
    for kind in sys.argv[1:] or ["seq2seq", "peeky", "attention"]:
        measure(kind, data)


if __name__ == "__main__":
    main()

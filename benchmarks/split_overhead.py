"""What the batch split over threads costs a fused Time LSTM step beyond its arithmetic: the step
loop run by one thread over half the batch against the whole batch split over two threads, which
each run that same loop, so that any difference is the price of the two threads sharing one
interpreter (the GIL passing between them at every NumPy call). A small hidden size leaves almost
nothing but that price; H=256 is the book's size.

    python benchmarks/split_overhead.py [--hidden-sizes 8,256] [--rounds 15]

Prints, for each hidden size, the median microseconds per time step (T=29) of forward and
backward in both settings, taken in alternating rounds.
"""
import argparse
import os
import statistics
import time

import numpy

from s2sxp import parallel
from s2sxp.kernels import lstm


def layer_inputs(rng, N, T, D, H):
    f = numpy.float32
    return ((rng.standard_normal((N, T, D))).astype(f), numpy.zeros((N, H), f),
            numpy.zeros((N, H), f), (rng.standard_normal((D, 4 * H)) / 4).astype(f),
            (rng.standard_normal((H, 4 * H)) / 16).astype(f), numpy.zeros(4 * H, f),
            (rng.standard_normal((N, T, H)) * 0.1).astype(f))


def step_times(inputs, threads, T):
    """(forward, backward) seconds of one call each, the batch split over ``threads``."""
    xs, h0, c0, Wx, Wh, b, dhs = inputs
    os.environ["S2S_THREADS"] = str(threads)
    with parallel.blas_threads(1):
        start = time.perf_counter()
        _, _, cache = lstm.forward(xs, h0, c0, Wx, Wh, b)
        middle = time.perf_counter()
        lstm.backward(dhs, None, None, cache)
        end = time.perf_counter()
    return (middle - start) / T, (end - middle) / T


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden-sizes", default="8,256", help="comma-separated (default 8,256)")
    p.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    args = p.parse_args(argv)
    rng = numpy.random.default_rng(0)
    N, T, D = 128, 29, 16
    saved = os.environ.get("S2S_THREADS")
    try:
        for H in [int(h) for h in args.hidden_sizes.split(",")]:
            half, whole = layer_inputs(rng, N // 2, T, D, H), layer_inputs(rng, N, T, D, H)
            settings = {f"1 thread, {N // 2} rows": (half, 1), f"2 threads, {N} rows": (whole, 2)}
            samples = {name: [] for name in settings}
            for r in range(args.rounds + 2):
                for name, (inputs, threads) in settings.items():
                    times = step_times(inputs, threads, T)
                    if r >= 2:                                # two warm-up rounds
                        samples[name].append(times)
            print(f"H={H}, T={T}: microseconds per time step (median of {args.rounds})")
            for name, times in samples.items():
                fwd = 1e6 * statistics.median(t[0] for t in times)
                bwd = 1e6 * statistics.median(t[1] for t in times)
                print(f"  {name:22s} forward {fwd:8.1f}   backward {bwd:8.1f}")
    finally:
        if saved is None:
            os.environ.pop("S2S_THREADS", None)
        else:
            os.environ["S2S_THREADS"] = saved


if __name__ == "__main__":
    main()

"""How much a fused Time LSTM (forward and backward, T=29, batch 128, H=256, float32) loses when it
starts right after a multi-threaded BLAS call, whose OpenBLAS threads then spin for a while and
hold the cores the layer's batch split needs; and how a pause before it avoids that.

    python benchmarks/blas_spin.py

Prints the median of 12 timings in each of four settings.
"""
import statistics
import time

import numpy

from s2sxp import parallel
from s2sxp.kernels import lstm


def main():
    rng = numpy.random.default_rng(0)
    N, T, D, H = 128, 29, 16, 256
    f = numpy.float32
    xs = rng.standard_normal((N, T, D)).astype(f)
    Wx = (rng.standard_normal((D, 4 * H)) / 4).astype(f)
    Wh = (rng.standard_normal((H, 4 * H)) / 16).astype(f)
    b = numpy.zeros(4 * H, f)
    h0 = numpy.zeros((N, H), f)
    dhs = rng.standard_normal((N, T, H)).astype(f)
    A = rng.standard_normal((512, 512)).astype(f)

    def layer():
        with parallel.region(numpy):
            _, _, cache = lstm.forward(xs, h0, h0, Wx, Wh, b)
            lstm.backward(dhs, None, None, cache)

    def timed(before):
        samples = []
        for _ in range(12):
            before()
            start = time.perf_counter()
            layer()
            samples.append(time.perf_counter() - start)
        return 1e3 * statistics.median(samples)

    layer()
    print(f"threads for the batch split: {parallel.threads()}")
    print(f"  back to back                     {timed(lambda: None):6.1f} ms")
    print(f"  right after a 512^3 GEMM         {timed(lambda: A @ A):6.1f} ms")
    print(f"  after the GEMM and 0.2 s pause   {timed(lambda: (A @ A, time.sleep(0.2))):6.1f} ms")
    print(f"  after a 0.2 s pause              {timed(lambda: time.sleep(0.2)):6.1f} ms")


if __name__ == "__main__":
    main()

"""The GEMMs of one training iteration of each model family, listed from the sizes alone, and the
rates this machine reaches at their shapes.

Each distinct shape is timed as one GEMM with BLAS's own threads and, on a multi-core CPU, as one
single-threaded GEMM per core at once; the best rate seen at a shape gives that shape's share of
the GEMM bound, the time the iteration's GEMMs alone would take on this machine.
"""
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy

from s2sxp import backend, precision
from s2sxp.layers import CELLS
from s2sxp.parallel import blas_threads


@dataclass(frozen=True)
class Sizes:
    """N batch, T_enc question length, T_dec decoder steps, V vocabulary, D word vector,
    H hidden."""
    N: int
    T_enc: int
    T_dec: int
    V: int
    D: int
    H: int


@dataclass(frozen=True)
class Gemm:
    """C (m, n) = op(A) (m, k) · op(B) (k, n), ``batch`` of them at once, ``count`` times per
    iteration. ``a_t`` (``b_t``): A (B) is stored as a contiguous (k, m) ((n, k)) array and used
    transposed, as the kernels do for the gradients."""
    what: str
    m: int
    k: int
    n: int
    count: int = 1
    batch: int = 1
    a_t: bool = False
    b_t: bool = False
    backward: bool = False

    @property
    def flops(self):
        return 2 * self.batch * self.m * self.k * self.n * self.count

    @property
    def shape(self):
        return (self.batch, self.m, self.k, self.n, self.a_t, self.b_t)

    @property
    def label(self):
        a = f"({self.k},{self.m})ᵀ" if self.a_t else f"({self.m},{self.k})"
        b = f"({self.n},{self.k})ᵀ" if self.b_t else f"({self.k},{self.n})"
        return (f"{self.batch}×" if self.batch > 1 else "") + f"{a}·{b}"


def _product(what, m, k, n):
    """Y = X·W for X (m, k), W (k, n), and its backward dX = dY·Wᵀ, dW = Xᵀ·dY."""
    return [Gemm(what, m, k, n),
            Gemm(f"{what}: dX", m, n, k, b_t=True, backward=True),
            Gemm(f"{what}: dW", k, m, n, a_t=True, backward=True)]


def _per_step(what, m, T, k, n):
    """Y_t = X_t·W for X_t (m, k) at each of T steps; backward dX_t = dY_t·Wᵀ at each step and
    dW = Xᵀ·dY once over all steps, as the fused kernels do it."""
    return [Gemm(what, m, k, n, count=T),
            Gemm(f"{what}: dX", m, n, k, count=T, b_t=True, backward=True),
            Gemm(f"{what}: dW", k, T * m, n, a_t=True, backward=True)]


def _embedding(where, s, T):
    """The embedding's gradient over T steps of N ids as one product onehot(ids)ᵀ·dout,
    (V, T·N)·(T·N, D) (layers/basic.py)."""
    return [Gemm(f"{where} embedding: dW", s.V, T * s.N, s.D, backward=True)]


def _recurrent(where, s, T, cell):
    """h_prev·Wh at each step: (N, H)·(H, 4H) for the LSTM; for the GRU (N, H)·(H, 2H) for
    [Whz|Whr] and (N, H)·(H, H) for Whh on r⊙h_prev."""
    H = s.H
    return [g for n in ([4 * H] if cell == "lstm" else [2 * H, H])
            for g in _per_step(f"{where} h·Wh", s.N, T, H, n)]


def _rnn(where, s, T, D_in, cell):
    """A Time LSTM/GRU over T steps as the fused kernels run it: x·Wx for all steps in one
    product, h_prev·Wh at each step."""
    gates = CELLS[cell][1]
    return _product(f"{where} x·Wx", T * s.N, D_in, gates * s.H) + _recurrent(where, s, T, cell)


def _attention(s):
    """Dot attention of T_dec queries over T_enc states, one (T_dec, T_enc) product per sequence:
    scores hs_dec·hs_encᵀ and contexts a·hs_enc; backward da = dc·hs_encᵀ,
    dhs_enc = aᵀ·dc + dsᵀ·hs_dec, dhs_dec = ds·hs_enc."""
    N, Te, Td, H = s.N, s.T_enc, s.T_dec, s.H
    return [Gemm("attention hs_dec·hs_encᵀ", Td, H, Te, batch=N, b_t=True),
            Gemm("attention a·hs_enc", Td, Te, H, batch=N),
            Gemm("attention dc·hs_encᵀ", Td, H, Te, batch=N, b_t=True, backward=True),
            Gemm("attention aᵀ·dc", Te, Td, H, batch=N, a_t=True, backward=True),
            Gemm("attention dsᵀ·hs_dec", Te, Td, H, batch=N, a_t=True, backward=True),
            Gemm("attention ds·hs_enc", Td, Te, H, batch=N, backward=True)]


def seq2seq_gemms(s, cell, peeky=False):
    """Seq2seq and PeekySeq2seq (book, ch. 7), per training iteration of a batch of N:

    - encoder RNN over T_enc steps, input D: x·Wx (T_enc·N, D)·(D, G·H) once, h·Wh (N, H)·(H, G·H)
      per step;
    - decoder RNN over T_dec steps, input D;
    - Peeky: the encoder state h beside each decoder input, its rows of Wx applied once per
      sequence, (N, H)·(H, G·H), as the fused layer does (the book's concatenation at every step,
      (T_dec·N, H + D)·(H + D, G·H), costs about 2 GFLOP more per iteration at the book's sizes);
    - output affine (T_dec·N, H)·(H, V) (Peeky: 2H, h beside each output);
    - backward: for each product X·W, dX = dY·Wᵀ and dW = Xᵀ·dY, twice its FLOPs; the
      embeddings' gradients as one-hot products.

    G is 4 for the LSTM, 3 for the GRU. A product (m, k)·(k, n) is 2mkn FLOPs. The embedding
    look-ups, the elementwise gate work, softmax, loss, clipping and Adam are not GEMMs and are
    not counted.
    """
    gates = CELLS[cell][1]
    products = (_rnn("encoder", s, s.T_enc, s.D, cell) + _rnn("decoder", s, s.T_dec, s.D, cell)
                + _embedding("encoder", s, s.T_enc) + _embedding("decoder", s, s.T_dec))
    if peeky:
        products += _product("decoder peek·Wx", s.N, s.H, gates * s.H)
    affine_in = 2 * s.H if peeky else s.H
    return products + _product("affine", s.T_dec * s.N, affine_in, s.V)


def peeky_gemms(s, cell):
    """PeekySeq2seq: :func:`seq2seq_gemms` with ``peeky=True``."""
    return seq2seq_gemms(s, cell, peeky=True)


def attention_gemms(s, cell):
    """AttentionSeq2seq (book, ch. 8): the encoder and decoder RNNs of :func:`seq2seq_gemms`;
    dot attention of the T_dec decoder states over the T_enc encoder states, two batched
    (T_dec, H)·(H, T_enc)-sized products forward and four backward; output affine
    (T_dec·N, 2H)·(2H, V) over [context | state]."""
    return (_rnn("encoder", s, s.T_enc, s.D, cell) + _rnn("decoder", s, s.T_dec, s.D, cell)
            + _embedding("encoder", s, s.T_enc) + _embedding("decoder", s, s.T_dec)
            + _attention(s) + _product("affine", s.T_dec * s.N, 2 * s.H, s.V))


def bahdanau_gemms(s, cell):
    """BahdanauSeq2seq (models/bahdanau.py, kernels/additive.py) as its fused path runs it:

    - encoder RNN over T_enc steps, input D, as in :func:`seq2seq_gemms`;
    - attention keys hs_enc·W1 (N·T_enc, H)·(H, H) once; at each of the T_dec decoder steps the
      query s_t·W2 (N, H)·(H, H), the scores y·W3 (N·T_enc, H)·(H, 1) and the context a·hs_enc,
      N products (1, T_enc)·(T_enc, H);
    - decoder cell on [context | embedding]: the embedding rows (T_dec·N, D)·(D, G·H) once, the
      context rows (N, H)·(H, G·H) and h·Wh at each step;
    - affine (T_dec·N, H)·(H, V);
    - backward: for each product, two of the same FLOPs, the weight gradients once over all
      steps. The scores' dX, ds ⊗ W3, is an outer product the kernel forms elementwise; it is
      counted as the (N·T_enc, 1)·(1, H) product it is.

    With ``reset_state_each_step=True`` the model skips h·Wh; this counts the default.
    """
    N, Te, Td, H = s.N, s.T_enc, s.T_dec, s.H
    gates = CELLS[cell][1]
    return (_rnn("encoder", s, Te, s.D, cell)
            + _embedding("encoder", s, Te) + _embedding("decoder", s, Td)
            + _product("attention keys hs_enc·W1", N * Te, H, H)
            + _per_step("attention query s·W2", N, Td, H, H)
            + _per_step("attention scores y·W3", N * Te, Td, H, 1)
            + [Gemm("attention context a·hs_enc", 1, Te, H, count=Td, batch=N),
               Gemm("attention da = hs_enc·dc", Te, H, 1, count=Td, batch=N, backward=True),
               Gemm("attention dhs_enc = aᵀ·dc", Te, Td, H, batch=N, a_t=True, backward=True)]
            + _product("decoder embedding·Wx", Td * N, s.D, gates * H)
            + _per_step("decoder context·Wx", N, Td, H, gates * H)
            + _recurrent("decoder", s, Td, cell)
            + _product("affine", Td * N, H, s.V))


#: The GEMMs of each model family; a family missing here is timed without a FLOP count.
GEMM_FAMILIES = {"seq2seq": seq2seq_gemms, "peeky": peeky_gemms, "attention": attention_gemms,
                 "bahdanau": bahdanau_gemms}


def gemms(kind, cell, sizes):
    """Every GEMM of one training iteration of model ``kind`` (a list of Gemm), or None."""
    family = GEMM_FAMILIES.get(kind)
    return None if family is None else family(sizes, cell)


def flops_per_iteration(kind, cell, sizes):
    """GEMM FLOPs of one training iteration, forward and backward, or None (see ``gemms``)."""
    products = gemms(kind, cell, sizes)
    return None if products is None else sum(g.flops for g in products)


def _operands(g, xp, rng):
    """Arrays for one Gemm, laid out as its flags say: (A view, B view, C)."""
    def array(rows, cols, transposed):
        shape = (cols, rows) if transposed else (rows, cols)
        if g.batch > 1:
            shape = (g.batch,) + shape
        a = backend.to_device(rng.standard_normal(shape), numpy.float32)
        return a.swapaxes(-1, -2) if transposed else a

    out_shape = (g.batch, g.m, g.n) if g.batch > 1 else (g.m, g.n)
    return array(g.m, g.k, g.a_t), array(g.k, g.n, g.b_t), xp.empty(out_shape, dtype=numpy.float32)


def _repeat(run, calls, sync, samples):
    """Seconds per call of ``run(calls)``, one figure per sample."""
    per_call = []
    for _ in range(samples):
        start = time.perf_counter()
        run(calls)
        sync()
        per_call.append((time.perf_counter() - start) / calls)
    return per_call


def gemm_throughput(products, sync, cores=1, min_seconds=0.01, samples=5):
    """GFLOP/s at each distinct shape of ``products`` on the active backend, as one GEMM with
    BLAS's own threads and, when ``cores`` > 1, as ``cores`` single-threaded GEMMs at once (one
    per core, each on its own operands: what a kernel that splits the batch over the cores gets).
    Returns {shape: figures}; "gflops" is the better of the two medians. The products are those of
    the precision in force (s2sxp.precision), their operands converted beforehand where it
    converts them (as a weight is, once per step)."""
    xp = backend.xp
    mm = precision.products(xp)
    rng = numpy.random.default_rng(0)
    pool = ThreadPoolExecutor(cores) if cores > 1 else None
    rates = {}
    try:
        for g in products:
            if g.shape in rates:
                continue
            one = Gemm(g.what, g.m, g.k, g.n, batch=g.batch, a_t=g.a_t, b_t=g.b_t)
            operands = [(mm.operand(a), mm.operand(b), c)
                        for a, b, c in (_operands(g, xp, rng) for _ in range(cores))]

            def single(calls, a=operands[0]):
                for _ in range(calls):
                    mm.matmul(*a[:2], out=a[2])

            single(1)
            sync()
            start = time.perf_counter()
            single(1)
            sync()
            calls = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))
            figures = {"shape": one.label, "batch": g.batch, "m": g.m, "k": g.k, "n": g.n,
                       "a_t": g.a_t, "b_t": g.b_t, "example": g.what}
            per_call = _repeat(single, calls, sync, samples)
            figures["one_gflops"] = one.flops / float(numpy.median(per_call)) / 1e9
            figures["split_gflops"] = None
            if pool is not None:
                def split(calls):
                    with blas_threads(1):
                        jobs = [pool.submit(single, calls, a) for a in operands]
                        for job in jobs:
                            job.result()

                per_call = _repeat(split, calls, sync, samples)
                figures["split_gflops"] = cores * one.flops / float(numpy.median(per_call)) / 1e9
            figures["gflops"] = max(figures["one_gflops"], figures["split_gflops"] or 0.0)
            figures["seconds"] = one.flops / figures["gflops"] / 1e9
            rates[g.shape] = figures
    finally:
        if pool is not None:
            pool.shutdown()
    return rates


def gemm_bound(products, rates):
    """Seconds the GEMMs of ``products`` take at the rates measured for their shapes."""
    return sum(g.count * rates[g.shape]["seconds"] for g in products)

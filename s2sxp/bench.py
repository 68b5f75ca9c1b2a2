"""What one epoch of each model costs, measured side by side with the book's per-step reference and
an equivalent PyTorch model (``s2sxp bench``, ``benchmarks/epoch_cost.py``).

For each model (every entry of ``models.MODELS``: the book's three with an LSTM, any other family
once per cell) and each device (the CPU; the GPU when CuPy has one), at the book's sizes (date
data, V=59, D=16, H=256, batch 128, Adam, gradients clipped at 5.0), these variants are timed::

    ours        the model as users build it (impl="fused")
    reference   the same model built from the per-step kernels (impl="reference"), the book's code
    torch       the same architecture in PyTorch: nn.Embedding, nn.LSTM/nn.GRU (batch_first; cuDNN
                on a GPU), torch.bmm for attention, nn.Linear, cross-entropy, Adam, clip_grad_norm_

After a warm-up, one training iteration of every (model, variant) is timed in turn, round-robin,
each repeat on the next batch of the same seeded sequence and starting one place further along,
so that the load of other processes falls on all of them alike; with no pause between them by
default, so that each variant runs after the other variants' BLAS work, as a model does in a
user's process (``--settle`` pauses instead). Medians give the epoch cost
(``len(train) // batch`` iterations) and the ratios; batched greedy evaluation of the test
questions is timed the same way. Results go to stdout (Markdown) and to ``--out`` as
DATE-DEVICE.json, .md and .png.

Every GEMM of a training iteration is listed from the sizes alone (``gemms``, one function per
model family). Each distinct shape is timed at the start and at the end of a device's run, as one
GEMM with BLAS's own threads and, on a multi-core CPU, as one single-threaded GEMM per core at
once; the best rate seen at a shape gives that shape's share of the GEMM bound, the time the
iteration's GEMMs alone would take on this machine.
"""
import argparse
import cProfile
import datetime
import json
import os
import platform
import pstats
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy

from . import backend, datasets, models
from .io import atomic_write
from .layers import CELLS
from .optim import Adam, clip_grads
from .parallel import blas_threads
from .trainer import evaluate

BOOK_MODELS = ("seq2seq", "peeky", "attention")
TORCH_TWINS = BOOK_MODELS + ("bahdanau",)
VARIANTS = ("ours", "reference", "torch")
LABELS = {"ours": "s2sxp", "reference": "s2sxp reference", "torch": "PyTorch"}
COLORS = {"ours": "#1f77b4", "reference": "#ff7f0e", "torch": "#2ca02c"}
EVAL_BATCH = 1000  # trainer.evaluate's default
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
              "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


@dataclass
class Settings:
    """One benchmark run; the defaults are the book's sizes."""
    models: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    iterations: int = 15
    warmup: int = 2
    eval_repeats: int = 3
    eval_questions: int = 5000
    questions: int = 50000
    batch_size: int = 128
    wordvec_size: int = 16
    hidden_size: int = 256
    max_grad: float = 5.0
    torch: bool = True
    torch_threads: int = 0
    reference: bool = True
    eval_reference: bool = False
    settle: float = 0.0
    profile: bool = False
    quick: bool = False
    seed: int = 0
    out: str = os.path.join("benchmarks", "results")
    tag: str = ""


#: ``--quick``: small models and few questions, for a smoke test of the whole script.
QUICK = dict(iterations=3, warmup=1, eval_repeats=1, eval_questions=64, questions=800,
             batch_size=16, wordvec_size=8, hidden_size=16, settle=0.0)


# ---------------------------------------------------------------------------------------------
# The GEMMs of one training iteration

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
    Returns {shape: figures}; "gflops" is the better of the two medians."""
    xp = backend.xp
    rng = numpy.random.default_rng(0)
    pool = ThreadPoolExecutor(cores) if cores > 1 else None
    rates = {}
    try:
        for g in products:
            if g.shape in rates:
                continue
            one = Gemm(g.what, g.m, g.k, g.n, batch=g.batch, a_t=g.a_t, b_t=g.b_t)
            operands = [_operands(g, xp, rng) for _ in range(cores)]

            def single(calls, a=operands[0]):
                for _ in range(calls):
                    xp.matmul(*a[:2], out=a[2])

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


# ---------------------------------------------------------------------------------------------
# The variants

class Ours:
    """A model of ours trained as Trainer.fit does it: forward, backward, clip, Adam."""

    def __init__(self, kind, cell, impl, s, max_grad, seed):
        self.model = models.build(kind, s.V, s.D, s.H, cell=cell, impl=impl, seed=seed)
        self.optimizer = Adam()
        self.max_grad = max_grad

    def step(self, x, t):
        model = self.model
        model.forward(x, t)
        model.backward()
        clip_grads([model.flat_grads], self.max_grad)
        self.optimizer.step(model)

    def evaluate(self, x, t):
        return evaluate(self.model, x, t, batch_size=EVAL_BATCH)[0]


def _torch_modules(torch):
    """The PyTorch twins of our model families, defined on the ``torch`` module given."""
    nn, F = torch.nn, torch.nn.functional

    class TorchSeq2seq(nn.Module):
        """Seq2seq, PeekySeq2seq or AttentionSeq2seq (``kind``) laid out as the book's: the
        decoder starts from the encoder's last hidden state (and a zero cell state)."""

        def __init__(self, kind, V, D, H, cell):
            super().__init__()
            rnn = nn.LSTM if cell == "lstm" else nn.GRU
            self.kind, self.cell, self.H = kind, cell, H
            self.enc_embed = nn.Embedding(V, D)
            self.enc_rnn = rnn(D, H, batch_first=True)
            self.dec_embed = nn.Embedding(V, D)
            self.dec_rnn = rnn(H + D if kind == "peeky" else D, H, batch_first=True)
            self.affine = nn.Linear(H if kind == "seq2seq" else 2 * H, V)

        def encode(self, xs):
            hs, _ = self.enc_rnn(self.enc_embed(xs))                  # (N, T_enc, H)
            h = hs[:, -1, :]
            state = h[None].contiguous()                              # (1, N, H)
            if self.cell == "lstm":
                state = (state, torch.zeros_like(state))
            return hs, h, state

        def decode(self, ids, hs_enc, h, state):
            N, T = ids.shape
            x = self.dec_embed(ids)                                   # (N, T, D)
            if self.kind == "peeky":
                peek = h[:, None, :].expand(N, T, self.H)
                x = torch.cat((peek, x), dim=2)
            out, state = self.dec_rnn(x, state)                       # (N, T, H)
            if self.kind == "peeky":
                out = torch.cat((peek, out), dim=2)
            elif self.kind == "attention":
                a = torch.softmax(torch.bmm(out, hs_enc.transpose(1, 2)), dim=2)  # (N, T, T_enc)
                out = torch.cat((torch.bmm(a, hs_enc), out), dim=2)
            return self.affine(out), state

        def forward(self, xs, ts):
            hs_enc, h, state = self.encode(xs)
            score, _ = self.decode(ts[:, :-1], hs_enc, h, state)
            return F.cross_entropy(score.reshape(-1, score.shape[-1]), ts[:, 1:].reshape(-1))

        def generate(self, xs, start_id, sample_size):
            with torch.no_grad():
                hs_enc, h, state = self.encode(xs)
                ids = torch.full((xs.shape[0], 1), start_id, dtype=torch.long, device=xs.device)
                sampled = []
                for _ in range(sample_size):
                    score, state = self.decode(ids, hs_enc, h, state)
                    ids = score.argmax(dim=2)
                    sampled.append(ids)
                return torch.cat(sampled, dim=1)

    class TorchBahdanau(nn.Module):
        """BahdanauSeq2seq (models/bahdanau.py, default options): s_0 the sum of the encoder
        states, additive attention queried by s_t, an nn.GRUCell/nn.LSTMCell on
        [context | embedding] one step at a time (the attention feeds every step's input)."""

        def __init__(self, kind, V, D, H, cell):
            super().__init__()
            self.cell = cell
            self.enc_embed = nn.Embedding(V, D)
            self.enc_rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(D, H, batch_first=True)
            self.dec_embed = nn.Embedding(V, D)
            self.W1, self.W2, self.W3 = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, 1)
            self.dec_cell = (nn.LSTMCell if cell == "lstm" else nn.GRUCell)(H + D, H)
            self.affine = nn.Linear(H, V)

        def encode(self, xs):
            hs, _ = self.enc_rnn(self.enc_embed(xs))                  # (N, T_enc, H)
            s0 = hs.sum(dim=1)
            state = (s0, torch.zeros_like(s0)) if self.cell == "lstm" else s0
            return hs, self.W1(hs), state

        def step(self, ids, hs_enc, K, state):
            """ids (N,) -> state after the step; the query is the state before it."""
            q = state[0] if self.cell == "lstm" else state
            e = torch.tanh(K + self.W2(q)[:, None, :])                  # (N, T_enc, H)
            a = torch.softmax(self.W3(e)[:, :, 0], dim=1)               # (N, T_enc)
            c = torch.bmm(a[:, None, :], hs_enc)[:, 0, :]                # (N, H)
            return self.dec_cell(torch.cat((c, self.dec_embed(ids)), dim=1), state)

        def forward(self, xs, ts):
            hs_enc, K, state = self.encode(xs)
            outs = []
            for t in range(ts.shape[1] - 1):
                state = self.step(ts[:, t], hs_enc, K, state)
                outs.append(state[0] if self.cell == "lstm" else state)
            score = self.affine(torch.stack(outs, dim=1))
            return F.cross_entropy(score.reshape(-1, score.shape[-1]), ts[:, 1:].reshape(-1))

        def generate(self, xs, start_id, sample_size):
            with torch.no_grad():
                hs_enc, K, state = self.encode(xs)
                ids = torch.full((xs.shape[0],), start_id, dtype=torch.long, device=xs.device)
                sampled = []
                for _ in range(sample_size):
                    state = self.step(ids, hs_enc, K, state)
                    ids = self.affine(state[0] if self.cell == "lstm" else state).argmax(dim=1)
                    sampled.append(ids)
                return torch.stack(sampled, dim=1)

    return {"seq2seq": TorchSeq2seq, "peeky": TorchSeq2seq, "attention": TorchSeq2seq,
            "bahdanau": TorchBahdanau}


class Torch:
    """The PyTorch twin of one of our models, trained with Adam and clip_grad_norm_ on the same
    batches."""

    def __init__(self, torch, device, kind, cell, s, max_grad, seed):
        torch.manual_seed(seed)
        self.torch, self.device = torch, device
        self.model = _torch_modules(torch)[kind](kind, s.V, s.D, s.H, cell).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)
        self.max_grad = max_grad

    def _ids(self, a):
        return self.torch.from_numpy(numpy.ascontiguousarray(a)).to(self.device, self.torch.long)

    def step(self, x, t):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(self._ids(x), self._ids(t))
        loss.backward()
        self.torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad)
        self.optimizer.step()

    def evaluate(self, x, t):
        start_id, size = int(t[0, 0]), t.shape[1] - 1
        guesses = numpy.concatenate([
            self.model.generate(self._ids(x[i:i + EVAL_BATCH]), start_id, size).cpu().numpy()
            for i in range(0, len(x), EVAL_BATCH)])
        return float((guesses == t[:, 1:]).all(axis=1).mean())


# ---------------------------------------------------------------------------------------------
# Timing

def _summary(seconds, scale):
    a = numpy.asarray(seconds) * scale
    q1, median, q3 = numpy.percentile(a, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(a.min()), "max": float(a.max()), "samples": [float(v) for v in a]}


def _ratio(a, b):
    """Ours against another variant: the ratio of the medians, and the median and quartiles of
    the ratios of samples taken side by side (same repeat, same batch)."""
    paired = numpy.asarray(a) / numpy.asarray(b)
    q1, median, q3 = numpy.percentile(paired, [25, 50, 75])
    return {"of_medians": float(numpy.median(a) / numpy.median(b)),
            "paired_median": float(median), "paired_q1": float(q1), "paired_q3": float(q3)}


def round_robin(tasks, repeats, sync, first=0, progress=None, settle=0.0):
    """Run every task once per repeat, in turn, starting one place further along each repeat;
    ``tasks[key](r)`` gets the repeat number ``first + r``. Returns {key: [seconds]}.

    ``settle`` seconds pass between one task and the next: the worker threads a task leaves
    behind (OpenBLAS's spin for a while after each multi-threaded call, waiting for more work)
    then no longer hold the cores the next task needs."""
    keys = list(tasks)
    samples = {key: [] for key in keys}
    for r in range(repeats):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            sync()
            start = time.perf_counter()
            tasks[key](first + r)
            sync()
            samples[key].append(time.perf_counter() - start)
            if settle:
                time.sleep(settle)
        if progress:
            progress(r + 1, repeats)
    return samples


def profile_step(step, top=10):
    """cProfile of one call of ``step``: its total and the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {"total_ms": 1e3 * total, "top": [
        {"function": _function_name(func), "ncalls": int(nc), "tottime_ms": 1e3 * tt,
         "cumtime_ms": 1e3 * ct, "share": tt / total if total else 0.0}
        for func, (_, nc, tt, ct, _) in rows]}


def _function_name(func):
    filename, line, name = func
    if filename == "~":
        return name
    parts = filename.replace(os.sep, "/").split("/")
    if "s2sxp" in parts:
        filename = "/".join(parts[len(parts) - 1 - parts[::-1].index("s2sxp"):])
    else:
        filename = parts[-1]
    return f"{filename}:{line}({name})"


# ---------------------------------------------------------------------------------------------
# The machine

def _cpu_info():
    info = {"model": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().split("\n\n")[0].splitlines()
    except OSError:
        lines = []
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "model name" in fields:
        info["model"] = fields["model name"]
    for key, name in (("cpu family", "family"), ("model", "model_number"),
                      ("stepping", "stepping"), ("cache size", "cache_size")):
        if key in fields:
            info[name] = fields[key]
    flags = set(fields.get("flags", "").split())
    info["simd"] = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    info["cores"] = os.cpu_count()
    info["usable_cores"] = _usable_cores()
    return info


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _blas_info():
    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return {k: blas[k] for k in ("name", "version", "openblas configuration") if k in blas}
    except Exception:  # the layout of show_config differs between NumPy versions
        return {}


def machine_info(torch=None):
    info = {"cpu": _cpu_info(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "blas": _blas_info(),
            "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ}}
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["torch_threads_set_by"] = ("torch.set_num_threads(--torch-threads), "
                                        "by default the number of cores")
        blas = [part for part in torch.__config__.show().replace("\n", ",").split(",")
                if part.strip().startswith("BLAS_INFO")]
        if blas:
            info["torch_blas"] = blas[0].split("=", 1)[1].strip()
    return info


def source_info():
    """The commit of the s2sxp checkout being measured and its changed files under s2sxp/
    (modified or new), when it is a git checkout."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=30)

    try:
        head, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--", "s2sxp")
    except (OSError, subprocess.SubprocessError):
        return {}
    if head.returncode or status.returncode:
        return {}
    return {"commit": head.stdout.strip(),
            "modified": [line[3:] for line in status.stdout.splitlines()]}


def _gpu_info(torch):
    xp = backend.xp
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    info = {"name": name.decode() if isinstance(name, bytes) else str(name),
            "cupy": xp.__version__, "cuda_runtime": xp.cuda.runtime.runtimeGetVersion()}
    if torch is not None and torch.cuda.is_available():
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


# ---------------------------------------------------------------------------------------------
# One device

def model_rows():
    """(row name, kind, cell) for every registered model: the book's three with an LSTM, any
    other family once per cell."""
    rows = []
    for kind in models.MODELS:
        if kind in BOOK_MODELS:
            rows.append((kind, kind, "lstm"))
        else:
            rows += [(f"{kind}-{cell}", kind, cell) for cell in sorted(CELLS)]
    return rows


def _load_data(settings):
    (x_train, t_train), (x_test, t_test), vocab = datasets.load("date", n=settings.questions,
                                                                seed=settings.seed)
    # the book feeds the questions reversed
    x_train = numpy.ascontiguousarray(x_train[:, ::-1])
    x_test = numpy.ascontiguousarray(x_test[:, ::-1])
    count = min(settings.eval_questions, len(x_test))
    return (x_train, t_train), (x_test[:count], t_test[:count]), vocab


def _say(message):
    print(message, file=sys.stderr, flush=True)


def run_device(device, settings, rows, data, torch):
    """Time every (row, variant) on ``device`` ("cpu" or "gpu"); returns the results dict."""
    (x_train, t_train), (x_eval, t_eval), vocab = data
    s = Sizes(N=settings.batch_size, T_enc=x_train.shape[1], T_dec=t_train.shape[1] - 1,
              V=len(vocab), D=settings.wordvec_size, H=settings.hidden_size)
    backend.use("cupy" if device == "gpu" else "numpy", "float32")
    torch_device = None
    notes = []
    if torch is not None:
        if device == "cpu":
            torch_device = "cpu"
        elif torch.cuda.is_available():
            torch_device = "cuda"
        else:
            notes.append("PyTorch has no CUDA here: no PyTorch figures on the GPU")

    def sync():
        if device == "gpu":
            backend.xp.cuda.Device().synchronize()
            if torch_device == "cuda":
                torch.cuda.synchronize()

    variants = {}
    products = {}
    for name, kind, cell in rows:
        variants[name, "ours"] = Ours(kind, cell, "fused", s, settings.max_grad, settings.seed)
        if settings.reference:
            variants[name, "reference"] = Ours(kind, cell, "reference", s, settings.max_grad,
                                               settings.seed)
        if torch_device is not None:
            if kind in TORCH_TWINS:
                variants[name, "torch"] = Torch(torch, torch_device, kind, cell, s,
                                                settings.max_grad, settings.seed)
            else:
                notes.append(f"{name}: no PyTorch twin for the {kind!r} family")
        products[name] = gemms(kind, cell, s)
        if products[name] is None:
            notes.append(f"{name}: no GEMM list for the {kind!r} family, so no FLOP count")

    rng = numpy.random.default_rng(settings.seed)
    batches = [rng.choice(len(x_train), s.N, replace=False)
               for _ in range(settings.warmup + settings.iterations)]

    def train_task(variant):
        return lambda r: variant.step(x_train[batches[r]], t_train[batches[r]])

    started = time.time()
    load_before = os.getloadavg()
    cores = _usable_cores()
    if load_before[0] > cores:
        busy = (f"the machine was busy (load average {load_before[0]:.1f} on {cores} cores at the "
                "start): every figure is slower than on a quiet machine")
        if torch_device == "cpu" and "OMP_WAIT_POLICY" not in os.environ:
            busy += (", PyTorch's most: its OpenMP threads spin while they wait for each other "
                     "(OMP_WAIT_POLICY=PASSIVE set before the run avoids most of that loss)")
        notes.append(busy)
    every_shape = [g for p in products.values() if p for g in p]
    measure = lambda: gemm_throughput(every_shape, sync, cores if device == "cpu" else 1,
                                      min_seconds=1e-3 if settings.quick else 1e-2)
    _say(f"{device}: GEMM throughput at {len({g.shape for g in every_shape})} shapes")
    rates_start = measure()

    tasks = {key: train_task(v) for key, v in variants.items()}
    _say(f"{device}: {settings.warmup} warm-up iterations of {len(tasks)} variants")
    settle = settings.settle if device == "cpu" else 0.0
    round_robin(tasks, settings.warmup, sync, settle=settle)
    _say(f"{device}: {settings.iterations} timed iterations of {len(tasks)} variants, round-robin")
    progress = lambda r, n: _say(f"  {r}/{n}  ({time.time() - started:.0f} s)") if (
        r % 5 == 0 or r == n) else None
    train = round_robin(tasks, settings.iterations, sync, first=settings.warmup,
                        progress=progress, settle=settle)

    eval_tasks = {key: (lambda v: lambda r: v.evaluate(x_eval, t_eval))(v)
                  for key, v in variants.items()
                  if key[1] != "reference" or settings.eval_reference}
    _say(f"{device}: {settings.eval_repeats} evaluations of {len(x_eval)} questions by "
         f"{len(eval_tasks)} variants")
    accuracy = {key: task(0) for key, task in eval_tasks.items()}  # also the warm-up
    evals = round_robin(eval_tasks, settings.eval_repeats, sync, settle=settle)

    profiles = {}
    if settings.profile:
        for name, _, _ in rows:
            v = variants[name, "ours"]
            profiles[name] = profile_step(lambda: (v.step(x_train[batches[0]],
                                                          t_train[batches[0]]), sync()))

    _say(f"{device}: GEMM throughput again")
    rates_end = measure()
    throughput = {shape: max(rates_start[shape], rates_end[shape], key=lambda r: r["gflops"])
                  for shape in rates_start}
    best = max((r["gflops"] for r in throughput.values()), default=None)

    iterations_per_epoch = len(x_train) // s.N
    # the book's AttentionSeq2seq, the yardstick of the other families' cost
    attention = next((name for name, kind, _ in rows
                      if kind == "attention" and (name, "ours") in train), None)
    results = []
    for name, kind, cell in rows:
        flops = None if products[name] is None else sum(g.flops for g in products[name])
        row = {"model": name, "kind": kind, "cell": cell, "flops": flops,
               "train": {}, "eval": {}, "ratios": {"train": {}, "eval": {}}}
        for variant in VARIANTS:
            if (name, variant) not in train:
                continue
            summary = _summary(train[name, variant], 1e3)
            summary["epoch_s"] = summary["median"] * iterations_per_epoch / 1e3
            summary["gflops"] = None if flops is None else flops / summary["median"] / 1e6
            row["train"][variant] = summary
            if (name, variant) in evals:
                row["eval"][variant] = _summary(evals[name, variant], 1.0)
                row["eval"][variant]["accuracy"] = accuracy[name, variant]
        if products[name] is not None:
            bound = 1e3 * gemm_bound(products[name], throughput)
            row["gemm_bound_ms"] = {
                "at_shape_rates": bound,
                "at_shape_rates_start": 1e3 * gemm_bound(products[name], rates_start),
                "at_shape_rates_end": 1e3 * gemm_bound(products[name], rates_end),
                "at_best_rate": 1e3 * flops / (best * 1e9)}
            for summary in row["train"].values():
                summary["x_gemm_bound"] = summary["median"] / bound
            row["gemms"] = [dict(asdict(g), flops=g.flops, label=g.label)
                            for g in products[name]]
        for other in ("reference", "torch"):
            if (name, other) in train:
                row["ratios"]["train"][f"ours/{other}"] = _ratio(train[name, "ours"],
                                                                 train[name, other])
            if (name, other) in evals:
                row["ratios"]["eval"][f"ours/{other}"] = _ratio(evals[name, "ours"],
                                                                evals[name, other])
        if attention is not None and (name, "ours") in train:
            row["ratios"]["train"]["ours/attention"] = _ratio(train[name, "ours"],
                                                              train[attention, "ours"])
        if name in profiles:
            row["profile"] = profiles[name]
        results.append(row)

    info = {"device": device, "sizes": asdict(s), "iterations_per_epoch": iterations_per_epoch,
            "train_questions": len(x_train), "eval_questions": len(x_eval),
            "eval_batch": EVAL_BATCH, "rows": results,
            "gemm_throughput": sorted(throughput.values(), key=lambda r: -r["gflops"]),
            "gemm_throughput_start": list(rates_start.values()),
            "gemm_throughput_end": list(rates_end.values()),
            "best_gflops": best, "notes": notes, "wall_s": time.time() - started,
            "load_average": {"start": load_before, "end": os.getloadavg()}}
    if device == "gpu":
        info["gpu"] = _gpu_info(torch)
    return info


# ---------------------------------------------------------------------------------------------
# Reports

def _ms(v):
    return "–" if v is None else f"{v:.1f}"


def _x(v):
    return "–" if v is None else f"{v:.2f}"


def _ratio_text(r):
    return "–" if r is None else (f"{r['of_medians']:.2f} "
                                  f"[{r['paired_q1']:.2f}–{r['paired_q3']:.2f}]")


def markdown(report):
    """The report as Markdown: headline, training table, side-by-side ratios, GEMM rates and,
    when asked for, the profiles."""
    m, d, st = report["machine"], report["result"], report["settings"]
    s = d["sizes"]
    cpu = m["cpu"]
    versions = [f"NumPy {m['numpy']}"]
    if m["blas"]:
        versions[0] += f" ({m['blas'].get('name', '')} {m['blas'].get('version', '')})".rstrip()
    if "torch" in m:
        versions.append(f"PyTorch {m['torch']} ({m['torch_threads']} threads)")
    where = f"{cpu['model']}, {cpu['usable_cores']} cores"
    if "gpu" in d:
        where = f"{d['gpu']['name']} (CuPy {d['gpu']['cupy']}); host {where}"
    env = " ".join(f"{k}={v}" for k, v in m["thread_env"].items())
    source = report.get("source", {})
    out = [f"# s2sxp bench: {d['device']}, {report['date']}", "",
           f"{where}; {', '.join(versions)}.  ",
           f"Sizes: V={s['V']}, D={s['D']}, H={s['H']}, batch {s['N']}, T_enc {s['T_enc']}, "
           f"T_dec {s['T_dec']}; {d['train_questions']} training questions = "
           f"{d['iterations_per_epoch']} iterations per epoch; evaluation: greedy decoding of "
           f"{d['eval_questions']} test questions in batches of {d['eval_batch']}.  ",
           f"{st['iterations']} timed iterations after {st['warmup']} warm-up ones and "
           f"{st['eval_repeats']} evaluations, round-robin over every model and variant"
           + (f" with {st['settle']:g} s of pause between them" if st.get("settle") else "")
           + "; "
           f"load average {d['load_average']['start'][0]:.1f} at the start, "
           f"{d['load_average']['end'][0]:.1f} at the end; {d['wall_s']:.0f} s in all.  ",
           f"Command: `{(env + ' ') if env else ''}{report['command']}`"
           + (f" at {source['commit'][:10]}"
              + (f" with local changes to {', '.join(source['modified'])}"
                 if source.get("modified") else "") if source.get("commit") else "") + ".", ""]

    epoch = f"epoch ({d['iterations_per_epoch']} it.) s"
    out += ["## Training: ms per iteration", "",
            f"| model | variant | median | IQR | min–max | {epoch} | GFLOP/s | × GEMM bound |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in d["rows"]:
        for variant, t in row["train"].items():
            out.append(f"| {row['model']} | {LABELS[variant]} | {_ms(t['median'])} | "
                       f"{_ms(t['q1'])}–{_ms(t['q3'])} | {_ms(t['min'])}–{_ms(t['max'])} | "
                       f"{t['epoch_s']:.1f} | {_ms(t['gflops'])} | {_x(t.get('x_gemm_bound'))} |")

    n = d["eval_questions"]
    out += ["", "## Side by side", "",
            "Ratios are of the medians; in brackets the quartiles of the ratios of samples taken "
            "in the same round. GEMM bound: the iteration's GEMMs at the best rate measured at "
            "each one's shape (table below); at best rate: all its FLOPs at the best rate "
            "measured at any shape.", "",
            f"| model | GFLOP/iter | GEMM bound ms | at best rate ms | ours/reference | "
            f"ours/PyTorch | eval {n} q: ours s | reference s | PyTorch s | eval ours/PyTorch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in d["rows"]:
        bound = row.get("gemm_bound_ms", {})
        tr, ev = row["ratios"]["train"], row["ratios"]["eval"]
        e = {k: _x(row["eval"][k]["median"]) if k in row["eval"] else "–"
             for k in ("ours", "reference", "torch")}
        out.append(f"| {row['model']} | {_x(row['flops'] / 1e9 if row['flops'] else None)} | "
                   f"{_ms(bound.get('at_shape_rates'))} | {_ms(bound.get('at_best_rate'))} | "
                   f"{_ratio_text(tr.get('ours/reference'))} | "
                   f"{_ratio_text(tr.get('ours/torch'))} | "
                   f"{e['ours']} | {e['reference']} | {e['torch']} | "
                   f"{_ratio_text(ev.get('ours/torch'))} |")

    attention = next((row for row in d["rows"] if row["kind"] == "attention"), None)
    if attention is not None and "ours/attention" in attention["ratios"]["train"]:
        base = attention.get("gemm_bound_ms", {}).get("at_shape_rates")
        out += ["", "## Against AttentionSeq2seq", "",
                "Each model's iteration against AttentionSeq2seq's (ours, both): the ratio of the "
                "medians, in brackets the quartiles of the ratios of samples taken in the same "
                "round; and the ratio of their GEMM bounds.", "",
                "| model | iteration ÷ AttentionSeq2seq's | GEMM bound ÷ AttentionSeq2seq's |",
                "|---|---:|---:|"]
        for row in d["rows"]:
            bound = row.get("gemm_bound_ms", {}).get("at_shape_rates")
            out.append(f"| {row['model']} | "
                       f"{_ratio_text(row['ratios']['train'].get('ours/attention'))} | "
                       f"{_x(bound / base if bound and base else None)} |")

    if d["gemm_throughput"]:
        out += ["", f"## GEMM throughput at the step's shapes ({d['device']}, float32)", "",
                "GFLOP/s, the better of the runs at the start and at the end: one GEMM with "
                "BLAS's own threads, and one single-threaded GEMM per core at once (aggregate).",
                "", "| product | one of | one GEMM | one per core | best |",
                "|---|---|---:|---:|---:|"]
        for r in d["gemm_throughput"]:
            out.append(f"| {r['shape']} | {r['example']} | {r['one_gflops']:.1f} | "
                       f"{_ms(r['split_gflops'])} | {r['gflops']:.1f} |")

    for row in d["rows"]:
        if "profile" not in row:
            continue
        p = row["profile"]
        out += ["", f"## Profile of one training iteration: {row['model']} "
                f"({p['total_ms']:.0f} ms under cProfile)", "",
                "NumPy's ufuncs (matmul, exp, multiply, ...) are not seen by cProfile: their time "
                "is the own time of the Python function that calls them.", "",
                "| function | calls | own ms | share | cumulative ms |",
                "|---|---:|---:|---:|---:|"]
        for f in p["top"]:
            out.append(f"| `{f['function']}` | {f['ncalls']} | {f['tottime_ms']:.1f} | "
                       f"{100 * f['share']:.0f}% | {f['cumtime_ms']:.1f} |")

    if d["notes"]:
        out += ["", "Notes: " + "; ".join(d["notes"]) + "."]
    return "\n".join(out) + "\n"


def plot(report, path):
    """Bar chart: ms per training iteration (with each model's GEMM bound) and seconds per
    evaluation, per model and variant."""
    from matplotlib.figure import Figure

    d = report["result"]
    rows = d["rows"]
    fig = Figure(figsize=(max(8.0, 1.7 * len(rows) + 3), 8.0), dpi=110)
    axes = fig.subplots(2, 1)
    panels = (("train", "training: ms per iteration (median; whiskers span the IQR)"),
              ("eval", f"evaluation of {d['eval_questions']} questions: s (median; whiskers "
                       "span the IQR)"))
    for ax, (part, title) in zip(axes, panels):
        present = [v for v in VARIANTS if any(v in row[part] for row in rows)]
        width = 0.8 / max(len(present), 1)
        top = max((row[part][v]["q3"] for row in rows for v in present if v in row[part]),
                  default=1.0)
        for j, variant in enumerate(present):
            xs, heights, low, high = [], [], [], []
            for i, row in enumerate(rows):
                if variant in row[part]:
                    t = row[part][variant]
                    xs.append(i + (j - (len(present) - 1) / 2) * width)
                    heights.append(t["median"])
                    low.append(t["median"] - t["q1"])
                    high.append(t["q3"] - t["median"])
            bars = ax.bar(xs, heights, width * 0.95, yerr=[low, high], capsize=2,
                          color=COLORS[variant], label=LABELS[variant])
            fmt = "{:.0f}" if part == "train" else "{:.2f}"
            ax.bar_label(bars, labels=[fmt.format(h) for h in heights], padding=2, fontsize=7)
        if part == "train":
            label = "GEMM bound"
            for i, row in enumerate(rows):
                if "gemm_bound_ms" in row:
                    ax.hlines(row["gemm_bound_ms"]["at_shape_rates"], i - 0.45, i + 0.45,
                              colors="black", linestyles="dashed", linewidth=1, label=label)
                    label = None
        ax.set_xticks(range(len(rows)), [row["model"] for row in rows])
        ax.set_ylim(0, top * 1.25)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, ncols=len(present) + 1, loc="upper left")
    where = d["gpu"]["name"] if "gpu" in d else report["machine"]["cpu"]["model"]
    s = d["sizes"]
    fig.suptitle(f"s2sxp bench, {d['device']} ({where}), {report['date']}: "
                 f"H={s['H']}, batch {s['N']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)


def write(report, out, stem):
    """DATE-DEVICE.json, .md and .png in ``out``; returns their paths."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{stem}.{ext}") for ext in ("json", "md", "png")]
    atomic_write(paths[0], lambda f: f.write(json.dumps(report, indent=1).encode()))
    atomic_write(paths[1], lambda f: f.write(markdown(report).encode()))
    plot(report, paths[2])
    return paths


# ---------------------------------------------------------------------------------------------
# Command line

EXAMPLES = """examples:
  python benchmarks/epoch_cost.py            # everything, book sizes (several minutes)
  s2sxp bench --models attention --devices cpu --iterations 10 --no-reference
  s2sxp bench --quick --out /tmp/bench       # a smoke test in seconds (tiny models)
  s2sxp bench --profile --models seq2seq     # adds cProfile's top 10 of one iteration
  s2sxp bench padded                         # variable-length sentences, per token (--help)

Writes DATE-DEVICE.json (every figure, the machine, versions), DATE-DEVICE.md (the table printed)
and DATE-DEVICE.png (bar chart) into --out, one set per device; --quick runs end in -quick.
"""


def _parser():
    p = argparse.ArgumentParser(
        prog="s2sxp bench",
        description="Time training iterations and batched greedy evaluation of every model on\n"
        "each device at the book's sizes (date data, V=59, D=16, H=256, batch 128, Adam,\n"
        "clip 5.0), side by side with the book's per-step reference, an equivalent PyTorch\n"
        "model (when torch imports), round-robin on the same batches; extrapolate to one\n"
        "epoch; count the GEMM FLOPs of an iteration and compare each run with the GEMM\n"
        "bound, the time those GEMMs take at the rates this machine reaches at their shapes.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    rows = ", ".join(name for name, _, _ in model_rows())
    p.add_argument("--models", default=None,
                   help=f"comma-separated models or families (default: all: {rows})")
    p.add_argument("--devices", default="auto",
                   help="cpu, gpu, cpu,gpu or auto: the CPU and, when CuPy has one, the GPU")
    p.add_argument("--iterations", type=int, default=None,
                   help="timed training iterations per variant (default 15)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up iterations (default 2)")
    p.add_argument("--eval-repeats", type=int, default=None,
                   help="timed evaluations per variant (default 3)")
    p.add_argument("--eval-questions", type=int, default=None,
                   help="test questions per evaluation (default 5000)")
    p.add_argument("--questions", type=int, default=None,
                   help="questions generated, 90%% for training (default 50000: 351 iterations "
                   "per epoch)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128")
    p.add_argument("--hidden-size", type=int, default=None, help="default 256")
    p.add_argument("--wordvec-size", type=int, default=None, help="default 16")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch.set_num_threads (default: the number of cores)")
    p.add_argument("--no-reference", action="store_true",
                   help="leave the per-step reference out")
    p.add_argument("--eval-reference", action="store_true",
                   help="time the reference's evaluation too (slow: off by default)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds of pause between one timed task and the next on the CPU, so "
                   "that the threads a variant leaves spinning are idle when the next starts "
                   "(default 0: the variants interleave with no pause, as other BLAS work "
                   "does in a user's process)")
    p.add_argument("--profile", action="store_true",
                   help="add cProfile's top 10 of one training iteration of each of our models")
    p.add_argument("--quick", action="store_true",
                   help="tiny models, 3 iterations, few questions: checks the script, not speed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=Settings.out, help="output folder (default %(default)s)")
    p.add_argument("--tag", default="", help="appended to the file names: DATE-DEVICE-TAG.*")
    return p


def _settings(args, parser):
    values = dict(QUICK) if args.quick else {}
    for key in ("iterations", "warmup", "eval_repeats", "eval_questions", "questions",
                "batch_size", "hidden_size", "wordvec_size", "settle"):
        value = getattr(args, key)
        if value is not None:
            least = 0 if key in ("warmup", "settle") else 1
            if value < least:
                parser.error(f"--{key.replace('_', '-')} must be at least {least}, got {value}")
            values[key] = value
    rows = model_rows()
    if args.models:
        wanted = [w.strip() for w in args.models.split(",") if w.strip()]
        known = {name for name, _, _ in rows} | {kind for _, kind, _ in rows}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            parser.error(f"unknown model {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted(known))}")
        rows = [r for r in rows if r[0] in wanted or r[1] in wanted]
    devices = [w.strip() for w in args.devices.split(",") if w.strip()]
    if not devices or any(d not in ("cpu", "gpu", "auto") for d in devices):
        parser.error(f"--devices takes cpu, gpu, cpu,gpu or auto, got {args.devices!r}")
    if "auto" in devices:
        devices = ["cpu"] + (["gpu"] if backend.gpu_available() else [])
    if args.tag and not all(c.isalnum() or c in "-_." for c in args.tag):
        parser.error(f"--tag may hold letters, digits, '-', '_' and '.', got {args.tag!r}")
    if args.torch_threads < 0:
        parser.error(f"--torch-threads must be at least 1, got {args.torch_threads}")
    return Settings(models=[r[0] for r in rows], devices=devices, torch=not args.no_torch,
                    torch_threads=args.torch_threads or os.cpu_count() or 1, tag=args.tag,
                    reference=not args.no_reference, eval_reference=args.eval_reference,
                    profile=args.profile, quick=args.quick, seed=args.seed, out=args.out,
                    **values), rows


def _import_torch(settings):
    if not settings.torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(settings.torch_threads)
    return torch


def main(argv=None):
    """``s2sxp bench``: run, print the Markdown report and write it as JSON, MD and PNG."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["padded"]:
        from . import bench_padded

        return bench_padded.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    settings, rows = _settings(args, parser)
    previous = (backend.name(), str(backend.dtype))
    try:
        if "gpu" in settings.devices:
            try:
                backend.use("cupy")
            except backend.BackendError as e:
                print(f"s2sxp bench: error: --devices gpu: {e}", file=sys.stderr)
                return 2
        torch = _import_torch(settings)
        data = _load_data(settings)
        if settings.batch_size > len(data[0][0]):
            print(f"s2sxp bench: error: --batch-size {settings.batch_size} is larger than the "
                  f"{len(data[0][0])} training questions (raise --questions)", file=sys.stderr)
            return 2
        machine = machine_info(torch)
        source = source_info()
        date = datetime.date.today().isoformat()
        for device in settings.devices:
            result = run_device(device, settings, rows, data, torch)
            report = {"tool": "s2sxp bench", "date": date,
                      "command": " ".join(["s2sxp bench", shlex.join(argv)]).strip(),
                      "settings": asdict(settings), "machine": machine, "source": source,
                      "result": result}
            parts = (date, device, "quick" if settings.quick else "", settings.tag)
            stem = "-".join(part for part in parts if part)
            paths = write(report, settings.out, stem)
            print(markdown(report))
            _say("wrote " + ", ".join(paths))
    finally:
        backend.use(*previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())

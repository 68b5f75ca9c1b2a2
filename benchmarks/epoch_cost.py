"""What one epoch of each model costs, measured side by side with the book's per-step reference and
an equivalent PyTorch model (``python -m benchmarks.epoch_cost``, or ``s2sxp bench`` in a
checkout).

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
questions is timed the same way. Results go to stdout (Markdown) and to ``--out`` (default
benchmarks/results/epoch-cost/) as DATE-DEVICE.json, .md and .png.

Every GEMM of a training iteration is listed from the sizes alone (:mod:`benchmarks.gemms`); each
distinct shape is timed at the start and at the end of a device's run, and the best rate seen
gives the GEMM bound, the time the iteration's GEMMs alone would take on this machine.
"""
import argparse
import datetime
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy

from s2sxp import backend, datasets, models
from s2sxp.layers import CELLS
from s2sxp.parallel import usable_cores

from . import harness
from .gemms import Sizes, gemm_bound, gemm_throughput, gemms
from .harness import (EVAL_BATCH, Ours, gpu_info, import_torch, machine_info, profile_step,
                      ratio, round_robin, say, source_info, summarize)
from .report import VARIANTS, markdown, write
from .twins import FAMILIES, Torch

BOOK_MODELS = ("seq2seq", "peeky", "attention")


@dataclass
class Settings(harness.Settings):
    """One benchmark run; the defaults are the book's sizes."""
    models: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    eval_repeats: int = 3
    eval_questions: int = 5000
    questions: int = 50000
    reference: bool = True
    eval_reference: bool = False
    settle: float = 0.0
    profile: bool = False
    out: str = harness.results_folder("epoch-cost")


#: ``--quick``: small models and few questions, for a smoke test of the whole script.
QUICK = dict(iterations=3, warmup=1, eval_repeats=1, eval_questions=64, questions=800,
             batch_size=16, wordvec_size=8, hidden_size=16, settle=0.0)


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


def load_data(settings):
    """The date data at the settings' size, questions reversed as the book feeds them:
    ((x_train, t_train), (x_eval, t_eval), vocab)."""
    (x_train, t_train), (x_test, t_test), vocab = datasets.load("date", n=settings.questions,
                                                                seed=settings.seed)
    # the book feeds the questions reversed
    x_train = numpy.ascontiguousarray(x_train[:, ::-1])
    x_test = numpy.ascontiguousarray(x_test[:, ::-1])
    count = min(settings.eval_questions, len(x_test))
    return (x_train, t_train), (x_test[:count], t_test[:count]), vocab


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
        sizes = (s.V, s.D, s.H, settings.max_grad, settings.seed)
        variants[name, "ours"] = Ours(kind, cell, *sizes)
        if settings.reference:
            variants[name, "reference"] = Ours(kind, cell, *sizes, impl="reference")
        if torch_device is not None:
            if kind in FAMILIES:
                variants[name, "torch"] = Torch(torch, torch_device, kind, cell, *sizes)
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
    cores = usable_cores()
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
    say(f"{device}: GEMM throughput at {len({g.shape for g in every_shape})} shapes")
    rates_start = measure()

    tasks = {key: train_task(v) for key, v in variants.items()}
    say(f"{device}: {settings.warmup} warm-up iterations of {len(tasks)} variants")
    settle = settings.settle if device == "cpu" else 0.0
    round_robin(tasks, settings.warmup, sync, settle=settle)
    say(f"{device}: {settings.iterations} timed iterations of {len(tasks)} variants, round-robin")
    progress = lambda r, n: say(f"  {r}/{n}  ({time.time() - started:.0f} s)") if (
        r % 5 == 0 or r == n) else None
    train = round_robin(tasks, settings.iterations, sync, first=settings.warmup,
                        progress=progress, settle=settle)

    eval_tasks = {key: (lambda v: lambda r: v.evaluate(x_eval, t_eval))(v)
                  for key, v in variants.items()
                  if key[1] != "reference" or settings.eval_reference}
    say(f"{device}: {settings.eval_repeats} evaluations of {len(x_eval)} questions by "
         f"{len(eval_tasks)} variants")
    accuracy = {key: task(0) for key, task in eval_tasks.items()}  # also the warm-up
    evals = round_robin(eval_tasks, settings.eval_repeats, sync, settle=settle)

    profiles = {}
    if settings.profile:
        for name, _, _ in rows:
            v = variants[name, "ours"]
            profiles[name] = profile_step(lambda: (v.step(x_train[batches[0]],
                                                          t_train[batches[0]]), sync()))

    say(f"{device}: GEMM throughput again")
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
            summary = summarize(train[name, variant], 1e3)
            summary["epoch_s"] = summary["median"] * iterations_per_epoch / 1e3
            summary["gflops"] = None if flops is None else flops / summary["median"] / 1e6
            row["train"][variant] = summary
            if (name, variant) in evals:
                row["eval"][variant] = summarize(evals[name, variant], 1.0)
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
                row["ratios"]["train"][f"ours/{other}"] = ratio(train[name, "ours"],
                                                                 train[name, other])
            if (name, other) in evals:
                row["ratios"]["eval"][f"ours/{other}"] = ratio(evals[name, "ours"],
                                                                evals[name, other])
        if attention is not None and (name, "ours") in train:
            row["ratios"]["train"]["ours/attention"] = ratio(train[name, "ours"],
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
        info["gpu"] = gpu_info(torch)
    return info


EXAMPLES = """examples:
  python -m benchmarks.epoch_cost            # everything, book sizes (several minutes)
  s2sxp bench --models attention --devices cpu --iterations 10 --no-reference
  s2sxp bench --quick --out /tmp/bench       # a smoke test in seconds (tiny models)
  s2sxp bench --profile --models seq2seq     # adds cProfile's top 10 of one iteration
  s2sxp bench padded                         # variable-length sentences, per token (--help)

Writes DATE-DEVICE.json (every figure, the machine, versions), DATE-DEVICE.md (the table printed)
and DATE-DEVICE.png (bar chart) into --out (default benchmarks/results/epoch-cost), one set per
device; --quick runs end in -quick.
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
    harness.common_flags(p, "tiny models, 3 iterations, few questions: checks the script, not "
                         "speed", "appended to the file names: DATE-DEVICE-TAG.*",
                         Settings.out)
    return p


def _settings(args, parser):
    values = harness.common_settings(
        args, parser, QUICK, ("iterations", "warmup", "eval_repeats", "eval_questions",
                              "questions", "batch_size", "hidden_size", "wordvec_size", "settle"),
        zero_ok=("warmup", "settle"))
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
    return Settings(models=[r[0] for r in rows], devices=devices,
                    reference=not args.no_reference, eval_reference=args.eval_reference,
                    profile=args.profile, **values), rows


def main(argv=None):
    """``s2sxp bench``: run, print the Markdown report and write it as JSON, MD and PNG."""
    argv = sys.argv[1:] if argv is None else list(argv)
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
        torch = import_torch(settings.torch, settings.torch_threads)
        data = load_data(settings)
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
            say("wrote " + ", ".join(paths))
    finally:
        backend.use(*previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())

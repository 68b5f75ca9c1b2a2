"""What every benchmark here shares: our model as a benchmark trains it, timing in turns, the
summaries and ratios of the samples, and a description of the machine and the source measured."""
import cProfile
import json
import os
import platform
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy

from s2sxp import Adam, backend, clip_grads, evaluate, models
from s2sxp.files import atomic_write
from s2sxp.parallel import usable_cores

EVAL_BATCH = 1000  # s2sxp.evaluate's default

#: The benchmarks' records, one folder per benchmark (relative to the checkout's root, where the
#: benchmarks run from); README.md there lists each benchmark's current record.
RESULTS = os.path.join("benchmarks", "results")


def results_folder(benchmark):
    """benchmarks/results/BENCHMARK: the folder a benchmark writes its records into unless its
    --out says otherwise."""
    return os.path.join(RESULTS, benchmark)


@dataclass
class Settings:
    """What every benchmark's settings hold (the book's sizes and recipe, PyTorch, where the
    report goes); each benchmark's own add what it measures and name its own folder for ``out``."""
    iterations: int = 15
    warmup: int = 2
    batch_size: int = 128
    wordvec_size: int = 16
    hidden_size: int = 256
    max_grad: float = 5.0
    torch: bool = True
    torch_threads: int = 0
    quick: bool = False
    seed: int = 0
    out: str = RESULTS
    tag: str = ""


def common_flags(p, quick_help, tag_help, out):
    """The flags every benchmark takes: PyTorch, --quick, the seed, the output folder (by default
    ``out``, the benchmark's own) and tag."""
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch.set_num_threads (default: the number of cores)")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help="output folder (default %(default)s)")
    p.add_argument("--tag", default="", help=tag_help)


def common_settings(args, parser, quick, counts, zero_ok=("warmup",)):
    """The settings those flags and the counts named in ``counts`` give (a count left out: the
    benchmark's default, or ``quick``'s with --quick); parser.error for a count below 1 (0 for
    ``zero_ok``), a bad tag or thread count."""
    values = dict(quick) if args.quick else {}
    for key in counts:
        value = getattr(args, key)
        if value is not None:
            least = 0 if key in zero_ok else 1
            if value < least:
                parser.error(f"--{key.replace('_', '-')} must be at least {least}, got {value}")
            values[key] = value
    if args.tag and not all(c.isalnum() or c in "-_." for c in args.tag):
        parser.error(f"--tag may hold letters, digits, '-', '_' and '.', got {args.tag!r}")
    if args.torch_threads < 0:
        parser.error(f"--torch-threads must be at least 1, got {args.torch_threads}")
    return dict(values, torch=not args.no_torch,
                torch_threads=args.torch_threads or os.cpu_count() or 1, quick=args.quick,
                seed=args.seed, out=args.out, tag=args.tag)


THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
              "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


class Ours:
    """A model of ours trained as Trainer.fit does it: forward, backward, clip, Adam."""

    def __init__(self, kind, cell, V, D, H, max_grad=5.0, seed=0, impl="fused", pad_id=None):
        self.model = models.build(kind, V, D, H, cell=cell, impl=impl, seed=seed, pad_id=pad_id)
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


def summarize(seconds, scale):
    a = numpy.asarray(seconds) * scale
    q1, median, q3 = numpy.percentile(a, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(a.min()), "max": float(a.max()), "samples": [float(v) for v in a]}


def ratio(a, b):
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
        {"function": function_name(func), "ncalls": int(nc), "tottime_ms": 1e3 * tt,
         "cumtime_ms": 1e3 * ct, "share": tt / total if total else 0.0}
        for func, (_, nc, tt, ct, _) in rows]}


def function_name(func):
    filename, line, name = func
    if filename == "~":
        return name
    parts = filename.replace(os.sep, "/").split("/")
    if "s2sxp" in parts:
        filename = "/".join(parts[len(parts) - 1 - parts[::-1].index("s2sxp"):])
    else:
        filename = parts[-1]
    return f"{filename}:{line}({name})"


def cpu_info():
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
    info["usable_cores"] = usable_cores()
    return info


def blas_info():
    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return {k: blas[k] for k in ("name", "version", "openblas configuration") if k in blas}
    except Exception:  # the layout of show_config differs between NumPy versions
        return {}


def machine_info(torch=None):
    info = {"cpu": cpu_info(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "blas": blas_info(),
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


def gpu_info(torch):
    xp = backend.xp
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    info = {"name": name.decode() if isinstance(name, bytes) else str(name),
            "cupy": xp.__version__, "cuda_runtime": xp.cuda.runtime.runtimeGetVersion()}
    if torch is not None and torch.cuda.is_available():
        info["torch_cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def record_stem(out, name, tag=""):
    """OUT/DATE-NAME[-TAG], where a benchmark writes its record's files (OUT made if missing: the
    benchmark's --out, by default its own folder, ``results_folder(NAME)``)."""
    os.makedirs(out, exist_ok=True)
    return os.path.join(out, "-".join(p for p in (time.strftime("%Y-%m-%d"), name, tag) if p))


def write_record(stem, record, text):
    """STEM.json (``record``) and STEM.md (``text``), each written whole or not at all; the text
    is printed too."""
    atomic_write(stem + ".json", lambda f: f.write(json.dumps(record, indent=1).encode()))
    atomic_write(stem + ".md", lambda f: f.write(text.encode()))
    print(text)


def say(message):
    print(message, file=sys.stderr, flush=True)


def import_torch(enabled=True, threads=0):
    """PyTorch with ``threads`` threads (0: one per core), or None where it is not wanted or not
    installed."""
    if not enabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads or os.cpu_count() or 1)
    return torch

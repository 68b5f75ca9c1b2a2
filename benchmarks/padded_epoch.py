"""What an epoch of variable-length sentences costs per token, beside the book's fixed-width one
(``python -m benchmarks.padded_epoch``, or ``s2sxp bench padded`` in a checkout).

The same model (the book's sizes: D=16, H=256, batch 128, Adam, clip 5.0) is trained on

    date        the book's fixed-width date data (29 + 11 tokens a question, no padding to skip)
    bucketed    a generated corpus of 1-12 word sentences, by characters: batches of similar
                lengths (:func:`s2sxp.batches.bucket_order`), each padded to its longest
    shuffled    the same corpus in shuffled batches, each padded to its longest
    fixed       the same corpus padded to its longest sentence, as a fixed-width loader would

and the cost of a training iteration is divided by its real tokens (source tokens, plus target
tokens after ``<s>``; padding not counted): the ratio of a corpus layout to ``date`` per token
says what variable lengths cost, bucketed against shuffled and fixed what bucketing saves. Beside
ours (``pad_id`` set: masked attention, the encoder state at each row's length, padded targets
ignored) the PyTorch twin (:mod:`benchmarks.twins`) does the same with packed sequences.

Every (model, layout, variant) runs one iteration in turn, round-robin, the same batches for all
variants of a layout, with no pause between them (other BLAS work interleaves, as in a user's
process). An epoch's cost is the median cost per token times the epoch's real tokens. Writes
DATE-cpu-padded[-TAG].json and .md into --out (default benchmarks/results/padded-epoch/).
"""
import argparse
import datetime
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass

import numpy

from s2sxp import backend, corpus, datasets
from s2sxp.batches import bucket_order
from s2sxp.files import atomic_write

from . import harness
from .harness import (Ours, import_torch, machine_info, ratio, round_robin, say, source_info,
                      summarize)
from .report import padded_markdown
from .twins import Torch

LAYOUTS = ("date", "bucketed", "shuffled", "fixed")

VARIANTS = ("ours", "torch")

ROWS = {"attention": ("attention", "lstm"), "bahdanau-gru": ("bahdanau", "gru"),
        "bahdanau-lstm": ("bahdanau", "lstm"), "seq2seq": ("seq2seq", "lstm"),
        "peeky": ("peeky", "lstm")}


@dataclass
class Settings(harness.Settings):
    models: tuple = ("attention", "bahdanau-gru")
    iterations: int = 10
    pairs: int = 20000
    max_words: int = 12
    questions: int = 20000
    out: str = harness.results_folder("padded-epoch")


QUICK = dict(iterations=2, warmup=1, pairs=600, questions=600, batch_size=16, wordvec_size=8,
             hidden_size=16)

# ---------------------------------------------------------------------------------------------
# Batches


@dataclass
class Layout:
    """``batches``: (x, t) arrays of one layout; ``tokens``: the real tokens of each batch;
    ``epoch_tokens`` and ``epoch_iterations``: an epoch's."""
    name: str
    pad_id: object
    batches: list
    tokens: list
    epoch_tokens: int
    epoch_iterations: int
    padding: float


def _corpus_layouts(settings, rng):
    pairs = corpus.synthetic_pairs(settings.pairs, seed=settings.seed, min_words=1,
                                   max_words=settings.max_words)
    c = corpus.load_pairs(pairs, tokens="char", shared_vocab=True)
    x, t = c.x_train, c.t_train
    N, n = settings.batch_size, settings.iterations + settings.warmup
    iterations = len(x) // N
    real = x.lengths + t.lengths - 1                 # source tokens, target tokens after <s>
    width_x, width_t = x.max_length, t.max_length
    layouts = []
    for name in ("bucketed", "shuffled", "fixed"):
        if name == "bucketed":
            order = bucket_order(numpy.random.default_rng(settings.seed), x.lengths, t.lengths,
                                 N)
        else:
            order = numpy.random.default_rng(settings.seed).permutation(len(x))
        chunks = order[:iterations * N].reshape(iterations, N)
        if name == "fixed":
            cells = iterations * N * (width_x + width_t - 1)
        else:
            cells = sum(int(x.lengths[b].max() + t.lengths[b].max() - 1) * N for b in chunks)
        picked = chunks[rng.choice(iterations, n, replace=iterations < n)]
        batches = []
        for rows in picked:
            xb, tb = x[rows], t[rows]
            if name == "fixed":
                xb = _pad_to(xb, width_x, x.pad_id)
                tb = _pad_to(tb, width_t, t.pad_id)
            batches.append((xb, tb))
        epoch_tokens = int(real[chunks].sum())
        layouts.append(Layout(name, c.vocab.pad_id, batches, [int(real[r].sum()) for r in picked],
                              epoch_tokens, iterations, 1 - epoch_tokens / cells))
    return layouts, len(c.vocab), {"pairs": settings.pairs, "train": len(x),
                                   "source_length": _spread(x.lengths),
                                   "target_length": _spread(t.lengths - 1),
                                   "vocab": len(c.vocab), "tokens": "char"}


def _spread(lengths):
    q = numpy.percentile(lengths, [0, 50, 100])
    return {"min": int(q[0]), "median": float(q[1]), "max": int(q[2])}


def _pad_to(a, width, pad_id):
    out = numpy.full((a.shape[0], width), pad_id, dtype=a.dtype)
    out[:, :a.shape[1]] = a
    return out


def _date_layout(settings, rng):
    (x_train, t_train), _, vocab = datasets.load("date", n=settings.questions,
                                                 seed=settings.seed)
    x_train = numpy.ascontiguousarray(x_train[:, ::-1])
    N, n = settings.batch_size, settings.iterations + settings.warmup
    iterations = len(x_train) // N
    per_row = x_train.shape[1] + t_train.shape[1] - 1
    batches = [(x_train[b], t_train[b]) for b in (rng.choice(len(x_train), N, replace=False)
                                                   for _ in range(n))]
    return Layout("date", None, batches, [N * per_row] * n, iterations * N * per_row, iterations,
                  0.0), len(vocab)


def run(settings, torch):
    rng = numpy.random.default_rng(settings.seed)
    date, V_date = _date_layout(settings, rng)
    layouts, V_corpus, corpus_info = _corpus_layouts(settings, rng)
    layouts = [date] + layouts
    backend.use("numpy", "float32")
    variants, tasks = {}, {}
    for name in settings.models:
        kind, cell = ROWS[name]
        for layout in layouts:
            V = V_date if layout.name == "date" else V_corpus
            sizes = (V, settings.wordvec_size, settings.hidden_size, settings.max_grad,
                     settings.seed)
            variants[name, layout.name, "ours"] = Ours(kind, cell, *sizes, pad_id=layout.pad_id)
            if torch is not None:
                variants[name, layout.name, "torch"] = Torch(torch, "cpu", kind, cell, *sizes,
                                                             pad_id=layout.pad_id)
    by_name = {layout.name: layout for layout in layouts}
    for key, variant in variants.items():
        batches = by_name[key[1]].batches
        tasks[key] = (lambda v, b: lambda r: v.step(*b[r]))(variant, batches)
    started = time.time()
    load_before = os.getloadavg()
    say(f"cpu: {settings.warmup} warm-up iterations of {len(tasks)} variants")
    round_robin(tasks, settings.warmup, lambda: None)
    say(f"cpu: {settings.iterations} timed iterations of {len(tasks)} variants, round-robin")
    progress = lambda r, n: say(f"  {r}/{n}  ({time.time() - started:.0f} s)")
    samples = round_robin(tasks, settings.iterations, lambda: None, first=settings.warmup,
                          progress=progress)
    rows = []
    for name in settings.models:
        row = {"model": name, "layouts": {}, "ratios": {}}
        for layout in layouts:
            tokens = layout.tokens[settings.warmup:settings.warmup + settings.iterations]
            entry = {"epoch_iterations": layout.epoch_iterations,
                     "epoch_tokens": layout.epoch_tokens, "padding": layout.padding,
                     "batch_tokens": _spread(numpy.asarray(tokens))}
            for variant in VARIANTS:
                key = (name, layout.name, variant)
                if key not in samples:
                    continue
                per_token = numpy.asarray(samples[key]) / numpy.asarray(tokens)
                summary = summarize(per_token, 1e6)                    # microseconds a token
                summary["iteration_ms"] = summarize(samples[key], 1e3)["median"]
                summary["epoch_s"] = summary["median"] * layout.epoch_tokens / 1e6
                entry[variant] = summary
                row.setdefault("_per_token", {})[layout.name, variant] = per_token
            row["layouts"][layout.name] = entry
        per_token = row.pop("_per_token")
        pairs = [(f"{v}: {a}/{b}", (a, v), (b, v)) for v in VARIANTS
                 for a, b in (("bucketed", "date"), ("shuffled", "date"), ("fixed", "date"),
                              ("bucketed", "shuffled"), ("bucketed", "fixed"))]
        pairs += [(f"ours/torch: {layout}", (layout, "ours"), (layout, "torch"))
                  for layout in LAYOUTS]
        for label, a, b in pairs:
            if a in per_token and b in per_token:
                row["ratios"][label] = ratio(per_token[a], per_token[b])
        rows.append(row)
    return {"corpus": corpus_info, "date_questions": settings.questions, "rows": rows,
            "wall_s": time.time() - started,
            "load_average": {"start": load_before, "end": os.getloadavg()}}


def _parser():
    p = argparse.ArgumentParser(
        prog="s2sxp bench padded",
        description="Time training iterations on variable-length sentences (a generated "
        "corpus, by characters) batched by length, shuffled, or padded to one width, per real "
        "token, beside the book's fixed-width date data, for our models and their PyTorch "
        "twins with packed sequences and masks.",
        epilog="examples:\n  s2sxp bench padded                      # attention, bahdanau-gru\n"
        "  s2sxp bench padded --models attention --iterations 20\n"
        "  s2sxp bench padded --quick --out /tmp/bench\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=None,
                   help=f"comma-separated, from {', '.join(ROWS)} (default: "
                   f"{','.join(Settings.models)})")
    for flag, help_text in (("iterations", "timed iterations a variant (default 10)"),
                            ("warmup", "warm-up iterations (default 2)"),
                            ("pairs", "generated sentence pairs, 90%% for training "
                             "(default 20000)"),
                            ("batch-size", "default 128"), ("hidden-size", "default 256"),
                            ("wordvec-size", "default 16")):
        p.add_argument(f"--{flag}", type=int, default=None, help=help_text)
    harness.common_flags(p, "tiny sizes: checks the script", "appended to the file names",
                         Settings.out)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    values = harness.common_settings(args, parser, QUICK, ("iterations", "warmup", "pairs",
                                                           "batch_size", "hidden_size",
                                                           "wordvec_size"))
    if "pairs" in values and not args.quick:
        values.setdefault("questions", values["pairs"])
    names = Settings.models
    if args.models:
        names = tuple(w.strip() for w in args.models.split(",") if w.strip())
        unknown = [w for w in names if w not in ROWS]
        if unknown:
            parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    settings = Settings(models=names, **values)
    if settings.batch_size * 2 > 0.9 * settings.pairs:
        parser.error(f"--pairs {settings.pairs} gives fewer than two batches of "
                     f"{settings.batch_size}")
    previous = (backend.name(), str(backend.dtype))
    try:
        torch = import_torch(settings.torch, settings.torch_threads)
        date = datetime.date.today().isoformat()
        report = {"tool": "s2sxp bench padded", "date": date,
                  "command": " ".join(["s2sxp bench padded", shlex.join(argv)]).strip(),
                  "settings": asdict(settings), "machine": machine_info(torch),
                  "source": source_info(), "result": run(settings, torch)}
    finally:
        backend.use(*previous)
    stem = "-".join(p for p in (date, "cpu-padded", "quick" if settings.quick else "",
                                settings.tag) if p)
    os.makedirs(settings.out, exist_ok=True)
    paths = [os.path.join(settings.out, f"{stem}.{ext}") for ext in ("json", "md")]
    atomic_write(paths[0], lambda f: f.write(json.dumps(report, indent=1).encode()))
    text = padded_markdown(report)
    atomic_write(paths[1], lambda f: f.write(text.encode()))
    print(text)
    say("wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

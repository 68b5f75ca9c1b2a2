"""What a reader of the book gains by changing one import: the work of its ch08/train.py (the date
data, D=16, H=256, batch 128, Adam, clipping at 5.0) done by its own code, on its own models and
on ours, in turns.

    python -m benchmarks.book_scripts --book PATH [--rounds 3] [--iterations 20]
        [--questions 200] [--models attention,seq2seq,peeky] [--quick]

PATH is a checkout of the book's code (oreilly-japan/deep-learning-from-scratch-2), which is not
part of this repository. Each round times, for every model and either implementation (the
order rotating from round to round):

    train   the book's Trainer.fit over ITERATIONS batches (forward, backward, remove_duplicate,
            clip_grads, its Adam's update), per iteration
    eval    the book's eval_seq2seq over QUESTIONS test questions, one at a time as ch08/train.py
            evaluates, per question

The record (``benchmarks/results/book-scripts/``) gives the medians and the ratio, the book's
over ours.
"""
import argparse
import contextlib
import io
import os
import statistics
import sys
import time

from benchmarks.harness import (machine_info, record_stem, results_folder, say, source_info,
                                write_record)

MODELS = ("attention", "seq2seq", "peeky")
#: The book's module and class of each model, and ours.
BOOK_CLASSES = {"attention": ("ch08.attention_seq2seq", "AttentionSeq2seq"),
                "seq2seq": ("ch07.seq2seq", "Seq2seq"),
                "peeky": ("ch07.peeky_seq2seq", "PeekySeq2seq")}


def book_modules(path):
    """The book's Trainer, Adam, eval_seq2seq, date data loader and model classes, imported from
    the checkout at ``path`` (its modules import one another as its scripts' folders let them)."""
    import importlib

    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "common", "trainer.py")):
        raise SystemExit(f"{path} is not a checkout of the book's code (no common/trainer.py)")
    sys.path[:0] = [path, os.path.join(path, "ch07")]
    trainer, optimizer = (importlib.import_module(m) for m in ("common.trainer",
                                                               "common.optimizer"))
    util, sequence = importlib.import_module("common.util"), importlib.import_module(
        "dataset.sequence")
    classes = {k: getattr(importlib.import_module(m), c) for k, (m, c) in BOOK_CLASSES.items()}
    return trainer.Trainer, optimizer.Adam, util.eval_seq2seq, sequence, classes


def measure(book, settings):
    """{model: {implementation: {"train": [s], "eval": [s]}}}, every sample per unit."""
    import s2sxp.models

    Trainer, Adam, eval_seq2seq, sequence, classes = book
    (x_train, t_train), (x_test, t_test) = sequence.load_data("date.txt")
    char_to_id, id_to_char = sequence.get_vocab()
    x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    V, B, n = len(char_to_id), 128, settings.iterations
    ours = {"attention": s2sxp.models.AttentionSeq2seq, "seq2seq": s2sxp.models.Seq2seq,
            "peeky": s2sxp.models.PeekySeq2seq}
    runs = {(m, impl): Trainer((classes if impl == "book" else ours)[m](V, 16, 256), Adam())
            for m in settings.models for impl in ("book", "s2sxp")}

    def train(trainer, r):
        rows = slice(r * n * B % (len(x_train) - n * B), None)
        with contextlib.redirect_stdout(io.StringIO()):             # the Trainer's log lines
            trainer.fit(x_train[rows][:n * B], t_train[rows][:n * B], max_epoch=1,
                        batch_size=B, max_grad=5.0, eval_interval=n + 1)

    def evaluate(model, r):
        start = r * settings.questions % (len(x_test) - settings.questions)
        for i in range(start, start + settings.questions):
            eval_seq2seq(model, x_test[[i]], t_test[[i]], id_to_char, False, True)

    for trainer in runs.values():                                   # warm-up
        train(trainer, 0)
        evaluate(trainer.model, 0)
    samples = {m: {impl: {"train": [], "eval": []} for impl in ("book", "s2sxp")}
               for m in settings.models}
    keys = list(runs)
    for r in range(settings.rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            say(f"round {r + 1}: {key[0]} ({key[1]})")
            start = time.perf_counter()
            train(runs[key], r + 1)
            middle = time.perf_counter()
            evaluate(runs[key].model, r + 1)
            end = time.perf_counter()
            samples[key[0]][key[1]]["train"].append((middle - start) / n)
            samples[key[0]][key[1]]["eval"].append((end - middle) / settings.questions)
    return samples


def report(samples, settings):
    lines = [f"# The book's ch08/train.py work: its models and ours, under its own code",
             "",
             f"{settings.rounds} rounds of {settings.iterations} training iterations (the book's "
             f"Trainer, batch 128) and {settings.questions} questions (its eval_seq2seq, one at "
             "a time) per model and implementation, in turns; medians.",
             "",
             "| model | train, book | train, s2sxp | book / s2sxp | eval, book | eval, s2sxp "
             "| book / s2sxp |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m, impls in samples.items():
        t = {impl: statistics.median(impls[impl]["train"]) for impl in impls}
        e = {impl: statistics.median(impls[impl]["eval"]) for impl in impls}
        lines.append(f"| {m} | {1e3 * t['book']:.1f} ms | {1e3 * t['s2sxp']:.1f} ms | "
                     f"{t['book'] / t['s2sxp']:.2f} | {1e3 * e['book']:.2f} ms | "
                     f"{1e3 * e['s2sxp']:.2f} ms | {e['book'] / e['s2sxp']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--book", required=True, help="a checkout of the book's code")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=20, help="training iterations a sample")
    p.add_argument("--questions", type=int, default=200, help="questions evaluated a sample")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--quick", action="store_true", help="a check of the script in seconds")
    p.add_argument("--out", default=results_folder("book-scripts"))
    p.add_argument("--tag", default="")
    settings = p.parse_args(argv)
    settings.models = settings.models.split(",")
    if [m for m in settings.models if m not in MODELS]:
        p.error(f"--models: choose from {', '.join(MODELS)}")
    if settings.quick:
        settings.rounds, settings.iterations, settings.questions = 1, 2, 5
    samples = measure(book_modules(settings.book), settings)
    text = report(samples, settings)
    record = {"settings": {k: v for k, v in vars(settings).items() if k != "out"},
              "machine": machine_info(), "source": source_info(), "samples": samples}
    write_record(record_stem(settings.out, "book-scripts", settings.tag), record, text)


if __name__ == "__main__":
    main()

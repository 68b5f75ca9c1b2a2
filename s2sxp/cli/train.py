"""``s2sxp train`` and ``s2sxp compare``: flags into settings (:class:`~s2sxp.config.TrainConfig`),
a :class:`~s2sxp.run.Run` (or a :class:`~s2sxp.compare.Comparison` of several) trained by the one
epoch loop, and what each epoch gave printed."""
import dataclasses
import json
import os
import signal
import sys

import numpy

from .. import distributed, models, parallel
from ..budget import PLAN_AFTER, SHARE
from ..compare import Comparison, compare_folder
from ..config import TrainConfig, read_settings
from ..folder import RunFolder
from ..io import NonFiniteParameters
from ..metrics import SCORE_NAMES, figure, score_text, scores_text
from ..run import Run
from ..schedule import FLOOR, PLANNED
from ..settings import SettingError, settings_of
from ..trainer import NonFiniteLoss, TrainingInterrupted, stop_on_interrupt
from .flags import backend_flag, command, device_words, flag_values, setting_flags, use_backend

BOOK_MODELS = ("seq2seq", "peeky", "attention")
#: The settings of one model or model family, which compare leaves to each model.
MODEL_SETTINGS = tuple(f.name for f in settings_of(TrainConfig)
                       if f.name == "model" or f.metadata.get("family"))


def add_train(sub):
    p = command(sub, "train", train,
                "train a model; keep checkpoints, history and plots in a folder",
                "Train a seq2seq model on a built-in dataset or a file in the book's format. "
                "Shows a progress bar on a terminal and the book's log lines otherwise; after "
                "every epoch prints the validation accuracy and writes, into the output folder, "
                "a checkpoint (resume with --resume), the last and best models (model.npz, "
                "best.npz), history.json, accuracy.png and loss.png. lr, --reverse, --max-grad "
                "and --optimizer default to the model's published recipe (the book's for "
                "seq2seq, peeky and attention: Adam, lr 0.001, reversed input, clip 5).",
                "  s2sxp train                                   # attention on dates, the book's "
                "settings\n"
                "  s2sxp train --model peeky --data addition --epochs 25\n"
                "  s2sxp train --data my_pairs.txt --out runs/mine  # a question_answer file\n"
                "  s2sxp train --data jpn.tsv --tokens char --model bahdanau  # a parallel "
                "corpus\n"
                "  s2sxp train --data jpn.tsv --tokens spm --minutes 15  # the best model in 15 "
                "minutes\n"
                "  s2sxp train --resume                          # after Ctrl-C, carry on\n"
                "  s2sxp train --config ja-en.toml --epochs 5    # settings from a file\n"
                "  s2sxp train --config runs/ja-en/config.json --seed 1 --out runs/ja-en-1\n"
                "  mpirun -n 2 s2sxp train --data jpn.tsv --tokens spm  # over 2 processes "
                "(pip install \"s2sxp[mpi]\"; README: Scaling out)\n")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="read the settings from this TOML file (epochs = 20, tokens = \"spm\", "
                   "...: each key a flag's name) or a run's config.json; flags given too "
                   "override it")
    setting_flags(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder [default: runs/MODEL-DATA; a cell or a bahdanau option "
                   "other than the default is added to the name, as in runs/bahdanau-lstm-last-"
                   "date, and a corpus's tokens and direction, as in runs/bahdanau-spm-src2-jpn]")
    run_flags(p)


def add_compare(sub):
    p = command(sub, "compare", compare,
                "train several models side by side and plot their accuracy",
                "Train several models on the same data with the same seed, one epoch of each "
                "at a time, and plot the validation accuracy per epoch of all of them into one "
                "picture, as the book's chapter 8 figure compares the baseline, Peeky and "
                "attention. Each model keeps a run folder (as train writes) inside the output "
                "folder; accuracy.png and loss.png there show them together. Settings not given "
                "come from each model's recipe.",
                "  s2sxp compare                                # seq2seq, peeky, attention on "
                "dates\n"
                "  s2sxp compare --models seq2seq peeky --data addition --epochs 25\n")
    p.add_argument("--models", nargs="+", default=None, choices=list(models.MODELS),
                   metavar="MODEL", help=f"models to compare, from: {', '.join(models.MODELS)} "
                   f"[default: {' '.join(BOOK_MODELS)}; with --resume, those of the run]")
    setting_flags(p, skip=MODEL_SETTINGS)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder [default: runs/compare-DATA]")
    run_flags(p)


def run_flags(p):
    p.add_argument("--resume", action="store_true",
                   help="carry on from the checkpoint in the output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run (or comparison) in the output folder, or write into a "
                   "folder of other files, replacing those named as ours and keeping the rest "
                   "[default: refuse a folder that holds anything]")
    backend_flag(p)


def _device():
    """The backend training runs on, in words (with the ranks, over several)."""
    ranks = distributed.world().size
    return device_words() + (f", {ranks} ranks" if ranks > 1 else "")


def _describe(run):
    c = run.config
    print(f"{c.model} ({c.cell}) on {c.data}: {run.data.describe()}; backend {_device()}; "
          f"folder {run.folder}")
    print("settings: " + json.dumps(c.as_dict()))
    for note in run.data.split("test").notes(c.bleu_tokenize) if run.writes else ():
        print(f"s2sxp train: note: {note}", file=sys.stderr)


def _reporter(count):
    """What is printed after each epoch: ``count`` examples and the validation scores (where
    the epoch ended in one)."""
    def report(run, scores, guesses, seconds):
        when = f"epoch {run.epoch}"
        if run.optimizer.lr != run.config.lr:
            when += f", lr now {run.lr_at(run.epoch * run.iterations_per_epoch):.3g}"
        if scores is None:
            print(f"{when} ({seconds:.1f}s{_left(run)})")
            return
        run.data.split("test").show(guesses, count)
        print(f"val {scores_text(scores)} ({when}, {seconds:.1f}s{_left(run)})")

    return report


def _left(run):
    """``, N minutes left`` of a run's budget (nothing without one)."""
    return "" if run.budget is None else f", {run.budget.minutes_left:.1f} minutes left"


def _inside_epoch(run, scores, guesses):
    """The line a validation inside an epoch (--eval-every, or a budget's) prints."""
    at = run.history["val_at"][-1]
    print(f"val {scores_text(scores)} (epoch {at / run.iterations_per_epoch:.2f}, iteration "
          f"{at}{_left(run)})")


def _first_look(run):
    """A fresh run validated nowhere inside its epochs shows its held-out score once early, a
    quarter into its first epoch (at most 100 iterations in): a first result long before the
    epoch's; it is printed, not kept."""
    P = run.iterations_per_epoch
    if run.trained or run.config.eval_every or P < 8:
        return
    run.preview_at = min(P // 4, 100)

    def show(run, scores, at):
        print(f"val {scores_text(scores)} so far (iteration {at} of {P}, a first look; the "
              "epoch's validation follows at its end)")

    run.on_preview = show


def _planner(run):
    """What prints a budget's plan, once its pace is known."""
    def plan(budget):
        c, p, P = run.config, budget.plan(), run.iterations_per_epoch
        decay = (f"decaying {'linearly' if c.schedule == 'linear' else 'along a cosine'} to "
                 f"{c.lr * FLOOR:.3g}" if c.schedule in PLANNED else f"by {c.schedule}")
        print(f"plan: about {p['iterations']} iterations ({p['iterations'] / P:.1f} epochs) at "
              f"{p['seconds']:.3g}s each, {p['validations']} validations (at most "
              f"{SHARE:.0%} of the budget with the last), the rate {decay}, training ending at "
              f"minute {p['end']:.1f} of {c.minutes:g} ({budget.spent / 60:.1f} spent so far); "
              "then the test file")

    return plan


def _print_test(run, name=""):
    """The line of the test file's scores, where the run has scored one."""
    if run.test_scores is not None:
        t = run.test_scores
        print(f"{name}test {scores_text(t)} (best.npz, epoch {t['epoch']}, beam {t['beam']}, "
              f"{t['sentences']} sentences of {run.config.test})")


def _interrupted(command_name, runs, folder, signals):
    """What Ctrl-C (exit 130) or SIGTERM (143) prints once the checkpoints are written."""
    what = "interrupted" if not signals or signals[0] == signal.SIGINT else "terminated"
    print(f"s2sxp {command_name}: {what} {runs[0].position}; checkpoint saved in {folder}; "
          f"carry on with: s2sxp {command_name} --resume --out {folder}", file=sys.stderr)
    return 128 + (signals[0] if signals else signal.SIGINT)


def _non_finite(command_name, run, error):
    print(f"s2sxp {command_name}: error: {run.config.model}: {error}; training stopped, the last "
          f"good checkpoint ({run.folder.saved_position()}) is kept in "
          f"{run.path('checkpoint.npz')}",
          file=sys.stderr)
    return 1


def _settings(args):
    """The settings of a run: the flags given, over those of --config FILE where given."""
    values = flag_values(args)                      # every setting, None where not given
    flags = {k: v for k, v in values.items() if v is not None}
    from_file = read_settings(args.config) if getattr(args, "config", None) else {}
    if "batch_size" in flags or "batch_tokens" in flags:   # the flag says how batches are cut
        from_file = {k: v for k, v in from_file.items() if k not in ("batch_size", "batch_tokens")}
    return TrainConfig(**{**values, **from_file, **flags})


def train(args):
    use_backend(args)
    settings = _settings(args)
    if args.resume:
        given = settings.given()
        folder = RunFolder(args.out or TrainConfig.folder_for(given))
        run = Run.resume(folder, given, world=distributed.world())
        print(f"s2sxp train: resuming {run.folder} {run.position}")
    else:
        config = settings.resolved()
        folder = RunFolder(args.out or config.default_folder(), args.overwrite)
        run = Run.start(folder, config, world=distributed.world())
        if folder.kind == "run":
            print(f"s2sxp train: replacing the run in {folder} (--overwrite)")
        print("s2sxp train: starting")
    try:
        with parallel.training_split():
            return _train(run)
    finally:
        run.close()


def _plan(run):
    """The line that says what training will do and when its first results come."""
    c, left = run.config, run.config.epochs - run.epoch
    batches = f"batch {c.batch_size}" if c.batch_size else f"batches of {c.batch_tokens} tokens"
    print(f"training {left} epoch{'s' if left != 1 else ''} of {run.iterations_per_epoch} "
          f"iterations ({batches}); after each epoch: the validation "
          f"{SCORE_NAMES[run.history.select][0]}, model.npz and best.npz")


def _train(run):
    _describe(run)
    if run.finished and run.scored:
        print(f"the run has spent its {run.config.minutes:g} minutes" if run.budget else
              f"the run has finished its {run.config.epochs} epochs; pass --epochs to train "
              "further")
        return 0
    if run.budget is not None:
        run.budget.on_plan = _planner(run)
        spent = run.budget.spent / 60
        print(f"budget: {run.config.minutes:g} minutes, start-up included"
              + (f", {spent:.1f} of them spent before this resume" if spent else "")
              + f"; the plan follows once {PLAN_AFTER} iterations are timed")
    else:
        _plan(run)
        _first_look(run)
    # NumPy's warnings are left out: a loss that turns NaN or infinite is reported once, below
    run.on_validation = _inside_epoch
    with stop_on_interrupt(run.trainer) as signals, numpy.errstate(all="ignore"):
        try:
            run.train(on_epoch=_reporter(count=3))
        except TrainingInterrupted:
            return _interrupted("train", [run], run.folder, signals)
        except (NonFiniteLoss, NonFiniteParameters) as e:
            return _non_finite("train", run, e)
    _print_test(run)
    best, epoch = run.best
    score = run.history.select
    if run.stopped_early:
        print(f"stopped early: the last {run.config.patience} validations did not improve on "
              f"the best {SCORE_NAMES[score][0]}")
    print(f"best val {score_text(score, best)} (epoch {epoch:g}); wrote {run.folder}: "
          + ", ".join(name for name in ("model.npz", "best.npz", "checkpoint.npz",
                                        "history.json", "history.csv", "accuracy.png",
                                        "loss.png", "bleu.png")
                      if os.path.exists(run.path(name))))
    return 0


def compare(args):
    if distributed.world().size > 1:
        raise ValueError("compare trains its models in one process; train each of them over "
                         "several with mpirun -n K s2sxp train --model MODEL")
    use_backend(args)
    settings = TrainConfig(**flag_values(args))
    if settings.minutes is not None:
        raise SettingError("minutes", "is for s2sxp train: compare trains its models an epoch "
                           "of each at a time, so no model has the clock to itself; give "
                           "--epochs, or train each model with s2sxp train --minutes")
    folder = args.out or compare_folder(settings.data or TrainConfig.data)
    names = args.models and list(dict.fromkeys(args.models))
    if args.resume:
        comparison = Comparison.resume(folder, names, settings.given())
        print(f"s2sxp compare: resuming {folder}: "
              + ", ".join(f"{r.config.model} {r.position}" for r in comparison.runs))
    else:
        names = names or list(BOOK_MODELS)
        comparison = Comparison.start(folder, [dataclasses.replace(settings, model=name)
                                               for name in names], args.overwrite)
        print(f"s2sxp compare: {', '.join(names)} in {folder}")
    try:
        return _compare(comparison)
    finally:
        comparison.close()


def _compare(comparison):
    runs = comparison.runs
    for run in runs:
        _describe(run)
    current = []                                    # the run whose epoch is in progress

    def before_epoch(run):
        current[:] = [run]
        print(f"== {run.config.model}, epoch {run.epoch + 1} of {run.config.epochs}")

    def after_round(runs):
        scored = [r for r in runs if r.history["val_acc"]]
        if scored:
            score = scored[0].history.select
            print(f"val {SCORE_NAMES[score][1]} " + "  ".join(
                f"{r.config.model} {figure(score, r.history.selected[-1])}"
                for r in scored))

    with stop_on_interrupt(*(r.trainer for r in runs)) as signals, \
            numpy.errstate(all="ignore"):
        try:
            comparison.train(before_epoch, _reporter(count=1), after_round)
        except TrainingInterrupted:
            active = [r for r in runs if r.trainer.iteration]
            return _interrupted("compare", active + [r for r in runs if r not in active],
                                comparison.folder, signals)
        except (NonFiniteLoss, NonFiniteParameters) as e:
            return _non_finite("compare", current[0], e)
    for run in runs:
        _print_test(run, f"{run.config.model} ")
    pictures = sorted(name for name in ("accuracy.png", "bleu.png", "loss.png")
                      if os.path.exists(os.path.join(comparison.folder, name)))
    print(f"wrote {comparison.folder}: {', '.join(pictures)} and a run folder per model")
    return 0

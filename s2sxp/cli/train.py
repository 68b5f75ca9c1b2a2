"""``s2sxp train`` and ``s2sxp compare``: flags into a :class:`~s2sxp.config.TrainConfig`, a
:class:`~s2sxp.run.Run` trained, and what each epoch gave printed."""
import argparse
import json
import os
import signal
import sys

import numpy

from .. import distributed, models
from ..metrics import show_examples, show_translations
from ..config import CORPUS_OPTIONS, MODEL_OPTIONS, TrainConfig
from ..files import FolderLock
from ..io import NonFiniteParameters
from ..compare import compare_folder, resume_comparison, start_comparison, train_together
from ..run import Run, check_folder
from ..trainer import NonFiniteLoss, TrainingInterrupted, stop_on_interrupt
from .flags import (command, finite, percent, positive, scores_text, training_flags,
                    use_backend)

BOOK_MODELS = ("seq2seq", "peeky", "attention")
TRAIN_NAMES = (("model", "cell", "data", "examples", "epochs", "batch_size", "wordvec_size",
                "hidden_size", "optimizer", "lr", "lr_half_life", "anneal_at", "max_grad",
                "reverse", "seed", "eval_every", "patience", "plateau", "label_smoothing")
               + MODEL_OPTIONS + CORPUS_OPTIONS)


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
                "  s2sxp train --resume                          # after Ctrl-C, carry on\n"
                "  mpirun -n 2 s2sxp train --data jpn.tsv --tokens spm  # over 2 processes "
                "(pip install \"s2sxp[mpi]\"; README: Scaling out)\n")
    p.add_argument("--model", default=None, choices=list(models.MODELS),
                   help="model family [default: attention]")
    training_flags(p)
    p.add_argument("--init-state", default=None, choices=["sum", "last"],
                   help="bahdanau only: the decoder starts from the sum of the encoder states or "
                   "from the last one [default: sum]")
    p.add_argument("--reset-state-each-step", action=argparse.BooleanOptionalAction,
                   default=None, help="bahdanau only: restart the decoder cell from zeros at "
                   "every step, as TensorFlow's NMT tutorial does [default: no]")
    p.add_argument("--layers", type=positive, default=None, metavar="N",
                   help="bahdanau and attention: --encoder-layers and --decoder-layers both N, "
                   "where not given on their own")
    p.add_argument("--encoder-layers", type=positive, default=None, metavar="N",
                   help="bahdanau and attention: recurrent layers of the encoder [default: 1]")
    p.add_argument("--decoder-layers", type=positive, default=None, metavar="N",
                   help="bahdanau and attention: recurrent layers of the decoder, plain cells "
                   "stacked over its attentive one [default: 1]")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="bahdanau and attention: each encoder layer reads the sentence forward "
                   "and backward, a bridge bringing the two to the hidden size [default: no]")
    p.add_argument("--dropout", type=finite, default=None, metavar="P",
                   help="bahdanau and attention: while training, drop this part of the "
                   "embeddings, of the inputs of the later layers and of what goes into the "
                   "output layer [default: 0]")
    p.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="bahdanau only: the output layer's weights are the target embedding's, "
                   "transposed (needs --wordvec-size equal to --hidden-size) [default: no]")
    p.add_argument("--input-feeding", action=argparse.BooleanOptionalAction, default=None,
                   help="attention only: the decoder cell also reads the context of the step "
                   "before (Luong et al. 2015) [default: no]")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder [default: runs/MODEL-DATA; a cell or a bahdanau option "
                   "other than the default is added to the name, as in runs/bahdanau-lstm-last-"
                   "date]")
    overwrite_flag(p)


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
    training_flags(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder [default: runs/compare-DATA]")
    overwrite_flag(p)


def overwrite_flag(p):
    p.add_argument("--overwrite", action="store_true",
                   help="train into a folder that holds files but no run, replacing those of "
                   "them a run writes [default: refuse such a folder]")


def _given(args):
    """The training settings named on the command line (others None)."""
    return {n: getattr(args, n) for n in TRAIN_NAMES if getattr(args, n, None) is not None}


def _describe(run, device):
    d, c = run.data, run.config
    if run.is_corpus:
        unit = {"char": "characters", "word": "words", "spm": "subwords"}[c.tokens]
        sizes = (f"{len(d.vocab)}" if d.source_vocab is d.vocab else
                 f"{len(d.source_vocab)} source / {len(d.vocab)} target")
        what = (f"{len(d.x_train)} train / {len(d.x_test)} {'dev' if c.dev else 'test'} "
                f"sentence pairs, vocabulary {sizes} {unit}")
        if d.test_set is not None:
            what += f", {len(d.test_set.x)} test pairs for the end"
    else:
        what = (f"{len(d.x_train)} train / {len(d.x_test)} test questions, vocabulary "
                f"{len(d.vocab)}")
    print(f"{c.model} ({c.cell}) on {c.data}: {what}; backend {device}; folder {run.folder}")
    print("settings: " + json.dumps(c.as_dict()))


def _reporter(count):
    """What is printed after each epoch: ``count`` examples and the validation scores."""
    def report(run, scores, guesses, seconds):
        d, c = run.data, run.config
        when = f"epoch {run.epoch}"
        if run.optimizer.lr != c.lr:
            when += f", lr now {run.lr_at(run.epoch * run.iterations_per_epoch):.3g}"
        if run.is_corpus:
            show_translations(d.src_test, d.ref_test, guesses, count)
            print(f"val {scores_text(scores)} ({when}, {seconds:.1f}s)")
            return
        show_examples(d.x_test, d.t_test, guesses, d.vocab, count=count,
                      reversed_input=c.reverse)
        print(f"val acc {percent(scores['exact'])} ({when}, {seconds:.1f}s)")

    return report


def _inside_epoch(run, scores, guesses):
    """The line a validation inside an epoch (--eval-every) prints."""
    at = run.history["val_at"][-1]
    shown = scores_text(scores) if run.is_corpus else f"acc {percent(scores['exact'])}"
    print(f"val {shown} (epoch {at / run.iterations_per_epoch:.2f}, iteration {at})")


def _interrupted(command_name, runs, folder, signals):
    """What Ctrl-C (exit 130) or SIGTERM (143) prints once the checkpoints are written."""
    what = "interrupted" if not signals or signals[0] == signal.SIGINT else "terminated"
    print(f"s2sxp {command_name}: {what} {runs[0].position}; checkpoint saved in {folder}; "
          f"carry on with: s2sxp {command_name} --resume --out {folder}", file=sys.stderr)
    return 128 + (signals[0] if signals else signal.SIGINT)


def _non_finite(command_name, run, error):
    print(f"s2sxp {command_name}: error: {run.config.model}: {error}; training stopped, the last "
          f"good checkpoint ({run.saved_position()}) is kept in {run.path('checkpoint.npz')}",
          file=sys.stderr)
    return 1


def train(args):
    ranks = distributed.world()
    device = use_backend(args)
    if ranks.size > 1:
        device += f", {ranks.size} ranks"
    for name in ("encoder_layers", "decoder_layers"):
        if getattr(args, name) is None:
            setattr(args, name, args.layers)
    given = _given(args)
    if given.get("batch_size") is not None and given.get("batch_tokens") is not None:
        raise ValueError("--batch-size and --batch-tokens both size the batches; give one")
    if args.resume:
        naming = ("model", "cell", "data", "tokens", "langs") + MODEL_OPTIONS
        folder = args.out or TrainConfig(**{k: v for k, v in given.items()
                                            if k in naming}).resolved().default_folder()
        run = Run.resume(folder, given, world=ranks)
        print(f"s2sxp train: resuming {folder} {run.position}")
    else:
        config = TrainConfig(**given).resolved()
        folder = args.out or config.default_folder()
        replacing = os.path.exists(os.path.join(folder, "checkpoint.npz"))
        run = Run.start(folder, config, overwrite=args.overwrite, world=ranks)
        if replacing:
            print(f"s2sxp train: replacing the run in {folder} (--resume would carry it on)")
        print("s2sxp train: starting")
    try:
        return _train(run, device)
    finally:
        run.close()


def _train(run, device):
    _describe(run, device)
    if run.finished:
        print(f"the run has finished its {run.config.epochs} epochs; pass --epochs to train "
              "further")
        return 0
    # NumPy's warnings are left out: a loss that turns NaN or infinite is reported once, below
    run.on_validation = _inside_epoch
    with stop_on_interrupt(run.trainer) as signals, numpy.errstate(all="ignore"):
        try:
            run.train(on_epoch=_reporter(count=3))
        except TrainingInterrupted:
            return _interrupted("train", [run], run.folder, signals)
        except (NonFiniteLoss, NonFiniteParameters) as e:
            return _non_finite("train", run, e)
    best, epoch = run.best
    if run.test_scores is not None:
        t = run.test_scores
        print(f"test {scores_text(t)} (best.npz, epoch {t['epoch']}, beam {t['beam']}, "
              f"{t['sentences']} sentences of {run.config.test})")
    shown = f"BLEU {best:.2f}" if run.is_corpus else f"acc {percent(best)}"
    if run.stopped_early:
        score = {"bleu": "BLEU", "chrf": "chrF"}[run.config.select] if run.is_corpus else "accuracy"
        print(f"stopped early: the last {run.config.patience} validations did not improve on "
              f"the best {score}")
    print(f"best val {shown} (epoch {epoch:g}); wrote {run.folder}: model.npz, best.npz, "
          "checkpoint.npz, history.json, accuracy.png, loss.png"
          + (", bleu.png" if run.is_corpus else ""))
    return 0


def compare(args):
    if distributed.world().size > 1:
        raise ValueError("compare trains its models in one process; train each of them over "
                         "several with mpirun -n K s2sxp train --model MODEL")
    device = use_backend(args)
    given = _given(args)
    folder = args.out or compare_folder(given.get("data", TrainConfig.data))
    if not args.resume:
        check_folder(folder, args.overwrite)
    os.makedirs(folder, exist_ok=True)
    runs = []
    with FolderLock(folder):
        try:
            if args.resume:
                runs = resume_comparison(folder, args.models and list(dict.fromkeys(args.models)),
                                         given)
                print(f"s2sxp compare: resuming {folder}: "
                      + ", ".join(f"{r.config.model} {r.position}" for r in runs))
            else:
                names = list(dict.fromkeys(args.models or BOOK_MODELS))
                runs = start_comparison(folder, [TrainConfig(**dict(given, model=name)).resolved()
                                                 for name in names])
                print(f"s2sxp compare: {', '.join(names)} in {folder}")
            return _compare(runs, folder, device)
        finally:
            for run in runs:
                run.close()


def _compare(runs, folder, device):
    for run in runs:
        _describe(run, device)

    current = []                                    # the run whose epoch is in progress

    def before_epoch(run):
        current[:] = [run]
        print(f"== {run.config.model}, epoch {run.epoch + 1} of {run.config.epochs}")

    def after_round(runs):
        scored = [r for r in runs if r.history["val_acc"]]
        if scored:
            label = "BLEU" if scored[0].is_corpus else "acc"
            print(f"val {label} " + "  ".join(f"{r.config.model} {_latest(r)}" for r in scored))

    with stop_on_interrupt(*(r.trainer for r in runs)) as signals, \
            numpy.errstate(all="ignore"):
        try:
            train_together(runs, folder, before_epoch, _reporter(count=1), after_round)
        except TrainingInterrupted:
            active = [r for r in runs if r.trainer.iteration]
            return _interrupted("compare", active + [r for r in runs if r not in active],
                                folder, signals)
        except (NonFiniteLoss, NonFiniteParameters) as e:
            return _non_finite("compare", current[0], e)
    print(f"wrote {folder}: accuracy.png, loss.png and a run folder per model")
    return 0


def _latest(run):
    if run.is_corpus:
        return f"{run.history['val_bleu'][-1]:.2f}"
    return percent(run.history["val_acc"][-1])

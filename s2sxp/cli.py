"""The ``s2sxp`` command line (also ``python -m s2sxp``): train, eval, translate, compare, plot
and bench.

Each command exits 0 when it worked. A mistake in what it was given (flags, data, a model or
checkpoint file, the backend) ends it with one line ``s2sxp COMMAND: error: ...`` and exit code 2;
a loss that turns NaN or infinite with exit code 1; Ctrl-C, after a checkpoint is written, with 130.
"""
import argparse
import importlib
import json
import os
import sys
import textwrap
import time
import warnings

import numpy

from . import backend, corpus, datasets, io, metrics, models, viz
from .optim import OPTIMIZERS
from .run import (COMPARE_FILE, CORPUS_OPTIONS, MODEL_OPTIONS, CorpusData, Run, TrainConfig,
                  compared_models, load_data, plot_histories, read_histories, stop_on_interrupt,
                  write_compared_models)
from .trainer import (NonFiniteLoss, TrainingInterrupted, decode, evaluate,
                      evaluate_translations, show_examples)

DEFAULT_RUN = os.path.join("runs", "attention-date")
BOOK_MODELS = ("seq2seq", "peeky", "attention")
USER_ERRORS = (backend.BackendError, datasets.DatasetError, io.CheckpointError, ValueError,
               OSError)


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _command(sub, name, summary, description, examples):
    return sub.add_parser(name, help=summary, description=textwrap.fill(description, 88),
                          epilog="examples:\n" + examples, formatter_class=_formatter)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _backend_flag(p):
    p.add_argument("--backend", default=None, choices=list(backend.BACKENDS),
                   help="array backend; unset: $S2S_BACKEND, else numpy (auto: cupy when a GPU "
                   "is usable, else numpy with a notice)")


def _training_flags(p):
    """Flags shared by train and compare; None means: the run's default or the model's recipe."""
    p.add_argument("--cell", default=None, choices=["lstm", "gru"],
                   help="recurrent cell [default: the model's, lstm for the book's three]")
    p.add_argument("--data", default=None, metavar="NAME|FILE",
                   help="dataset name (date, addition), a text file in the book's "
                   "question_answer format, or a parallel corpus: source<TAB>target per line "
                   "(.tsv, as Tatoeba/Anki export it) [default: date]")
    p.add_argument("--tokens", default=None, choices=list(corpus.TOKENIZERS),
                   help="parallel corpus: split sentences into characters or whitespace words "
                   "[default: char]")
    p.add_argument("--min-freq", type=_positive, default=None, metavar="N",
                   help="parallel corpus: tokens seen fewer times in training become <unk> "
                   "[default: 1]")
    p.add_argument("--max-vocab", type=_positive, default=None, metavar="N",
                   help="parallel corpus: keep the N - 4 most frequent tokens [default: all]")
    p.add_argument("--max-length", type=_positive, default=None, metavar="N",
                   help="parallel corpus: a sentence of more tokens is an error (or skipped "
                   "with --skip-bad) [default: no limit]")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="parallel corpus: skip bad lines (no tab, empty, not UTF-8, too long) "
                   "and say how many, instead of stopping at the first")
    p.add_argument("--examples", type=_positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: 50000]")
    p.add_argument("--epochs", type=_positive, default=None, metavar="N",
                   help="epochs to train; with --resume, the new total [default: 10]")
    p.add_argument("--batch-size", type=_positive, default=None, metavar="N",
                   help="[default: 128]")
    p.add_argument("--wordvec-size", type=_positive, default=None, metavar="N",
                   help="[default: 16]")
    p.add_argument("--hidden-size", type=_positive, default=None, metavar="N",
                   help="[default: 256]")
    p.add_argument("--optimizer", default=None, choices=list(OPTIMIZERS),
                   help="[default: the model's recipe]")
    p.add_argument("--lr", type=float, default=None, metavar="RATE",
                   help="learning rate [default: the model's recipe]")
    p.add_argument("--lr-half-life", type=int, default=None, metavar="N",
                   help="halve the learning rate every N iterations (smoothly: lr * 0.5 ** "
                   "(iteration / N)); 0 keeps it constant [default: the model's recipe: 0, "
                   "bahdanau 350]")
    p.add_argument("--anneal-at", type=float, default=None, metavar="ACC",
                   help="once the validation accuracy (exact match, 0-1) has reached ACC, halve "
                   "the learning rate after every epoch; 0: never [default: the model's "
                   "recipe: 0.99]")
    p.add_argument("--max-grad", "--clip", dest="max_grad", type=float, default=None,
                   metavar="NORM",
                   help="clip gradients to this global norm, 0 for none "
                   "[default: the model's recipe]")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=None,
                   help="feed the questions reversed [default: the model's recipe]")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of the initial weights and the shuffling [default: 0]")
    p.add_argument("--resume", action="store_true",
                   help="carry on from the checkpoint in the output folder")
    _backend_flag(p)


def _given(args, names):
    """The training settings named on the command line (others None)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _config(given):
    return TrainConfig(**given).resolved()


def _use_backend(args):
    if getattr(args, "backend", None):
        backend.use(args.backend)
    return f"{backend.name()} {numpy.dtype(backend.dtype).name}"


def _data_name(data):
    return os.path.splitext(os.path.basename(data))[0]


def _pct(acc):
    return f"{100 * acc:.3f}%"


def _interrupted(command, runs):
    for run in runs:
        run.save_checkpoint()
    run = runs[0]
    where = _position(run)
    folder = os.path.dirname(run.folder) if command == "compare" else run.folder
    print(f"s2sxp {command}: interrupted {where}; checkpoint saved in {folder}; "
          f"carry on with: s2sxp {command} --resume --out {folder}", file=sys.stderr)
    return 130


def _position(run):
    if run.trainer.iteration:
        return f"in epoch {run.epoch + 1} after iteration {run.trainer.iteration}"
    return f"after epoch {run.epoch}"


def _non_finite(command, run, error):
    print(f"s2sxp {command}: error: {run.config.model}: {error}; training stopped, the last good "
          f"checkpoint ({_checkpoint_epoch(run)}) is kept in {run.path('checkpoint.npz')}",
          file=sys.stderr)
    return 1


def _checkpoint_epoch(run):
    try:
        checkpoint = io.read_checkpoint(run.path("checkpoint.npz"))
    except (io.CheckpointError, OSError):
        return "none"
    epoch, state = checkpoint.epoch, checkpoint.trainer_state
    if state.get("order") is not None:
        return f"in epoch {epoch + 1} after iteration {state['next']}"
    return f"after epoch {epoch}" if epoch else "the initial weights"


# -- train ---------------------------------------------------------------------------------------

TRAIN_NAMES = ("model", "cell", "data", "examples", "epochs", "batch_size", "wordvec_size",
               "hidden_size", "optimizer", "lr", "lr_half_life", "anneal_at", "max_grad", "reverse",
               "seed") + MODEL_OPTIONS + CORPUS_OPTIONS


def _train_parser(sub):
    p = _command(sub, "train", "train a model; keep checkpoints, history and plots in a folder",
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
                 "  s2sxp train --resume                          # after Ctrl-C, carry on\n")
    p.add_argument("--model", default=None, choices=list(models.MODELS),
                   help="model family [default: attention]")
    _training_flags(p)
    p.add_argument("--init-state", default=None, choices=["sum", "last"],
                   help="bahdanau only: the decoder starts from the sum of the encoder states or "
                   "from the last one [default: sum]")
    p.add_argument("--reset-state-each-step", action=argparse.BooleanOptionalAction,
                   default=None, help="bahdanau only: restart the decoder cell from zeros at "
                   "every step, as TensorFlow's NMT tutorial does [default: no]")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder [default: runs/MODEL-DATA; a cell or a bahdanau option "
                   "other than the default is added to the name, as in runs/bahdanau-lstm-last-"
                   "date]")
    p.set_defaults(handler=train)


def _run_folder(config):
    """runs/MODEL-DATA, with the cell and the model's options where they are not the defaults."""
    default = TrainConfig(model=config.model).resolved()
    parts = [config.model]
    if config.cell != default.cell:
        parts.append(config.cell)
    if config.init_state != default.init_state:
        parts.append(config.init_state)
    if config.reset_state_each_step:
        parts.append("reset")
    if config.tokens == "word":
        parts.append("word")
    return os.path.join("runs", "-".join(parts + [_data_name(config.data)]))


def _describe(run, device):
    d, c = run.data, run.config
    if isinstance(d, CorpusData):
        what = (f"{len(d.x_train)} train / {len(d.x_test)} test sentence pairs, vocabulary "
                f"{len(d.vocab)} {'characters' if c.tokens == 'char' else 'words'}")
    else:
        what = (f"{len(d.x_train)} train / {len(d.x_test)} test questions, vocabulary "
                f"{len(d.vocab)}")
    print(f"{c.model} ({c.cell}) on {c.data}: {what}; backend {device}; folder {run.folder}")
    print("settings: " + json.dumps(c.as_dict()))


def _show_translations(sources, references, hypotheses, count, file=None):
    for source, reference, hypothesis in list(zip(sources, references, hypotheses))[:count]:
        mark = "O" if hypothesis == reference else "X"
        print(f"S {source}\nR {reference}\n{mark} {hypothesis}\n---", file=file)


def _scores_text(scores):
    return (f"BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f}, exact "
            f"{_pct(scores['exact'])}")


def _report_epoch(run, result, seconds, count=3):
    d, c = run.data, run.config
    when = f"epoch {run.epoch}"
    if run.optimizer.lr != c.lr:
        when += f", lr now {run.lr_at(run.epoch * (len(d.x_train) // c.batch_size)):.3g}"
    if isinstance(d, CorpusData):
        scores, hypotheses = result
        _show_translations(d.src_test, d.ref_test, hypotheses, count)
        print(f"val {_scores_text(scores)} ({when}, {seconds:.1f}s)")
        return
    acc, guesses = result
    show_examples(d.x_test, d.t_test, guesses, d.vocab, count=count, reversed_input=c.reverse)
    print(f"val acc {_pct(acc)} ({when}, {seconds:.1f}s)")


def _best(run):
    scores = run.history[run.score_name]
    best = max(scores)
    shown = f"BLEU {best:.2f}" if run.score_name == "val_bleu" else f"acc {_pct(best)}"
    return f"best val {shown} (epoch {1 + scores.index(best)})"


def train(args):
    device = _use_backend(args)
    given = _given(args, TRAIN_NAMES)
    if args.resume:
        naming = ("model", "cell", "data", "tokens") + MODEL_OPTIONS
        folder = args.out or _run_folder(_config({k: v for k, v in given.items() if k in naming}))
        run = Run.resume(folder, given)
        print(f"s2sxp train: resuming {folder} {_position(run)}")
    else:
        config = _config(given)
        folder = args.out or _run_folder(config)
        if os.path.exists(os.path.join(folder, "checkpoint.npz")):
            print(f"s2sxp train: replacing the run in {folder} (--resume would carry it on)")
        run = Run.start(folder, config)
        print("s2sxp train: starting")
    _describe(run, device)
    if run.finished:
        print(f"the run has finished its {run.config.epochs} epochs; pass --epochs to train "
              "further")
        return 0
    # NumPy's warnings are left out: a loss that turns NaN or infinite is reported once, below
    with stop_on_interrupt(run.trainer), numpy.errstate(all="ignore"):
        try:
            while not run.finished:
                start = time.time()
                _report_epoch(run, run.train_epoch(), time.time() - start)
                if run.trainer.stop_requested and not run.finished:
                    raise TrainingInterrupted
        except TrainingInterrupted:
            return _interrupted("train", [run])
        except NonFiniteLoss as e:
            return _non_finite("train", run, e)
    print(f"{_best(run)}; wrote {run.folder}: model.npz, best.npz, checkpoint.npz, "
          "history.json, accuracy.png, loss.png" + (", bleu.png" if "val_bleu" in run.history
                                                   else ""))
    return 0


# -- compare -------------------------------------------------------------------------------------

def _compare_parser(sub):
    p = _command(sub, "compare", "train several models side by side and plot their accuracy",
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
    _training_flags(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder [default: runs/compare-DATA]")
    p.set_defaults(handler=compare)


def compare(args):
    device = _use_backend(args)
    given = _given(args, TRAIN_NAMES)
    data_name = given.get("data", TrainConfig.data)
    folder = args.out or os.path.join("runs", f"compare-{_data_name(data_name)}")
    names = list(dict.fromkeys(args.models or BOOK_MODELS))
    runs = []
    if args.resume:
        if args.models is None:
            names = compared_models(folder)
            if names is None:
                raise FileNotFoundError(f"{folder} holds no {COMPARE_FILE} (start the comparison "
                                        "with s2sxp compare, without --resume)")
        for name in names:
            runs.append(Run.resume(os.path.join(folder, name), dict(given, model=name)))
        print(f"s2sxp compare: resuming {folder}: "
              + ", ".join(f"{r.config.model} {_position(r)}" for r in runs))
    else:
        configs = [_config(dict(given, model=name)) for name in names]
        raw = load_data(configs[0], reverse=False)
        os.makedirs(folder, exist_ok=True)
        write_compared_models(folder, names)
        for config in configs:
            data = raw.reversed() if config.reverse else raw
            runs.append(Run.start(os.path.join(folder, config.model), config, data))
        print(f"s2sxp compare: {', '.join(names)} in {folder}")
    for run in runs:
        _describe(run, device)
    with stop_on_interrupt(*(r.trainer for r in runs)), numpy.errstate(all="ignore"):
        try:
            while not all(r.finished for r in runs):
                for run in runs:
                    if run.finished:
                        continue
                    print(f"== {run.config.model}, epoch {run.epoch + 1} of {run.config.epochs}")
                    start = time.time()
                    _report_epoch(run, run.train_epoch(), time.time() - start, count=1)
                    if run.trainer.stop_requested:
                        raise TrainingInterrupted
                plot_histories({r.config.model: r.history_dict() for r in runs}, folder)
                scored = [r for r in runs if r.history["val_acc"]]
                if scored:
                    print(f"val {_score_label(scored[0])} "
                          + "  ".join(f"{r.config.model} {_latest(r)}" for r in scored))
        except TrainingInterrupted:
            plot_histories({r.config.model: r.history_dict() for r in runs}, folder)
            active = [r for r in runs if r.trainer.iteration]
            return _interrupted("compare", active + [r for r in runs if r not in active])
        except NonFiniteLoss as e:
            return _non_finite("compare", run, e)
    print(f"wrote {folder}: accuracy.png, loss.png and a run folder per model")
    return 0


def _score_label(run):
    return "BLEU" if run.score_name == "val_bleu" else "acc"


def _latest(run):
    if run.score_name == "val_bleu":
        return f"{run.history['val_bleu'][-1]:.2f}"
    return _pct(run.history["val_acc"][-1])


# -- eval ----------------------------------------------------------------------------------------

def _model_path(run):
    """A model file, given a run folder (its last model) or a file."""
    if os.path.isdir(run):
        path = os.path.join(run, "model.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run} holds no model.npz (has a run there finished an "
                                    "epoch?)")
        return path
    if not os.path.exists(run):
        raise FileNotFoundError(f"no run folder or model file at {run} (train one with "
                                "s2sxp train, or name it with --run)")
    return run


def _load_model(run):
    path = _model_path(run)
    model = io.load(path)
    if model.vocab is None:
        raise io.CheckpointError(f"{path} holds no vocabulary (save it with io.save(model, path, "
                                 "vocab=vocab))")
    return model, path


def _in_model_vocab(ids, data_vocab, model, source):
    """Data ids re-encoded in the model's vocabulary (the same characters may have other ids)."""
    unknown = [c for c in data_vocab.chars if c not in model.vocab.char_to_id]
    if unknown:
        raise ValueError(f"{source} has characters the model's vocabulary lacks: "
                         + ", ".join(map(repr, unknown)))
    return model.vocab.encode("".join(data_vocab.chars))[ids]


def _eval_parser(sub):
    p = _command(sub, "eval", "accuracy, or BLEU and chrF, of a saved model on a dataset",
                 "Decode the test split (the book's 10%) of a dataset with a saved model and "
                 "print its exact-match accuracy and the first few questions with their true "
                 "and guessed answers; for a model trained on a parallel corpus, the corpus "
                 "BLEU and chrF of its translations (sacrebleu) too, greedy or with --beam. The "
                 "data defaults to what the model was trained on.",
                 "  s2sxp eval                                    # runs/attention-date\n"
                 "  s2sxp eval --run runs/peeky-addition/best.npz --count 5\n"
                 "  s2sxp eval --run runs/mine --data other_pairs.txt\n"
                 "  s2sxp eval --run runs/bahdanau-jpn --beam 5   # a parallel corpus\n")
    p.add_argument("--run", default=DEFAULT_RUN, metavar="DIR|FILE",
                   help="a run folder (its last model) or a model file (.npz) "
                   f"[default: {DEFAULT_RUN}]")
    p.add_argument("--data", default=None, metavar="NAME|FILE",
                   help="dataset name or question_answer file [default: the model's]")
    p.add_argument("--examples", type=_positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: the model's]")
    p.add_argument("--split", default="test", choices=["test", "train"],
                   help="[default: test]")
    p.add_argument("--count", type=int, default=10, metavar="N",
                   help="questions to print [default: 10]")
    _decoding_flags(p)
    p.add_argument("--bleu-tokenize", default="13a", choices=list(metrics.BLEU_TOKENIZERS),
                   help="how sacrebleu splits the text for BLEU (char: for Japanese or Chinese "
                   "without a segmenter) [default: 13a]")
    _backend_flag(p)
    p.set_defaults(handler=eval_)


def _decoding_flags(p):
    p.add_argument("--beam", type=_positive, default=1, metavar="K",
                   help="parallel corpus: beam search with K beams; 1 is greedy [default: 1]")
    p.add_argument("--length-penalty", type=float, default=1.0, metavar="A",
                   help="beam search: rank hypotheses by log-probability / length ** A "
                   "[default: 1.0, the mean per token]")


def _is_corpus_model(model):
    return isinstance(model.vocab, corpus.TokenVocab)


def _check_decoding(args, model, path):
    if args.beam > 1 and not _is_corpus_model(model):
        raise ValueError(f"--beam is for models trained on a parallel corpus; {path} answers "
                         "fixed-width questions, decoded greedily")


def _eval_corpus(args, model, path):
    meta = model.meta
    data_name = args.data or meta.get("data")
    if data_name is None:
        raise ValueError(f"{path} does not record its data; name it with --data")
    options = {k: meta[k] for k in CORPUS_OPTIONS if meta.get(k) is not None}
    config = TrainConfig(data=data_name, **dict(options, tokens=model.vocab.tokenizer))
    data = CorpusData.load(config, reverse=bool(meta.get("reversed_input")), vocab=model.vocab)
    if args.split == "test":
        x, sources, references = data.x_test, data.src_test, data.ref_test
    else:
        x, sources, references = data.x_train, data.src_train, data.ref_train
    max_length = meta.get("max_output_length") or data.max_output_length
    scores, hypotheses = evaluate_translations(
        model, x, references, model.vocab, max_length, beam=args.beam,
        length_penalty=args.length_penalty, bleu_tokenize=args.bleu_tokenize,
        progress=sys.stdout)
    _show_translations(sources, references, hypotheses, args.count)
    decoding = "greedy" if args.beam == 1 else f"beam {args.beam}"
    print(f"{path} on {data_name} ({args.split}, {len(references)} sentences, {decoding}): "
          f"{_scores_text(scores)}")
    return 0


def eval_(args):
    _use_backend(args)
    model, path = _load_model(args.run)
    _check_decoding(args, model, path)
    if _is_corpus_model(model):
        return _eval_corpus(args, model, path)
    meta = model.meta
    data_name = args.data or meta.get("data")
    if data_name is None:
        raise ValueError(f"{path} does not record its data; name it with --data")
    examples = args.examples or meta.get("examples", 50000)
    (x_train, t_train), (x_test, t_test), vocab = datasets.load(data_name, n=examples)
    x, t = (x_test, t_test) if args.split == "test" else (x_train, t_train)
    x = _in_model_vocab(x, vocab, model, data_name)
    t = _in_model_vocab(t, vocab, model, data_name)
    reverse = bool(meta.get("reversed_input", False))
    if reverse:
        x = x[:, ::-1]
    acc, guesses = evaluate(model, x, t, progress=sys.stdout)
    show_examples(x, t, guesses, model.vocab, count=args.count, reversed_input=reverse)
    correct = int(round(acc * len(x)))
    print(f"{path} on {data_name} ({args.split}): accuracy {_pct(acc)} ({correct} of {len(x)})")
    return 0


# -- translate -----------------------------------------------------------------------------------

def _translate_parser(sub):
    p = _command(sub, "translate", "answer questions or translate sentences with a saved model",
                 "Answer one or more questions (or translate sentences, for a model trained on "
                 "a parallel corpus) with a saved model and print one answer per line: greedy "
                 "decoding, or beam search with --beam on a corpus model. With --heatmap, also "
                 "draw the attention map of the (single) question: its characters or words on "
                 "x, the answer's on y.",
                 "  s2sxp translate \"September 27, 1994\"\n"
                 "  s2sxp translate \"9/27/94\" --heatmap attention.png\n"
                 "  s2sxp translate 12+345 --run runs/peeky-addition\n"
                 "  s2sxp translate \"I am here.\" --run runs/attention-char-pairs --beam 5\n")
    p.add_argument("text", nargs="+", help="question(s) or sentence(s), as in the training data")
    p.add_argument("--run", default=DEFAULT_RUN, metavar="DIR|FILE",
                   help="a run folder (its last model) or a model file (.npz) "
                   f"[default: {DEFAULT_RUN}]")
    p.add_argument("--heatmap", default=None, metavar="PNG",
                   help="draw the attention map of the question into this PNG")
    _decoding_flags(p)
    _backend_flag(p)
    p.set_defaults(handler=translate)


def _encode_question(model, text, source="the model"):
    """ids (1, width) of ``text`` padded with spaces to the model's question width, reversed when
    the model was trained so. ValueError names unknown characters or a too long question."""
    vocab, meta = model.vocab, model.meta
    unknown = list(dict.fromkeys(c for c in text if c not in vocab.char_to_id))
    if unknown:
        raise ValueError(f"{text!r} has characters not in the vocabulary of {source}: "
                         + ", ".join(map(repr, unknown)))
    width = meta.get("question_width")
    if width is None or meta.get("answer_width") is None:
        raise io.CheckpointError(f"{source} does not record how wide its questions and answers "
                                 "are (it was not written by s2sxp train)")
    if len(text) > width:
        raise ValueError(f"{text!r} is {len(text)} characters long; {source} reads questions of "
                         f"at most {width}")
    if len(text) < width and " " not in vocab.char_to_id:
        raise ValueError(f"{text!r} is {len(text)} characters long; {source} reads questions of "
                         f"exactly {width} (its vocabulary has no space to pad with)")
    ids = vocab.encode(text.ljust(width))[None, :]
    return ids[:, ::-1] if meta.get("reversed_input") else ids


def _translate_corpus(args, model, path):
    vocab, meta = model.vocab, model.meta
    sources = []
    for text in args.text:
        tokens = corpus.tokenize(text, vocab.tokenizer)
        if not tokens:
            unit = "words" if vocab.tokenizer == "word" else "characters"
            raise ValueError(f"{text!r} holds no {unit} to translate")
        unknown = list(dict.fromkeys(t for t in tokens if t not in vocab.token_to_id))
        if unknown:
            print(f"s2sxp translate: note: not in the vocabulary of {path}, read as <unk>: "
                  + ", ".join(map(repr, unknown)), file=sys.stderr)
        sources.append(tokens)
    ids = [vocab.encode(tokens) for tokens in sources]
    if meta.get("reversed_input"):
        ids = [row[::-1] for row in ids]
    x = corpus.Sequences(ids, vocab.pad_id)
    max_length = meta.get("max_output_length") or 2 * max(len(row) for row in ids) + 10
    out = decode(model, x, vocab.bos_id, max_length, end_id=vocab.eos_id, beam=args.beam,
                 length_penalty=args.length_penalty)
    translations = [vocab.decode_text(row) for row in out]
    for line in translations:
        print(line)
    if args.heatmap:                                 # one sentence: the weights are its own
        weights = _heatmap_weights(model, path)
        row = out[0].tolist()
        answer = vocab.decode(row)
        if vocab.eos_id in row:
            answer.append(corpus.SPECIALS[vocab.eos_id])
        weights = weights[:len(answer), :len(sources[0])]
        if meta.get("reversed_input"):
            weights = weights[:, ::-1]
        _plot_attention(weights, sources[0], answer, args.heatmap,
                        title=f"{model.kind}: {args.text[0].strip()} \u2192 {translations[0]}")
        print(f"wrote {args.heatmap}")
    return 0


def _plot_attention(*args, **kwargs):
    """viz.plot_attention, its warning (glyphs no installed font has) told as a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.plot_attention(*args, **kwargs)
    for w in caught:
        print(f"s2sxp translate: note: {w.message}", file=sys.stderr)


def _heatmap_weights(model, path):
    weights = model.attention_weights
    if weights is None:
        raise ValueError(f"{path} holds a {model.kind} model, which has no attention to draw "
                         "(--heatmap needs attention or another attention model)")
    return backend.asnumpy(weights)[0]


def translate(args):
    _use_backend(args)
    model, path = _load_model(args.run)
    if args.heatmap and len(args.text) > 1:
        raise ValueError("--heatmap draws one question; give one")
    _check_decoding(args, model, path)
    if _is_corpus_model(model):
        return _translate_corpus(args, model, path)
    if "_" not in model.vocab.char_to_id:
        raise io.CheckpointError(f"{path}: the vocabulary has no start symbol '_'")
    start_id = model.vocab.char_to_id["_"]
    questions = [_encode_question(model, text, path) for text in args.text]
    for text, xs in zip(args.text, questions):
        ids = backend.asnumpy(model.generate(xs, start_id, model.meta["answer_width"] - 1))[0]
        answer = model.vocab.decode(ids)
        print(answer.rstrip())
    if args.heatmap:
        weights = _heatmap_weights(model, path)
        if model.meta.get("reversed_input"):
            weights = weights[:, ::-1]
        question = args.text[0].ljust(model.meta["question_width"])
        _plot_attention(weights, question, answer, args.heatmap,
                        title=f"{model.kind}: {args.text[0].strip()} \u2192 {answer.strip()}")
        print(f"wrote {args.heatmap}")
    return 0


# -- plot ----------------------------------------------------------------------------------------

def _plot_parser(sub):
    p = _command(sub, "plot", "redraw the plots of runs from their saved history",
                 "Redraw accuracy.png (validation accuracy per epoch) and loss.png (training "
                 "loss) from the history.json of a run folder, or of all runs in a folder "
                 "written by compare. Several run folders are drawn together into --out.",
                 "  s2sxp plot                                    # runs/attention-date\n"
                 "  s2sxp plot runs/compare-date\n"
                 "  s2sxp plot runs/attention-date runs/attention-gru-date --out runs/cells\n")
    p.add_argument("runs", nargs="*", default=[DEFAULT_RUN], metavar="RUN",
                   help=f"run folder(s) [default: {DEFAULT_RUN}]")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the pictures [default: the run folder; needed for several]")
    p.set_defaults(handler=plot)


def plot(args):
    if len(args.runs) == 1:
        histories = read_histories(args.runs[0])
        out = args.out or args.runs[0]
    else:
        if not args.out:
            raise ValueError("several runs are drawn into one picture: say where with --out DIR")
        histories = {}
        for folder in args.runs:
            name = os.path.basename(os.path.normpath(folder))
            found = read_histories(folder)
            for label, history in found.items():
                histories[name if len(found) == 1 else f"{name}/{label}"] = history
        out = args.out
    os.makedirs(out, exist_ok=True)
    accuracy, loss = plot_histories(histories, out)
    print(f"wrote {accuracy}, {loss}")
    return 0


# -- bench ---------------------------------------------------------------------------------------

def _bench_parser(sub):
    sub.add_parser("bench", help="time the models (s2sxp bench --help for its flags)",
                   add_help=False)


def bench(argv):
    try:
        bench_module = importlib.import_module(__package__ + ".bench")
    except ModuleNotFoundError as e:
        if e.name != __package__ + ".bench":
            raise
        print("s2sxp bench: error: the benchmark module s2sxp.bench is not in this copy of "
              "s2sxp", file=sys.stderr)
        return 2
    return bench_module.main(argv)


# -- main ----------------------------------------------------------------------------------------

def _parser():
    parser = argparse.ArgumentParser(
        prog="s2sxp", formatter_class=_formatter,
        description="Seq2seq models with attention (Deep Learning from Scratch 2, ch. 7-8) on "
        "NumPy or CuPy.",
        epilog="examples:\n"
        "  s2sxp train                         # attention on dates, the book's settings\n"
        "  s2sxp translate \"September 27, 1994\" --heatmap attention.png\n"
        "  s2sxp compare --epochs 10           # the book's figure: seq2seq, peeky, attention\n"
        "  s2sxp COMMAND --help                # what a command does, its flags, an example")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(sub)
    _eval_parser(sub)
    _translate_parser(sub)
    _compare_parser(sub)
    _plot_parser(sub)
    _bench_parser(sub)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as e:
        print(f"s2sxp {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2sxp {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(error):
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())

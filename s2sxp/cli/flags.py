"""What the commands share: how a command explains itself, the flags several take, and how the
array backend is chosen."""
import argparse
import math
import os
import textwrap

import numpy

from .. import backend
from ..optim import OPTIMIZERS
from ..config import SELECT
from ..metrics import BLEU_TOKENIZERS
from ..vocab import SUBWORD_MODELS, TOKENIZERS

DEFAULT_RUN = os.path.join("runs", "attention-date")


def formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def command(sub, name, handler, summary, description, examples):
    """A sub-command's parser, run by ``handler(args)``: one line for ``s2sxp --help``, a
    paragraph and examples for its own ``--help``."""
    p = sub.add_parser(name, help=summary, description=textwrap.fill(description, 88),
                       epilog="examples:\n" + examples, formatter_class=formatter)
    p.set_defaults(handler=handler)
    return p


#: The widest beam decoding takes: each beam is a copy of the decoder's state.
MAX_BEAM = 64


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def beam_width(text):
    value = positive(text)
    if value > MAX_BEAM:
        raise argparse.ArgumentTypeError(f"a beam of at most {MAX_BEAM}, got {value} (a wider "
                                         "one rarely helps and takes its width in memory)")
    return value


def finite(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def backend_flag(p):
    p.add_argument("--backend", default=None, choices=list(backend.BACKENDS),
                   help="array backend; unset: $S2S_BACKEND, else numpy (auto: cupy when a GPU "
                   "is usable, else numpy with a notice)")


def use_backend(args):
    """Make the backend ``--backend`` names active (if given); returns it in words."""
    if getattr(args, "backend", None):
        backend.use(args.backend)
    return f"{backend.name()} {numpy.dtype(backend.dtype).name}"


def run_flag(p):
    p.add_argument("--run", default=DEFAULT_RUN, metavar="DIR|FILE",
                   help="a run folder (its last model) or a model file (.npz) "
                   f"[default: {DEFAULT_RUN}]")


def decoding_flags(p):
    p.add_argument("--beam", type=beam_width, default=1, metavar="K",
                   help="parallel corpus: beam search with K beams; 1 is greedy [default: 1]")
    p.add_argument("--length-penalty", type=finite, default=1.0, metavar="A",
                   help="beam search: rank hypotheses by log-probability / length ** A "
                   "[default: 1.0, the mean per token]")
    p.add_argument("--early-stop", action="store_true",
                   help="beam search: stop each sentence once its best hypothesis has ended, as "
                   "JoeyNMT and OpenNMT do (faster; with a length penalty a beam still open "
                   "might have overtaken it) [default: search until every beam has ended]")


def training_flags(p):
    """Flags shared by train and compare; None means: the run's default or the model's recipe."""
    p.add_argument("--cell", default=None, choices=["lstm", "gru"],
                   help="recurrent cell [default: the model's, lstm for the book's three]")
    p.add_argument("--data", default=None, metavar="NAME|FILE",
                   help="dataset name (date, addition), a text file in the book's "
                   "question_answer format, or a parallel corpus: source<TAB>target per line "
                   "(.tsv, as Tatoeba/Anki export it) [default: date]")
    p.add_argument("--tokens", default=None, choices=list(TOKENIZERS),
                   help="parallel corpus: split sentences into characters, whitespace words, or "
                   "subwords of a SentencePiece model trained on the training split (spm) "
                   "[default: char]")
    corpus_flags(p)
    p.add_argument("--dev", default=None, metavar="FILE",
                   help="parallel corpus: the pairs to validate on after every epoch (best.npz "
                   "is the best on them) [default: a random tenth of --data, held out]")
    p.add_argument("--test", default=None, metavar="FILE",
                   help="parallel corpus: the pairs to score once, with beam search (5) and "
                   "best.npz, when training has finished")
    p.add_argument("--shared-vocab", action="store_true", default=None,
                   help="parallel corpus: one vocabulary for sources and targets [default: one "
                   "each]")
    p.add_argument("--subword-model", default=None, choices=list(SUBWORD_MODELS),
                   help="subwords: SentencePiece's unigram language model or byte-pair "
                   "encoding [default: unigram]")
    bleu_flag(p, None)
    for flag, text in (
            ("--vocab-size", "subwords (--tokens spm): pieces of each SentencePiece model "
             "[default: 8000]"),
            ("--min-freq", "parallel corpus: tokens seen fewer times in training become <unk> "
             "[default: 1]"),
            ("--max-vocab", "parallel corpus: keep the N - 4 most frequent tokens of each side "
             "[default: all]"),
            ("--max-length", "parallel corpus: a sentence of more tokens is an error (or "
             "skipped with --skip-bad) [default: 200]")):
        p.add_argument(flag, type=positive, default=None, metavar="N", help=text)
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="parallel corpus: skip bad lines (no tab, empty, not UTF-8, too long) "
                   "and say how many, instead of stopping at the first")
    p.add_argument("--examples", type=positive, default=None, metavar="N",
                   help="lines to generate for date or addition [default: 50000]")
    p.add_argument("--epochs", type=positive, default=None, metavar="N",
                   help="epochs to train; with --resume, the new total [default: 10]")
    p.add_argument("--batch-size", type=positive, default=None, metavar="N",
                   help="[default: 128]")
    p.add_argument("--batch-tokens", type=positive, default=None, metavar="N",
                   help="parallel corpus: batches of about N tokens each (rows times the longest "
                   "source or target, padding included), of sentences of about one length, in "
                   "place of --batch-size rows [default: rows]")
    p.add_argument("--wordvec-size", type=positive, default=None, metavar="N",
                   help="[default: 16, the book's; on a parallel corpus 64 by characters, 256 "
                   "by words or subwords]")
    p.add_argument("--hidden-size", type=positive, default=None, metavar="N",
                   help="[default: 256]")
    p.add_argument("--optimizer", default=None, choices=list(OPTIMIZERS),
                   help="[default: the model's recipe]")
    p.add_argument("--lr", type=finite, default=None, metavar="RATE",
                   help="learning rate [default: the model's recipe]")
    p.add_argument("--lr-half-life", type=int, default=None, metavar="N",
                   help="halve the learning rate every N iterations (smoothly: lr * 0.5 ** "
                   "(iteration / N)); 0 keeps it constant [default: the model's recipe: 0, "
                   "bahdanau 350; on a parallel corpus 0]")
    p.add_argument("--anneal-at", type=finite, default=None, metavar="ACC",
                   help="once the validation accuracy (exact match, 0-1) has reached ACC, halve "
                   "the learning rate after every epoch; 0: never [default: the model's "
                   "recipe: 0.99]")
    p.add_argument("--max-grad", "--clip", dest="max_grad", type=finite, default=None,
                   metavar="NORM",
                   help="clip gradients to this global norm, 0 for none "
                   "[default: the model's recipe]")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=None,
                   help="feed the questions reversed [default: the model's recipe]")
    p.add_argument("--eval-every", type=int, default=None, metavar="N",
                   help="validate every N iterations too, not only after each epoch (best.npz, "
                   "--patience and --plateau count these validations) [default: 0, after each "
                   "epoch only]")
    p.add_argument("--select", default=None, choices=list(SELECT),
                   help="parallel corpus: the validation score that picks best.npz and that "
                   "--patience and --plateau watch [default: bleu]")
    p.add_argument("--patience", type=int, default=None, metavar="N",
                   help="stop training once N validations in a row have not improved on the "
                   "best score; 0: never [default: 0]")
    p.add_argument("--plateau", type=int, default=None, metavar="N",
                   help="halve the learning rate once N validations in a row have not improved "
                   "on the best score (the count starts again after each halving); 0: never "
                   "[default: 1 on a parallel corpus, 0 on the book's data]")
    p.add_argument("--label-smoothing", type=finite, default=None, metavar="EPS",
                   help="train towards (1 - EPS) on each target and EPS spread over the "
                   "vocabulary [default: 0]")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="seed of the initial weights and the shuffling [default: 0]")
    p.add_argument("--resume", action="store_true",
                   help="carry on from the checkpoint in the output folder")
    backend_flag(p)


def corpus_flags(p):
    """How a parallel corpus's files are laid out: which column is the source, or two aligned
    files per split."""
    p.add_argument("--source-column", type=int, default=None, choices=[1, 2],
                   help="parallel corpus: the column of a pairs file that holds the sources (2: "
                   "translate the second column into the first, as from Tatoeba's Japanese "
                   "into English) [default: 1]")
    p.add_argument("--langs", nargs=2, default=None, metavar=("SRC", "TGT"),
                   help="parallel corpus in two aligned files a split: --data, --dev and --test "
                   "name PATH, the files are PATH.SRC and PATH.TGT")


def bleu_flag(p, default):
    p.add_argument("--bleu-tokenize", default=default, choices=list(BLEU_TOKENIZERS),
                   help="how sacrebleu splits translations for BLEU (char, or ja-mecab where "
                   "installed, for Japanese; zh for Chinese) [default: 13a]")


def percent(accuracy):
    return f"{100 * accuracy:.3f}%"


def scores_text(scores):
    return (f"BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f}, exact "
            f"{percent(scores['exact'])}")

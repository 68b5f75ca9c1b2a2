"""What the commands share: how a command explains itself, the flags made from the settings of a
run (each field of a :class:`~s2sxp.config.TrainConfig` is one flag, :mod:`s2sxp.settings`), the
decoding flags, and how the array backend is chosen."""
import argparse
import dataclasses
import math
import os
import textwrap

import numpy

from .. import backend, precision
from ..config import TrainConfig, default_text, owners
from ..decoding import DecodeOptions
from ..settings import check, flag, settings_of

DEFAULT_RUN = os.path.join("runs", "attention-date")
#: The widest beam decoding takes: each beam is a copy of the decoder's state.
MAX_BEAM = 64


def formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def command(sub, name, handler, summary, description, examples):
    """A sub-command's parser, run by ``handler(args)``: one line for ``s2sxp --help``, a
    paragraph and examples for its own ``--help``."""
    p = sub.add_parser(name, help=summary, description=textwrap.fill(description, 88),
                       epilog="examples:\n" + examples, formatter_class=formatter,
                       allow_abbrev=False)
    p.set_defaults(handler=handler)
    return p


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


#: How a setting of each form (s2sxp.settings.FORMS) is read from the command line.
PARSERS = {"count": positive, "whole": int, "number": finite, "text": str, "pair": str}


def setting_flags(p, names=None, skip=(), shown=None):
    """A flag for each setting of a run (:class:`~s2sxp.config.TrainConfig`; those in ``names``,
    or all but those in ``skip``), made from its field, in the groups its fields name; each is
    None unless given. Its help ends with its default (:func:`s2sxp.config.default_text`), or
    ``shown``."""
    groups = {}
    for field in settings_of(TrainConfig):
        if field.name in skip or names is not None and field.name not in names:
            continue
        group = field.metadata.get("group")
        if group not in groups:
            groups[group] = p if group is None else p.add_argument_group(f"{group} settings")
        _setting_flag(groups[group], field, shown)


def limit_flags(p, cls, title):
    """A flag for each setting of the dataclass ``cls``, with its default, in a group of the
    help called ``title``; each is None unless given (:func:`limits_of` reads them back)."""
    group = p.add_argument_group(title)
    for field in settings_of(cls):
        _setting_flag(group, field, shown=str(field.default))


def limits_of(args, cls):
    """The ``cls`` the flags of :func:`limit_flags` give, each held to its rule."""
    values = {f.name: getattr(args, f.name) for f in settings_of(cls)
              if getattr(args, f.name) is not None}
    check(values, cls)
    return cls(**values)


def _setting_flag(p, field, shown):
    m = field.metadata
    help_text = m["help"]
    if m.get("family"):                     # a setting some model families take
        families = owners(field.name)
        help_text = f"{' and '.join(families)}{' only' if len(families) == 1 else ''}: {help_text}"
    default = default_text(field.name) if shown is None else shown
    if default:
        help_text += f" [default: {default}]"
    names = [flag(field.name), *m["aliases"]]
    if m["form"] == "switch":
        action = argparse.BooleanOptionalAction if m["negatable"] else "store_true"
        p.add_argument(*names, dest=field.name, action=action, default=None, help=help_text)
        return
    choices = None if m["choices"] is None else list(m["choices"])
    p.add_argument(*names, dest=field.name, type=PARSERS[m["form"]], default=None,
                   choices=choices, metavar=m["metavar"], help=help_text,
                   nargs=2 if m["form"] == "pair" else None)


def flag_values(args):
    """{setting: value} of every setting of a run: its flag's value, None where the flag was not
    given or the command has none."""
    return {f.name: getattr(args, f.name, None) for f in settings_of(TrainConfig)}


def backend_flag(p):
    p.add_argument("--backend", default=None, choices=list(backend.BACKENDS),
                   help="array backend; unset: $S2S_BACKEND, else numpy (auto: cupy when a GPU "
                   "is usable, else numpy with a notice)")
    p.add_argument("--precision", default=None, choices=list(precision.PRECISIONS),
                   help="the matrix products' precision; unset: $S2S_PRECISION, else fp32. bf16: "
                   "bf16 operands with float32 sums on a CPU with bf16 instructions, through "
                   "oneDNN (pip install \"s2sxp[bf16]\"); weights, optimizer and saved models "
                   "stay float32")


def use_backend(args):
    """Make the backend ``--backend`` names and the precision ``--precision`` names active (where
    given); returns them in words."""
    if getattr(args, "backend", None):
        backend.use(args.backend)
    precision.use(getattr(args, "precision", None) or os.environ.get("S2S_PRECISION"))
    return device_words()


def device_words():
    """The active backend, float type and, where not float32, the products' precision."""
    products = ", bf16 products" if precision.current() == "bf16" else ""
    return f"{backend.name()} {numpy.dtype(backend.dtype).name}{products}"


def run_flag(p):
    p.add_argument("--run", default=DEFAULT_RUN, metavar="DIR|FILE",
                   help="a run folder (its best model, best.npz, on a parallel corpus; else its "
                   "last, model.npz) or a model file (.npz) "
                   f"[default: {DEFAULT_RUN}]")


def decoding_flags(p, n_best=False):
    """--beam, --length-penalty, --early-stop and, with ``n_best``, --n-best: the
    :class:`~s2sxp.decoding.DecodeOptions` that :func:`decode_options` reads back."""
    default = DecodeOptions()
    p.add_argument("--beam", type=beam_width, default=default.beam, metavar="K",
                   help="parallel corpus: beam search with K beams; 1 is greedy "
                   f"[default: {default.beam}]")
    p.add_argument("--length-penalty", type=finite, default=default.length_penalty, metavar="A",
                   help="beam search: rank hypotheses by log-probability / length ** A "
                   f"[default: {default.length_penalty}, the mean per token]")
    p.add_argument("--early-stop", action="store_true", default=default.early_stop,
                   help="beam search: stop each sentence once its best hypothesis has ended, as "
                   "JoeyNMT and OpenNMT do (faster; with a length penalty a beam still open "
                   "might have overtaken it) [default: search until every beam has ended]")
    p.add_argument("--max-output-length", dest="max_length", type=positive, default=None,
                   metavar="N", help="parallel corpus: translations of at most N tokens "
                   "[default: the model's limit, twice its longest training target]")
    if n_best:
        p.add_argument("--n-best", type=positive, default=default.n_best, metavar="N",
                       help="beam search: the N best translations of each sentence, each line "
                       "SENTENCE-NUMBER<TAB>SCORE<TAB>TRANSLATION (score: the mean "
                       "log-probability a token, see --length-penalty) [default: "
                       f"{default.n_best}, the translation alone]")


def decode_options(args):
    """The :class:`~s2sxp.decoding.DecodeOptions` the decoding flags give."""
    return DecodeOptions(**{f.name: getattr(args, f.name)
                            for f in dataclasses.fields(DecodeOptions) if hasattr(args, f.name)})

"""The ``s2sxp`` command line (also ``python -m s2sxp``): train, eval, translate, compare, plot
and bench. Each command's module turns its flags into calls of the package; this one dispatches.

Each command exits 0 when it worked. A mistake in what it was given (flags, data, a model or
checkpoint file, the backend) ends it with one line ``s2sxp COMMAND: error: ...`` and exit code 2;
a loss that turns NaN or infinite with exit code 1; Ctrl-C, after a checkpoint is written, with 130.
"""
import argparse
import os
import subprocess
import sys

from .. import __version__, backend, datasets, io
from . import evaluate, plot, train
from .flags import formatter

USER_ERRORS = (backend.BackendError, datasets.DatasetError, io.CheckpointError, ValueError,
               OSError)
#: The benchmark each ``s2sxp bench`` form runs: a module of the checkout's benchmarks/ folder.
BENCHMARKS = {"padded": "benchmarks.padded_epoch", None: "benchmarks.epoch_cost"}


def checkout():
    """The source checkout this copy of s2sxp runs from (the folder above the package), or None
    where it has no benchmarks/ folder (an installed wheel)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return root if os.path.isfile(os.path.join(root, "benchmarks", "__init__.py")) else None


def bench(argv):
    """``s2sxp bench [padded] ARGS``: the checkout's benchmark, run as ``python -m`` with ARGS."""
    root = checkout()
    if root is None:
        print("s2sxp bench: error: the benchmarks live in the benchmarks/ folder of a source "
              "checkout of s2sxp (pip install -e . from a clone), which this copy lacks",
              file=sys.stderr)
        return 2
    module = BENCHMARKS[argv[0] if argv[:1] == ["padded"] else None]
    argv = argv[1:] if argv[:1] == ["padded"] else argv
    # the checkout first on the path, and not a benchmarks/ folder of the current directory
    env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        return subprocess.call([sys.executable, "-m", module, *argv], env=env)
    except KeyboardInterrupt:
        return 130


def _parser():
    parser = argparse.ArgumentParser(
        prog="s2sxp", formatter_class=formatter,
        description="Seq2seq models with attention (Deep Learning from Scratch 2, ch. 7-8) on "
        "NumPy or CuPy.",
        epilog="examples:\n"
        "  s2sxp train                         # attention on dates, the book's settings\n"
        "  s2sxp translate \"September 27, 1994\" --heatmap attention.png\n"
        "  s2sxp compare --epochs 10           # the book's figure: seq2seq, peeky, attention\n"
        "  s2sxp COMMAND --help                # what a command does, its flags, an example")
    parser.add_argument("--version", action="version", version=f"s2sxp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_train(sub)
    evaluate.add_eval(sub)
    evaluate.add_translate(sub)
    train.add_compare(sub)
    plot.add_plot(sub)
    sub.add_parser("bench", help="time the models (s2sxp bench --help for its flags)",
                   add_help=False)
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
    except MemoryError as e:
        print(f"s2sxp {args.command}: error: not enough memory{f' ({e})' if str(e) else ''}; "
              "try shorter sentences (--max-length), smaller batches or a narrower beam",
              file=sys.stderr)
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

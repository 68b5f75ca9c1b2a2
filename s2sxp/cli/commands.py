"""Reading the command line and running the command it names; one line for what goes wrong."""
import argparse
import difflib
import sys
import warnings

from .. import __version__, backend, datasets, files, folder, io
from . import average, evaluate, plot, serve, train
from .flags import formatter

USER_ERRORS = (backend.BackendError, datasets.DatasetError, io.CheckpointError, ValueError,
               OSError)
#: What the command line adds to the library's word on some mistakes: how to mend them here.
HINTS = {folder.NothingToResume: " (train without --resume to start a run there)",
         folder.NoModel: " (train one with s2sxp train, or name it with --run)",
         files.ForeignFolder: "; train into an empty or new folder, or pass --overwrite to "
                              "replace what a run writes there"}


def _parser():
    """The top-level parser, and {command: its parser}."""
    parser = argparse.ArgumentParser(
        prog="s2sxp", formatter_class=formatter, allow_abbrev=False,
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
    average.add_average(sub)
    plot.add_plot(sub)
    serve.add_serve(sub)
    sub.add_parser("bench", help="time the models (s2sxp bench --help for its flags)",
                   add_help=False)
    return parser, sub.choices


def _parse(argv):
    """The flags of ``argv``; a flag the command does not know is refused by the command's own
    parser (its usage, not the top-level one), with the flag it resembles."""
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = commands[args.command]
        known = [o for a in command._actions for o in a.option_strings if o.startswith("--")]
        names = [u.split("=", 1)[0] for u in unknown if u.startswith("-")]
        close = [m for n in names for m in difflib.get_close_matches(n, known, n=1, cutoff=0.6)]
        command.error(f"unrecognized arguments: {' '.join(unknown)}"
                      + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    return args


def run(argv):
    """The command ``argv`` names, run: its exit status."""
    args = _parse(argv)
    try:
        with warnings.catch_warnings():             # a warning is told as the command's note
            warnings.showwarning = lambda message, *_, **__: print(
                f"s2sxp {args.command}: note: {message}", file=sys.stderr)
            return args.handler(args)
    except USER_ERRORS as e:
        print(f"s2sxp {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except MemoryError as e:
        print(f"s2sxp {args.command}: error: not enough memory{f' ({e})' if str(e) else ''}; "
              "try smaller sizes (--hidden-size, --wordvec-size), shorter sentences "
              "(--max-length), smaller batches or a narrower beam",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2sxp {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(error):
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    text += next((hint for kind, hint in HINTS.items() if isinstance(error, kind)), "")
    return " ".join(text.split())


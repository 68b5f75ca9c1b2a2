"""``s2sxp average``: checkpoint averaging, the models a run kept (``--keep-best``) or the model
files named, averaged into one."""
import json
import os

from .. import io
from ..files import write_output
from ..folder import RunFolder, folder_kind
from ..history import COLUMNS
from .flags import command, positive


def add_average(sub):
    p = command(sub, "average", average,
                "average the parameters of a run's kept models into one",
                "Average the parameters of several saved models of one run into one model "
                "(checkpoint averaging, often a little better than the best of them). Given a "
                "run folder, the models it kept (train with --keep-best N: the models after "
                "the epochs of its N best validations, epoch-E.npz), all or the --best or "
                "--last few of them; given model files, those. Score the result with s2sxp "
                "eval --run FILE.",
                "  s2sxp train --data train.tsv --dev dev.tsv --keep-best 5 --out runs/ja-en\n"
                "  s2sxp average runs/ja-en                      # into runs/ja-en/average.npz\n"
                "  s2sxp average runs/ja-en --best 3 --out avg3.npz\n"
                "  s2sxp average runs/ja-en/epoch-8.npz runs/ja-en/epoch-9.npz --out avg.npz\n")
    p.add_argument("models", nargs="+", metavar="RUN|FILE",
                   help="a run folder, or two or more model files (.npz) of one run")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--best", type=positive, default=None, metavar="N",
                       help="of a run folder's kept models, those of the N best validations "
                       "[default: all it kept]")
    which.add_argument("--last", type=positive, default=None, metavar="N",
                       help="of a run folder's kept models, those of its last N epochs")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the averaged model's file [default: average.npz in the run folder]")


def average(args):
    if len(args.models) == 1 and os.path.isdir(args.models[0]):
        run = args.models[0]
        paths = _chosen(run, args.best, args.last)
        out = args.out or os.path.join(run, "average.npz")
    else:
        if args.best or args.last:
            raise ValueError("--best and --last choose among a run folder's kept models; with "
                             "model files named, each is averaged")
        if not args.out:
            raise ValueError("say where the average goes with --out FILE")
        paths, out = args.models, args.out
    if len(paths) < 2:
        raise ValueError(f"averaging takes two models or more; {' '.join(paths) or 'none'} given "
                         "(a run keeps several with train --keep-best N)")
    model = io.average(paths)
    write_output(out, io.loaded_writer(model, out))
    print(f"averaged {len(paths)} models ({', '.join(os.path.basename(p) for p in paths)}) into "
          f"{out}")
    return 0


def _chosen(run, best, last):
    """The kept models (epoch-E.npz) of the run folder ``run`` that ``--best`` or ``--last``
    choose: the N best by the history's selected score, the N latest, or all."""
    if folder_kind(run) != "run":
        raise ValueError(f"{run} is not a run folder (s2sxp train writes one)")
    kept = RunFolder(run).kept()
    if not kept:
        raise ValueError(f"{run} kept no models to average: train it with --keep-best N")
    epochs = list(kept)
    if last:
        epochs = epochs[-last:]
    elif best:
        score = _scores_at_epoch_ends(run)
        epochs = sorted(sorted(epochs, key=lambda e: (score.get(e, float("-inf")), e))[-best:])
    return [kept[e] for e in epochs]


def _scores_at_epoch_ends(run):
    """{epoch: the selected score of its validation} of the run's history.json."""
    with open(os.path.join(run, "history.json"), "rb") as f:
        history = json.loads(f.read())
    if not isinstance(history, dict):
        raise ValueError(f"{run}/history.json is not a run's history")
    select = (history.get("config") or {}).get("select") or "exact"
    column = history.get(COLUMNS.get(select)) or history.get(COLUMNS["exact"]) or []
    return {int(at): value for at, value in zip(history.get("val_epochs") or [], column)
            if isinstance(at, (int, float)) and float(at).is_integer()
            and isinstance(value, (int, float))}

"""``s2sxp plot``: a run's pictures drawn again from its history, or several runs in one."""
import os

from ..compare import read_histories
from ..viz import plot_histories
from .flags import DEFAULT_RUN, command


def add_plot(sub):
    p = command(sub, "plot", plot,
                "redraw the plots of runs from their saved history",
                "Redraw accuracy.png (validation accuracy per epoch; on a parallel corpus "
                "bleu.png, its BLEU, in its place) and loss.png (training loss) from the "
                "history.json of a run folder, or of all runs in a folder "
                "written by compare. Several run folders are drawn together into --out.",
                "  s2sxp plot                                    # runs/attention-date\n"
                "  s2sxp plot runs/compare-date\n"
                "  s2sxp plot runs/attention-date runs/attention-gru-date --out runs/cells\n")
    p.add_argument("runs", nargs="*", default=[DEFAULT_RUN], metavar="RUN",
                   help=f"run folder(s) [default: {DEFAULT_RUN}]")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the pictures [default: the run folder; needed for several]")


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
    print(f"wrote {', '.join(plot_histories(histories, out))}")
    return 0

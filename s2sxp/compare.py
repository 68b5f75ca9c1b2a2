"""Several runs trained side by side, one epoch of each at a time, as ``s2sxp compare`` trains
them (the book's chapter 8 figure): each model's run folder inside one folder, which records
their order in compare.json and draws their pictures together; and the histories of a run
folder or of such a folder, read back."""
import json
import os
import time

from . import viz
from .config import data_name, load_data
from .files import atomic_write
from .run import COMPARE_FILE, Run
from .trainer import TrainingInterrupted


def compare_folder(data):
    """The folder ``s2sxp compare`` keeps its runs in for ``data``: runs/compare-DATA."""
    return os.path.join("runs", f"compare-{data_name(data)}")


def start_comparison(folder, configs):
    """New runs of the (resolved) ``configs`` in ``folder``/MODEL, on data loaded once; the
    models' order recorded in ``folder``."""
    raw = load_data(configs[0], reverse=False)
    os.makedirs(folder, exist_ok=True)
    write_compared_models(folder, [c.model for c in configs])
    return [Run.start(os.path.join(folder, c.model), c, raw.reversed() if c.reverse else raw)
            for c in configs]


def resume_comparison(folder, names, given):
    """The runs of ``names`` (None: those recorded in ``folder``) as their checkpoints left
    them."""
    if names is None:
        names = compared_models(folder)
        if names is None:
            raise FileNotFoundError(f"{folder} holds no {COMPARE_FILE} (start the comparison "
                                    "with s2sxp compare, without --resume)")
    return [Run.resume(os.path.join(folder, name), dict(given, model=name)) for name in names]


def train_together(runs, folder, before_epoch=None, on_epoch=None, on_round=None):
    """Train ``runs`` one epoch of each at a time until all have finished, drawing their
    histories together into ``folder`` after every round. Calls ``before_epoch(run)`` and
    ``on_epoch(run, scores, guesses, seconds)`` around each epoch and ``on_round(runs)`` after
    each round. When a trainer is stopped, writes every run's checkpoint and raises
    TrainingInterrupted; NonFiniteLoss passes through."""
    try:
        while not all(r.finished for r in runs):
            for run in runs:
                if run.finished:
                    continue
                if before_epoch is not None:
                    before_epoch(run)
                start = time.time()
                scores, guesses = run.train_epoch()
                if on_epoch is not None:
                    on_epoch(run, scores, guesses, time.time() - start)
                if run.trainer.stop_requested:
                    raise TrainingInterrupted
            viz.plot_histories({r.config.model: r.history_dict() for r in runs}, folder)
            if on_round is not None:
                on_round(runs)
    except TrainingInterrupted:
        viz.plot_histories({r.config.model: r.history_dict() for r in runs}, folder)
        for run in runs:
            run.save_checkpoint()
        raise


def write_compared_models(folder, names):
    """Record, in ``folder``, which models ``compare`` trains there and in what order."""
    atomic_write(os.path.join(folder, COMPARE_FILE),
                 lambda f: f.write((json.dumps({"models": list(names)}) + "\n").encode()))


def compared_models(folder):
    """The models ``compare`` trains in ``folder``, in order; None where it has not recorded any."""
    try:
        with open(os.path.join(folder, COMPARE_FILE), encoding="utf-8") as f:
            return [str(name) for name in json.load(f)["models"]]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def read_history(folder):
    """The history.json of a run folder."""
    path = os.path.join(folder, "history.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{folder} holds no history.json (is it a folder written by "
                                "s2sxp train or s2sxp compare?)")
    try:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
        history["val_acc"], history["loss"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a run history ({e!r})") from None
    return history


def read_histories(folder):
    """{label: history} of a run folder, or of the runs in a folder written by ``compare``."""
    if os.path.exists(os.path.join(folder, "history.json")):
        history = read_history(folder)
        return {history.get("config", {}).get("model") or os.path.basename(folder): history}
    names = compared_models(folder)
    if names is None and os.path.isdir(folder):
        names = sorted(n for n in os.listdir(folder)
                       if os.path.exists(os.path.join(folder, n, "history.json")))
    histories = {n: read_history(os.path.join(folder, n)) for n in names or []
                 if os.path.exists(os.path.join(folder, n, "history.json"))}
    if not histories:
        raise FileNotFoundError(f"{folder} holds no history.json, nor runs that have one (is it "
                                "a folder written by s2sxp train or s2sxp compare?)")
    return histories

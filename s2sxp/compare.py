"""Several runs trained side by side, one epoch of each at a time, as ``s2sxp compare`` trains them
(the book's chapter 8 figure): a :class:`Comparison` keeps each model's run folder inside one
folder, which it holds while they train, records their order in compare.json and draws their
pictures together; and the histories of a run folder or of such a folder, read back."""
import dataclasses
import json
import os

from . import viz
from .config import data_name
from .data import load_data
from .files import FolderLock, atomic_write
from .folder import COMPARE_FILE, COMPARE_FORMAT, check_kind, compared_names
from .io import check_fields
from .run import Run, train
from .trainer import TrainingInterrupted


def compare_folder(data):
    """The folder ``s2sxp compare`` keeps its runs in for ``data``: runs/compare-DATA."""
    return os.path.join("runs", f"compare-{data_name(data)}")


class Comparison:
    """The runs of several models in ``folder``/MODEL, in order, the folder held (``lock``)
    from :meth:`start` or :meth:`resume` until :meth:`close`."""

    def __init__(self, folder, runs, lock):
        self.folder, self.runs, self.lock = folder, runs, lock

    @classmethod
    def _held(cls, folder, opening):
        """The comparison in ``folder``, held, of the runs ``opening()`` yields one by one; where
        one fails, those opened before it let their folders go, and the folder is let go."""
        lock = FolderLock(folder).acquire()
        runs = []
        try:
            runs.extend(opening())
        except BaseException:
            for run in runs:
                run.close()
            lock.release()
            raise
        return cls(folder, runs, lock)

    @classmethod
    def start(cls, folder, configs, overwrite=False):
        """New runs of ``configs`` in ``folder``, on data loaded once. A folder that holds a run
        is refused, and one that holds a comparison or other files unless ``overwrite``
        (:func:`~s2sxp.folder.check_kind`); a comparison stopped before each of its runs had
        begun is replaced."""
        recorded = compared_models(folder) or []
        unstarted = not all(os.path.exists(os.path.join(folder, name, "checkpoint.npz"))
                            for name in recorded)       # killed before each run had begun
        check_kind(folder, "comparison", overwrite, unstarted)
        overwrite = overwrite or unstarted
        configs = [c.resolved() for c in configs]
        os.makedirs(folder, exist_ok=True)

        def runs():
            raw = load_data(dataclasses.replace(configs[0], reverse=False))
            write_compared_models(folder, [c.model for c in configs])
            for c in configs:
                yield Run.start(os.path.join(folder, c.model), c,
                                raw.reversed() if c.reverse else raw, overwrite=overwrite)

        return cls._held(folder, runs)

    @classmethod
    def resume(cls, folder, names=None, given=None):
        """The runs of ``names`` (None: those recorded in ``folder``) as their checkpoints left
        them; ``given``: settings asked for now, as :meth:`Run.resume` takes them."""
        names = names or compared_models(folder)
        if names is None:
            raise FileNotFoundError(f"{folder} holds no {COMPARE_FILE} (start the comparison "
                                    "without resuming it)")
        return cls._held(folder, lambda: (Run.resume(os.path.join(folder, name),
                                                     dict(given or {}, model=name))
                                          for name in names))

    def train(self, before_epoch=None, on_epoch=None, after_round=None):
        """Every run trained to its end by :func:`s2sxp.run.train`, their pictures drawn
        together after each round, when training is stopped and at the end (a comparison
        resumed after a kill that came before its last pictures draws them)."""
        def round_drawn(runs):
            self.draw()
            if after_round is not None:
                after_round(runs)

        try:
            train(self.runs, before_epoch, on_epoch, round_drawn)
        except TrainingInterrupted:
            self.draw()
            raise
        self.draw()

    def draw(self):
        """The pictures of every run (accuracy.png or, on a corpus, bleu.png, and loss.png),
        in the comparison's folder; returns their paths."""
        return viz.plot_histories({r.config.model: r.history_dict() for r in self.runs},
                                  self.folder)

    def close(self):
        for run in self.runs:
            run.close()
        self.lock.release()


def write_compared_models(folder, names):
    """Record, in ``folder``, which models ``compare`` trains there and in what order."""
    record = {"format": COMPARE_FORMAT, "models": list(names)}
    atomic_write(os.path.join(folder, COMPARE_FILE),
                 lambda f: f.write((json.dumps(record) + "\n").encode()))


def compared_models(folder):
    """The models ``compare`` trains in ``folder``, in order; None where it has not recorded any."""
    try:
        with open(os.path.join(folder, COMPARE_FILE), encoding="utf-8") as f:
            return compared_names(json.load(f)) or None
    except (OSError, ValueError):
        return None


_NUMBERS = {"type": "array", "items": {"type": "number"}}
#: What a history.json holds that a picture is drawn from (JSON Schema).
HISTORY_SCHEMA = {"type": "object", "required": ["val_acc", "loss"],
                  "properties": {name: _NUMBERS for name in (
                      "val_acc", "val_bleu", "val_chrf", "val_epochs", "loss", "loss_epochs")}}


def read_history(folder):
    """The history.json of a run folder."""
    path = os.path.join(folder, "history.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{folder} holds no history.json (is it a folder written by "
                                "s2sxp train or s2sxp compare?)")
    try:
        with open(path, encoding="utf-8") as f:
            history = json.load(f)
    except ValueError:
        raise ValueError(f"{path} is not a run history (not JSON)") from None
    check_fields(history, HISTORY_SCHEMA, path)
    for times, values in (("val_epochs", "val_acc"), ("loss_epochs", "loss")):
        if times in history and len(history[times]) != len(history[values]):
            raise ValueError(f"{path}: {times} has {len(history[times])} entries, {values} "
                             f"{len(history[values])}")
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

"""A run's folder (:class:`RunFolder`): where it is, whether a run may be written there, the lock
that keeps it to one writer while a run trains, and the writing of its files, each atomically and
an epoch's as one unit (:mod:`s2sxp.files`), so that a crash, a kill or Ctrl-C never leaves a
broken or mixed folder; and the model a folder (or a model file) names (:func:`load_model`).
A run (:mod:`s2sxp.run`) writes there::

    config.json     the settings (:class:`~s2sxp.config.TrainConfig`), written at the start,
                    ``format`` first (:data:`RUN_FORMAT`): what marks the folder as a run's
    checkpoint.npz  parameters, optimizer state (Adam's m, v and step count), the trainer's
                    shuffling state, epoch and history: at the start, after every epoch, and
                    when Ctrl-C stops training
    history.json    loss per report and the scores of every validation (on a parallel corpus
                    also BLEU and chrF, and the test file's scores once training has finished);
                    history.csv: the same, one row an event, for spreadsheets
    model.npz       the model after the last finished epoch; best.npz: the best validation accuracy
                    (on a parallel corpus: the best BLEU); epoch-E.npz: with ``--keep-best N``,
                    the models of the N best validations at ends of epochs
    accuracy.png    validation accuracy per epoch; loss.png: the training loss; bleu.png: BLEU
    source.model    subwords: the sources' SentencePiece model (target.model: the targets'), as
                    SentencePiece's own tools read it; the checkpoint and models carry them too
"""
import contextlib
import csv
import json
import os
import re
from io import StringIO

from . import files, io
from .files import FolderLock, atomic_write

#: What a run writes in its folder.
FILES = ("config.json", "checkpoint.npz", "history.json", "history.csv", "model.npz", "best.npz",
         "accuracy.png", "loss.png", "bleu.png", "source.model", "target.model")
#: The models ``--keep-best N`` keeps beside best.npz: the model after epoch E.
KEPT = re.compile(r"epoch-([0-9]{1,9})\.npz")


def kept_name(epoch):
    """The file of the model kept after ``epoch`` (``--keep-best``)."""
    return f"epoch-{epoch}.npz"


#: The mark a run's config.json carries as its ``format``: the folder holds a run of ours.
RUN_FORMAT = "s2sxp-run/1"
#: Where ``s2sxp compare`` records its models (their run folders are inside), and its mark.
COMPARE_FILE, COMPARE_FORMAT = "compare.json", "s2sxp-compare/1"


def folder_kind(path):
    """What the folder at ``path`` holds, known by content: ``run`` (its config.json carries
    :data:`RUN_FORMAT`, or, written before the mark, its checkpoint.npz is ours), ``comparison``
    (its compare.json carries :data:`COMPARE_FORMAT`, or names models whose run folders are
    there), ``other`` (files of another kind) or None (no folder, or nothing but hidden files)."""
    if not os.path.isdir(path):
        return None
    config = _json(os.path.join(path, "config.json"))
    if (isinstance(config, dict) and config.get("format") == RUN_FORMAT
            or io.saved_format(os.path.join(path, "checkpoint.npz")) == io.CHECKPOINT_FORMAT):
        return "run"
    compared = _json(os.path.join(path, COMPARE_FILE))
    if isinstance(compared, dict) and (compared.get("format") == COMPARE_FORMAT or any(
            folder_kind(os.path.join(path, name)) == "run" for name in compared_names(compared))):
        return "comparison"
    return "other" if any(not n.startswith(".") for n in os.listdir(path)) else None


def _json(path):
    """The JSON value in the file at ``path`` (None where there is none, or no JSON)."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None


def compared_names(value):
    """The models a compare.json's ``value`` names, in order (none where it names none)."""
    names = value.get("models") if isinstance(value, dict) else None
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str) and n and os.sep not in n and n[0] != "."]


class FolderTaken(ValueError):
    """A folder of ours that holds what this command must not write into: a run where a new
    run (without ``overwrite``) or a comparison is to start, or a comparison where a run is."""


def check_kind(path, wanted, overwrite, unstarted=False):
    """The kind (:func:`folder_kind`) of the folder at ``path``, where ``wanted`` (``run`` or
    ``comparison``) may start there: FolderTaken where it holds the other kind of ours, or one of
    its own kind and neither ``overwrite`` nor ``unstarted`` (one that never wrote what a resume
    needs: nothing is lost); ForeignFolder where it holds other files and not ``overwrite``."""
    kind = folder_kind(path)
    commands = {"run": "s2sxp train", "comparison": "s2sxp compare"}
    if kind in commands and kind != wanted:
        raise FolderTaken(f"{path} holds a {kind} ({commands[kind]}), not a {wanted}: give "
                          f"{commands[wanted]} another folder")
    if kind == wanted and not (overwrite or unstarted):
        raise FolderTaken(f"{path} holds a {kind} already: carry it on with --resume, or "
                          "replace it with --overwrite")
    if kind == "other" and not overwrite:
        files.check_folder(path, f"a {wanted}'s")
    return kind


class NothingToResume(FileNotFoundError):
    """A folder without a checkpoint to carry on from."""


class NoModel(FileNotFoundError):
    """Neither a run folder with a model nor a model file."""


class RunFolder(os.PathLike):
    """The folder of a run at ``path``: refused where it holds other files than a run's, unless
    ``overwrite``; held by one process at a time from :meth:`prepare` or :meth:`open` until
    :meth:`release`."""

    def __init__(self, path, overwrite=False):
        self.path, self.overwrite = os.fspath(path), overwrite
        self.lock = None
        self.kind = None            # what the folder held before a new run (check)

    @classmethod
    def of(cls, folder, overwrite=False):
        """``folder`` itself, or the folder at that path."""
        return folder if isinstance(folder, RunFolder) else cls(folder, overwrite)

    def __fspath__(self):
        return self.path

    def __str__(self):
        return self.path

    def join(self, name):
        """The path of the file ``name`` in the folder."""
        return os.path.join(self.path, name)

    def holds_run(self):
        """Whether a run's checkpoint is there."""
        return os.path.exists(self.join("checkpoint.npz"))

    def saved_position(self):
        """Where the checkpoint in the folder stands, in words (``none`` where it cannot be
        read)."""
        try:
            checkpoint = io.read_checkpoint(self.join("checkpoint.npz"))
        except (io.CheckpointError, OSError):
            return "none"
        epoch, state = checkpoint.epoch, checkpoint.trainer_state
        if state.get("order") is not None:
            return f"in epoch {epoch + 1} after iteration {state['next']}"
        return f"after epoch {epoch}" if epoch else "the initial weights"

    def check(self):
        """Whether a new run may start here (:func:`check_kind`): FolderTaken where the folder
        holds a run and not ``overwrite``, or a comparison; ForeignFolder where it holds other
        files and not ``overwrite``."""
        unstarted = not (self.holds_run() or os.path.exists(self.join(files.JOURNAL)))
        self.kind = check_kind(self.path, "run", self.overwrite, unstarted)

    def prepare(self):
        """The folder made ready for a new run: made where missing, held; where it held a run,
        the files a kill left half written there finished or removed, and the run's files
        removed. Files that are not a run's are never removed (those a run writes are
        replaced)."""
        os.makedirs(self.path, exist_ok=True)
        self._hold()
        if self.kind == "run":
            files.recover(self.path, FILES)
            for name in FILES:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.join(name))
            self.keep_only(())

    def open(self):
        """The folder of a run to carry on, held, an epoch's files a kill left half renamed
        finished; NothingToResume where it holds no checkpoint."""
        if not self.holds_run() and not os.path.exists(self.join(files.JOURNAL)):
            raise NothingToResume(f"no checkpoint to resume in {self.path}")
        self._hold()
        try:
            files.recover(self.path, FILES)
        except BaseException:
            self.release()
            raise

    def _hold(self):
        self.lock = FolderLock(self.path).acquire()

    def release(self):
        """Let the folder go."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def kept(self):
        """{epoch: path} of the models ``--keep-best`` keeps there (epoch-E.npz), by epoch."""
        epochs = sorted(int(m.group(1)) for name in os.listdir(self.path)
                        if (m := KEPT.fullmatch(name)))
        return {e: self.join(kept_name(e)) for e in epochs}

    def keep_only(self, epochs):
        """Remove the kept models (epoch-E.npz) of epochs other than ``epochs``."""
        for epoch, path in self.kept().items():
            if epoch not in epochs:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)

    def write(self, name, write):
        """The file ``name``, written by ``write(file)`` atomically."""
        atomic_write(self.join(name), write)

    def write_json(self, name, value):
        self.write(name, json_writer(value))

    def commit(self, writes):
        """The files of ``writes`` ({name: write(file)}) written as one unit."""
        files.commit(self.path, writes)


def json_writer(value):
    """What writes ``value`` as a JSON file."""
    return lambda f: f.write((json.dumps(value, indent=1) + "\n").encode())


#: The columns of history.csv.
CSV_COLUMNS = ("event", "epoch", "loss", "accuracy", "bleu", "chrf")


def csv_writer(history):
    """What writes a run's ``history`` (history.json's) as history.csv, one row an event in the
    order of training: each reported ``loss``, each ``validation`` (accuracy 0-1, BLEU and chrF
    0-100 where the data has them) and the ``test`` file's scores, at the epoch (fractions
    inside one) where it came; blank where an event has no such figure."""
    rows = [(at, 0, "loss", loss, None, None, None)
            for loss, at in zip(history["loss"], history["loss_epochs"])]
    for i, at in enumerate(history["val_epochs"]):
        rows.append((at, 1, "validation", None, history["val_acc"][i],
                     *(history.get(k, [None] * (i + 1))[i] for k in ("val_bleu", "val_chrf"))))
    if "test" in history:
        t = history["test"]
        rows.append((float("inf"), 2, "test", None, t.get("exact"), t.get("bleu"), t.get("chrf")))
    text = StringIO()
    out = csv.writer(text, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for at, _, event, *figures in sorted(rows, key=lambda r: r[:2]):
        epoch = history["test"].get("epoch") if event == "test" else at
        out.writerow([event, _number(epoch), *map(_number, figures)])
    return lambda f: f.write(text.getvalue().encode())


def _number(value):
    return "" if value is None else f"{value:.6g}"


def load_model(run):
    """(model, path) of a model file, or of a run folder's model: on a parallel corpus its best
    (best.npz, the best validation), else its last (model.npz); the model must carry its
    vocabulary."""
    path = run
    if os.path.isdir(run):
        path = model_path(run)
    elif not os.path.exists(run):
        raise NoModel(f"no run folder or model file at {run}")
    model = io.load(path)
    if model.vocab is None:
        raise io.CheckpointError(f"{path} holds no vocabulary (save it with io.save(model, path, "
                                 "vocab=vocab))")
    return model, path


def model_path(folder):
    """The model a run folder names: best.npz on a parallel corpus (as its config.json says),
    else model.npz; NoModel where it has none."""
    config = _json(os.path.join(folder, "config.json"))
    corpus = isinstance(config, dict) and config.get("tokens") is not None
    for name in ("best.npz", "model.npz") if corpus else ("model.npz",):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise NoModel(f"{folder} holds no model.npz (has a run there finished an epoch?)")

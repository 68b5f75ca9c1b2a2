"""A run's folder (:class:`RunFolder`): where it is, whether a run may be written there, the lock
that keeps it to one writer while a run trains, and the writing of its files, each atomically and
an epoch's as one unit (:mod:`s2sxp.files`), so that a crash, a kill or Ctrl-C never leaves a
broken or mixed folder; and the model a folder (or a model file) names (:func:`load_model`).
A run (:mod:`s2sxp.run`) writes there::

    config.json     the settings (:class:`~s2sxp.config.TrainConfig`), written at the start
    checkpoint.npz  parameters, optimizer state (Adam's m, v and step count), the trainer's
                    shuffling state, epoch and history: at the start, after every epoch, and
                    when Ctrl-C stops training
    history.json    loss per report and the scores of every validation (on a parallel corpus
                    also BLEU and chrF, and the test file's scores once training has finished)
    model.npz       the model after the last finished epoch; best.npz: the best validation accuracy
                    (on a parallel corpus: the best BLEU)
    accuracy.png    validation accuracy per epoch; loss.png: the training loss; bleu.png: BLEU
    source.model    subwords: the sources' SentencePiece model (target.model: the targets'), as
                    SentencePiece's own tools read it; the checkpoint and models carry them too
"""
import contextlib
import json
import os

from . import files, io
from .files import FolderLock, atomic_write

#: What a run writes in its folder.
FILES = ("config.json", "checkpoint.npz", "history.json", "model.npz", "best.npz",
         "accuracy.png", "loss.png", "bleu.png", "source.model", "target.model")
#: The files by which a folder is known to hold a run.
MARKS = ("config.json", "checkpoint.npz", files.JOURNAL)


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
        """ForeignFolder where the folder holds files but no run's, unless ``overwrite``."""
        files.check_folder(self.path, self.overwrite, MARKS)

    def prepare(self):
        """The folder made ready for a new run: made where missing, held, the files a kill left
        half written there finished or removed, and those of an earlier run removed."""
        os.makedirs(self.path, exist_ok=True)
        self._hold()
        files.recover(self.path)
        for name in FILES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.join(name))

    def open(self):
        """The folder of a run to carry on, held, an epoch's files a kill left half renamed
        finished; NothingToResume where it holds no checkpoint."""
        if not self.holds_run() and not os.path.exists(self.join(files.JOURNAL)):
            raise NothingToResume(f"no checkpoint to resume in {self.path}")
        self._hold()
        try:
            files.recover(self.path)
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


def load_model(run):
    """(model, path) of a run folder's last model (model.npz) or of a model file; the model must
    carry its vocabulary."""
    path = run
    if os.path.isdir(run):
        path = os.path.join(run, "model.npz")
        if not os.path.exists(path):
            raise NoModel(f"{run} holds no model.npz (has a run there finished an epoch?)")
    elif not os.path.exists(run):
        raise NoModel(f"no run folder or model file at {run}")
    model = io.load(path)
    if model.vocab is None:
        raise io.CheckpointError(f"{path} holds no vocabulary (save it with io.save(model, path, "
                                 "vocab=vocab))")
    return model, path

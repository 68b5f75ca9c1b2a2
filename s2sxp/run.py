"""A training run kept in a folder, as ``s2sxp train`` and ``s2sxp compare`` keep it::

    config.json     the settings (:class:`TrainConfig`), written at the start
    checkpoint.npz  parameters, optimizer state (Adam's m, v and step count), the trainer's
                    shuffling state, epoch and history: at the start, after every epoch, and
                    when Ctrl-C stops training
    history.json    loss per report and validation accuracy per epoch (on a parallel corpus also
                    BLEU and chrF, and the test file's scores once training has finished)
    model.npz       the model after the last finished epoch; best.npz: the best validation accuracy
                    (on a parallel corpus: the best BLEU)
    accuracy.png    validation accuracy per epoch; loss.png: the training loss; bleu.png: BLEU
    source.model    subwords: the sources' SentencePiece model (target.model: the targets'), as
                    SentencePiece's own tools read it; the checkpoint and models carry them too

An epoch's files are written as one unit (:func:`s2sxp.files.commit`) and a run holds its folder
while it trains (:class:`s2sxp.files.FolderLock`), so a crash, a kill or Ctrl-C never leaves a
broken or mixed folder; :meth:`Run.resume` carries on from the checkpoint with the very same
batches, so the losses and parameters equal those of an uninterrupted run. Several runs side by
side are :mod:`s2sxp.compare`'s. A model saved by a
run is read back by :func:`load_model`, with the data it was trained on by
:func:`s2sxp.config.load_model_data`, and scored by :func:`s2sxp.metrics.evaluate_split`, the
route validation takes too. The settings of a run are a :class:`~s2sxp.config.TrainConfig`.
"""
import contextlib
import dataclasses
import json
import os
import time

from . import corpus, datasets, files, io, models, viz
from .config import (CORPUS_BEFORE, CORPUS_OPTIONS, TrainConfig, file_records, load_data,
                     located)
from .backend import asnumpy
from .distributed import SINGLE
from .files import FolderLock, atomic_write
from .metrics import evaluate_split, evaluate_translations
from .optim import OPTIMIZERS, scheduled_rate, stalls
from .progress import STDOUT
from .trainer import Trainer, TrainingInterrupted
from .vocab import mismatch

FILES = ("config.json", "checkpoint.npz", "history.json", "model.npz", "best.npz",
         "accuracy.png", "loss.png", "bleu.png", "source.model", "target.model")
#: The beam width the test file is scored with.
TEST_BEAM = 5
#: What ``s2sxp compare`` keeps in its folder: the models it trains there, in order.
COMPARE_FILE = "compare.json"


class Run:
    """One model's training in ``folder``: build with :meth:`start` or :meth:`resume`, then
    :meth:`train` (or :meth:`train_epoch` until :attr:`finished`)."""

    def __init__(self, folder, config, data, model, optimizer, trainer, history):
        self.lock = None              # the folder's, from start or resume until close
        self.world = trainer.world    # the processes training together (s2sxp.distributed)
        self.folder, self.config, self.data = folder, config, data
        self.model, self.optimizer, self.trainer = model, optimizer, trainer
        self.history = history
        self.test_scores = None       # the test file's, when training has finished
        self.files = {}               # where its files of data are (config.file_records)
        #: Called as on_validation(run, scores, guesses) after a validation inside an epoch.
        self.on_validation = None
        self._per_epoch = None        # iterations in an epoch (iterations_per_epoch)

    def path(self, name):
        return os.path.join(self.folder, name)

    @property
    def is_corpus(self):
        return isinstance(self.data, corpus.Corpus)

    @classmethod
    def _build(cls, folder, config, data, log, world=SINGLE):
        if data is None:
            data = load_data(config)
        check_memory(config, data)
        model = new_model(config, data)
        optimizer = OPTIMIZERS[config.optimizer](lr=config.lr)
        trainer = Trainer(model, optimizer, seed=config.seed, log=log, world=world)
        history = {name: [] for name in HISTORIES[type(data)]}
        return cls(folder, config, data, model, optimizer, trainer, history)

    @classmethod
    def start(cls, folder, config, data=None, log=STDOUT, overwrite=False, world=SINGLE):
        """A new run in ``folder``, which is made if missing and held (:meth:`close` lets it
        go); the files of an earlier run there are removed. A folder that holds other files is
        refused unless ``overwrite``. ``data``, when given, must already be reversed if
        ``config.reverse``.

        Over several ranks (``world``, :mod:`s2sxp.distributed`), rank 0 does all of this and
        the others take its data, model and state (:meth:`_share`): they never touch the
        folder."""
        if not config.batch_tokens and config.batch_size < world.size:
            raise ValueError(f"batch size {config.batch_size} is smaller than the {world.size} "
                             "ranks that share each batch")
        if world.rank == 0:
            return cls._share(cls._start(folder, config, data, log, overwrite, world), world)
        return cls._share(None, world)

    @classmethod
    def _start(cls, folder, config, data, log, overwrite, world):
        config = config.resolved()
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {config.optimizer!r}; choose one of "
                             + ", ".join(OPTIMIZERS))
        check_folder(folder, overwrite)
        run = cls._build(folder, config, data, log, world)
        os.makedirs(folder, exist_ok=True)
        run.lock = FolderLock(folder).acquire()
        run.files = file_records(config, folder)
        files.recover(folder)
        for name in FILES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(run.path(name))
        _write_json(run.path("config.json"), config.as_dict())
        for name, vocab in (("source", getattr(run.data, "source_vocab", None)),
                            ("target", run.data.vocab)):
            model = getattr(vocab, "subword_model", None)
            if model is not None:               # SentencePiece's own file, for other tools
                atomic_write(run.path(f"{name}.model"), lambda f, m=model: f.write(m))
        run.save_checkpoint()
        return run

    @classmethod
    def resume(cls, folder, given=None, data=None, log=STDOUT, world=SINGLE):
        """The run in ``folder``, as its checkpoint left it. ``given`` holds settings asked for
        now (None: not asked); they must match the run's, except ``epochs``, which may extend it.
        CheckpointError when the checkpoint is unreadable or holds another model or vocabulary.
        Over several ranks, rank 0 reads the folder and the others take what it read, whatever
        the number of ranks that wrote the checkpoint."""
        if world.rank:
            return cls._share(None, world)
        path = os.path.join(folder, "checkpoint.npz")
        if not os.path.exists(path) and not os.path.exists(os.path.join(folder, files.JOURNAL)):
            raise FileNotFoundError(f"no checkpoint to resume in {folder} (train without "
                                    "--resume to start a run there)")
        lock = FolderLock(folder).acquire()
        try:
            files.recover(folder)             # an epoch's files a kill left half renamed
            run = cls._resume(folder, path, given, data, log, world)
        except BaseException:
            lock.release()
            raise
        run.lock = lock
        return cls._share(run, world)

    @classmethod
    def _share(cls, run, world):
        """Rank 0's ``run`` on every rank: the others build a run of the same settings and data
        from what rank 0 sends, with its parameters, optimizer and trainer state and history,
        and no folder to write (:attr:`writes`)."""
        if world.size == 1:
            return run
        state = world.broadcast(None if run is None else run._state(),
                                "receiving rank 0's data and model")
        if run is not None:
            return run
        run = cls._build(state["folder"], state["config"], state["data"], None, world)
        io.set_params(run.model, state["params"], "rank 0's model")
        run.optimizer.load_state_dict(state["optimizer"])
        run.trainer.load_state_dict(state["trainer"])
        run.history, run.files = state["history"], state["files"]
        return run

    def _state(self):
        """What the other ranks need of this run to train it with this one (:meth:`_share`), on
        the host."""
        return {"folder": self.folder, "config": self.config, "data": self.data,
                "params": [asnumpy(p) for p in self.model.params],
                "optimizer": _on_host(self.optimizer.state_dict()),
                "trainer": self.trainer.state_dict(), "history": self.history,
                "files": self.files}

    @property
    def writes(self):
        """Whether this process writes the run's folder: rank 0 only, over several ranks."""
        return self.world.rank == 0

    @classmethod
    def _resume(cls, folder, path, given, data, log, world):
        checkpoint = io.read_checkpoint(path)
        try:
            # a run saved before learning-rate schedules trained at a constant rate
            config = TrainConfig(**{"lr_half_life": 0, "anneal_at": 0, **CORPUS_BEFORE,
                                    **checkpoint.meta["run"]}).resolved()
        except (KeyError, TypeError, ValueError) as e:
            raise io.CheckpointError(f"{path} does not hold the settings of an s2sxp run "
                                     f"({e!r})") from None
        given = {k: v for k, v in (given or {}).items() if v is not None}
        records = checkpoint.meta.get("files") or {}
        config = located(config, records, folder, {k: v for k, v in given.items() if k in records})
        given = {k: v for k, v in given.items() if k not in records}
        if "model" in given and given["model"] != checkpoint.kind:
            raise io.CheckpointError(f"{path} holds a model of kind {checkpoint.kind!r}, not "
                                     f"{given['model']!r}: resume it without --model, or start "
                                     "a new run in another folder")
        for name, value in given.items():
            if name != "epochs" and value != getattr(config, name):
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} {value} differs from the resumed run's "
                                 f"{getattr(config, name)}; a resumed run keeps its settings "
                                 "(only --epochs may change)")
        config = dataclasses.replace(config, epochs=given.get("epochs", config.epochs))
        if data is None and getattr(checkpoint.vocab, "subword_model", None) is not None:
            # the run's own subword models, not new ones trained again on the data
            data = load_data(config, vocab=checkpoint.vocab,
                             source_vocab=checkpoint.source_vocab)
        run = cls._build(folder, config, data, log, world)
        for saved, now in ((checkpoint.vocab, run.data.vocab),
                           (checkpoint.source_vocab, getattr(run.data, "source_vocab", None))):
            if now is not None and saved != now:
                raise io.CheckpointError(mismatch(path, saved, now, config.data))
        saved, now = checkpoint.params[0].dtype, run.model.flat_params.dtype
        if saved != now:
            raise io.CheckpointError(f"{path} was trained in {saved}, not {now}: resume it in "
                                     f"{saved} (S2S_DTYPE={saved}), or start a new run")
        io.restore(checkpoint, run.model, run.optimizer, run.trainer)
        saved = checkpoint.meta.get("history", {})
        run.history = {name: list(saved.get(name, [])) for name in run.history}
        run.files = file_records(config, folder)
        return run

    def close(self):
        """Let the folder go (see :meth:`start`)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def epoch(self):
        """Epochs finished."""
        return self.trainer.current_epoch

    @property
    def position(self):
        """Where training stands, in words: ``after epoch N`` or ``in epoch N after iteration
        I``."""
        if self.trainer.iteration:
            return f"in epoch {self.epoch + 1} after iteration {self.trainer.iteration}"
        return f"after epoch {self.epoch}"

    def saved_position(self):
        """Where the checkpoint in the folder stands, in words (``none`` where it cannot be
        read)."""
        try:
            checkpoint = io.read_checkpoint(self.path("checkpoint.npz"))
        except (io.CheckpointError, OSError):
            return "none"
        epoch, state = checkpoint.epoch, checkpoint.trainer_state
        if state.get("order") is not None:
            return f"in epoch {epoch + 1} after iteration {state['next']}"
        return f"after epoch {epoch}" if epoch else "the initial weights"

    @property
    def iterations_per_epoch(self):
        if self._per_epoch is None:
            d, c = self.data, self.config
            self._per_epoch = len(self.trainer.batch_sizes(d.x_train, d.t_train, c.batch_size,
                                                           c.batch_tokens))
        return self._per_epoch

    def _ats(self):
        """How many iterations had been trained at each validation (the run's whole history:
        after each epoch, and every ``eval_every`` iterations where asked)."""
        ats = list(self.history["val_at"])
        before = len(self.history["val_acc"]) - len(ats)     # saved before val_at was kept
        return [(i + 1) * self.iterations_per_epoch for i in range(before)] + ats

    def _validated(self):
        """The indices of the validations made up to where training stands now."""
        now = self.epoch * self.iterations_per_epoch + self.trainer.iteration
        return [i for i, at in enumerate(self._ats()) if at <= now]

    def lr_at(self, iteration):
        """The learning rate of an iteration (0: the first of the run) in the epoch being
        trained (:func:`s2sxp.optim.scheduled_rate` of the config's ``lr``, ``lr_half_life``,
        ``anneal_at`` (on the accuracies after each epoch) and ``plateau`` (on the validations
        of :attr:`score_name`))."""
        c, P = self.config, self.iterations_per_epoch
        done, ats = self._validated(), self._ats()
        accuracies = [self.history["val_acc"][i] for i in done if ats[i] % P == 0]
        scores = [self.history[self.score_name][i] for i in done]
        return scheduled_rate(c.lr, c.lr_half_life, c.anneal_at, iteration,
                              accuracies[:self.epoch], c.plateau, scores)

    @property
    def stopped_early(self):
        """Whether ``patience`` validations in a row have not improved on the best score."""
        scores = [self.history[self.score_name][i] for i in self._validated()]
        return bool(self.config.patience and scores
                    and stalls(scores)[-1] >= self.config.patience)

    @property
    def finished(self):
        return self.epoch >= self.config.epochs or self.stopped_early

    @property
    def score_name(self):
        """The history entry that picks best.npz (and drives patience and plateau): val_acc, or
        on a parallel corpus val_bleu or val_chrf, as ``select`` says."""
        return f"val_{self.config.select}" if self.is_corpus else "val_acc"

    @property
    def best(self):
        """(the best score of :attr:`score_name`, the epoch of training that reached it)."""
        scores = self.history[self.score_name]
        at = self._ats()[scores.index(max(scores))]
        return max(scores), at / self.iterations_per_epoch

    def train_epoch(self, progress=STDOUT):
        """Train one epoch (or the rest of one that was stopped), evaluate on the test split
        (:func:`evaluate_split`), write every file. Returns (scores, guesses): exact match and,
        on a parallel corpus, BLEU and chrF, with the translations of the test sources.
        TrainingInterrupted and NonFiniteLoss pass through; the files of the last finished epoch
        stay as they were."""
        c, d = self.config, self.data
        per_epoch = self.iterations_per_epoch
        progress = self.trainer.out if progress == STDOUT else progress

        def schedule(epoch, iteration):             # after an update: the next one's rate
            done = epoch * per_epoch + iteration + 1
            if c.eval_every and done % c.eval_every == 0 and iteration + 1 < per_epoch:
                result = self._validate(done, progress)
                if self.on_validation is not None:
                    self.on_validation(self, *result)
                if self.stopped_early:
                    raise _StoppedEarly(result)
                self._save_best()
            self.optimizer.lr = self.lr_at(done)

        self.optimizer.lr = self.lr_at(self.epoch * per_epoch + self.trainer.iteration)
        try:
            self.trainer.fit(d.x_train, d.t_train, max_epoch=1, batch_size=c.batch_size,
                             max_grad=c.max_grad, on_iteration=schedule,
                             batch_tokens=c.batch_tokens)
        except _StoppedEarly as stop:
            self.save()
            return stop.result
        result = self._validate((self.epoch) * per_epoch, progress)
        self.save()
        return result

    def _validate(self, at, progress):
        """Score the held-out split after ``at`` iterations and keep the scores in the
        history; returns (scores, guesses)."""
        scores, guesses = evaluate_split(self.model, self.data, progress=progress,
                                         bleu_tokenize=self.config.bleu_tokenize,
                                         world=self.world)
        self.history["val_acc"].append(scores["exact"])
        self.history["val_at"].append(int(at))
        if self.is_corpus:
            for name in ("bleu", "chrf"):
                self.history["val_" + name].append(scores[name])
        return scores, guesses

    def train(self, on_epoch=None):
        """Train epoch after epoch until :attr:`finished`, calling ``on_epoch(run, scores,
        guesses, seconds)`` after each, then score the test file, where the run has one
        (:meth:`score_test`). When the trainer is stopped (:meth:`Trainer.stop`), writes a
        checkpoint and raises TrainingInterrupted; NonFiniteLoss passes through."""
        try:
            while not self.finished:
                start = time.time()
                scores, guesses = self.train_epoch()
                if on_epoch is not None:
                    on_epoch(self, scores, guesses, time.time() - start)
                stop = self.world.any(self.trainer.stop_requested, "agreeing whether to stop")
                if stop and not self.finished:
                    raise TrainingInterrupted
        except TrainingInterrupted:
            self.save_checkpoint()
            raise
        if getattr(self.data, "test_set", None) is not None:
            self.score_test()

    def score_test(self, beam=TEST_BEAM):
        """BLEU, chrF and exact match of best.npz on the test file, by beam search, kept as
        :attr:`test_scores` and in history.json as ``test`` (with the epoch of best.npz);
        returns them and the translations. Over several ranks, each translates its share."""
        best = self._best_model()
        split = self.data.test_set
        scores, translations = evaluate_translations(
            best, split.x, split.references, self.data.vocab, self.data.max_output_length,
            beam=beam, bleu_tokenize=self.config.bleu_tokenize, progress=self.trainer.out,
            world=self.world)
        self.test_scores = dict(scores, beam=beam, epoch=best.meta.get("epoch"),
                                sentences=len(split.references))
        if self.writes:
            _write_json(self.path("history.json"), self.history_dict())
        return scores, translations

    def _best_model(self):
        """best.npz, read by rank 0 and sent to the others."""
        best = io.load(self.path("best.npz")) if self.writes else None
        if self.world.size == 1:
            return best
        params, meta = self.world.broadcast(
            best and ([asnumpy(p) for p in best.params], best.meta), "receiving best.npz")
        if best is None:
            best = new_model(self.config, self.data)
            io.set_params(best, params, "rank 0's best.npz")
            best.meta = meta
        return best

    def model_meta(self):
        """What a saved model of this run records besides its parameters and vocabulary."""
        c, d = self.config, self.data
        meta = {"data": c.data, "reversed_input": c.reverse, "epoch": self.epoch,
                "files": self.files}
        if self.is_corpus:
            meta.update({k: getattr(c, k) for k in CORPUS_OPTIONS},
                        max_output_length=d.max_output_length)
        else:
            meta.update(examples=c.examples, question_width=int(d.x_test.shape[1]),
                        answer_width=int(d.t_test.shape[1]))
        return meta

    def _vocabs(self):
        """The vocabularies a saved model of this run records: the target's, and the source's
        where it has one of its own."""
        source = getattr(self.data, "source_vocab", self.data.vocab)
        return {"vocab": self.data.vocab,
                "source_vocab": None if source is self.data.vocab else source}

    def _checkpoint_writer(self):
        return io.checkpoint_writer(self.path("checkpoint.npz"), self.model, self.optimizer,
                                    self.trainer, run=self.config.as_dict(),
                                    history=self.history, **self._vocabs(), **self.model_meta())

    def save_checkpoint(self):
        if self.writes:
            atomic_write(self.path("checkpoint.npz"), self._checkpoint_writer())

    def save(self):
        """Every file of a finished epoch, as one unit (:func:`s2sxp.files.commit`): the
        checkpoint (what resume reads), the last model, the best one where this epoch's
        validation is the best, the history and the pictures. Over several ranks, rank 0's
        alone."""
        if not self.writes:
            return
        meta = dict(self.model_meta(), **{k: v[-1] if v else None
                                          for k, v in self.history.items()})
        writes = {"checkpoint.npz": self._checkpoint_writer(),
                  "model.npz": io.model_writer(self.model, self.path("model.npz"),
                                               **self._vocabs(), **meta)}
        if self._is_best():
            writes["best.npz"] = io.model_writer(self.model, self.path("best.npz"),
                                                 **self._vocabs(), **meta)
        history = self.history_dict()
        writes["history.json"] = _json_writer(history)
        for name, fig in viz.history_figures({self.config.model: history}).items():
            writes[name] = viz.png_writer(fig)
        files.commit(self.folder, writes)

    def _is_best(self):
        scores = self.history[self.score_name]
        return bool(scores) and scores[-1] >= max(scores)

    def _save_best(self, meta=None):
        """best.npz, where the last validation is the best so far."""
        if self.writes and self._is_best():
            meta = meta or dict(self.model_meta(), **{k: v[-1] if v else None
                                                      for k, v in self.history.items()})
            io.save(self.model, self.path("best.npz"), **self._vocabs(), **meta)

    def history_dict(self):
        scores = self.history[self.score_name]
        history = {"config": self.config.as_dict(), "loss": self.trainer.loss_list,
                   "loss_epochs": self.trainer.loss_epochs, **self.history,
                   "val_epochs": [at / self.iterations_per_epoch for at in self._ats()],
                   "best_epoch": 1 + scores.index(max(scores)) if scores else None}
        if self.test_scores is not None:
            history["test"] = self.test_scores
        return history


#: What a run's history keeps per epoch, by the kind of its data.
HISTORIES = {datasets.Data: ("val_acc", "val_at"),
             corpus.Corpus: ("val_acc", "val_bleu", "val_chrf", "val_at")}


class _StoppedEarly(Exception):
    """Patience ran out at a validation inside an epoch; ``result`` is its (scores, guesses)."""

    def __init__(self, result):
        super().__init__()
        self.result = result


# -- saved models ----------------------------------------------------------------------------

def new_model(config, data):
    """A model of a run's settings (:class:`TrainConfig`) for its data, in its first weights."""
    options = config.model_options()
    if config.label_smoothing:
        options["label_smoothing"] = config.label_smoothing
    if isinstance(data, corpus.Corpus):
        options["pad_id"] = data.vocab.pad_id
        if data.source_vocab is not data.vocab:
            options["source_vocab_size"] = len(data.source_vocab)
    return models.build(config.model, len(data.vocab), config.wordvec_size, config.hidden_size,
                        cell=config.cell, seed=config.seed, **options)


def load_model(run):
    """(model, path) of a run folder's last model (model.npz) or of a model file; the model must
    carry its vocabulary."""
    path = run
    if os.path.isdir(run):
        path = os.path.join(run, "model.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run} holds no model.npz (has a run there finished an "
                                    "epoch?)")
    elif not os.path.exists(run):
        raise FileNotFoundError(f"no run folder or model file at {run} (train one with "
                                "s2sxp train, or name it with --run)")
    model = io.load(path)
    if model.vocab is None:
        raise io.CheckpointError(f"{path} holds no vocabulary (save it with io.save(model, path, "
                                 "vocab=vocab))")
    return model, path


# -- files ------------------------------------------------------------------------------------

def _json_writer(value):
    return lambda f: f.write((json.dumps(value, indent=1) + "\n").encode())


def _on_host(state):
    """A nested state (dicts, lists) with its GPU arrays copied to the host."""
    if isinstance(state, dict):
        return {k: _on_host(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_on_host(v) for v in state]
    return asnumpy(state) if type(state).__module__.startswith("cupy") else state


def _write_json(path, value):
    atomic_write(path, _json_writer(value))


def available_memory():
    """Bytes of memory free for a process to take (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def batch_memory(config, data):
    """About how many bytes the largest training batch of ``data`` takes: the scores and their
    gradient over the vocabulary, the recurrent and attention states kept for backward."""
    N, H, V = config.batch_size, config.hidden_size, len(data.vocab)
    if isinstance(data, corpus.Corpus):             # Sequences of many lengths
        T_enc, T_dec = data.x_train.max_length, data.t_train.max_length
        if config.batch_tokens:                     # a batch of the longest: so many rows
            N = max(1, config.batch_tokens // max(T_enc, T_dec))
    else:                                           # one padded array each
        T_enc, T_dec = data.x_train.shape[1], data.t_train.shape[1]
    per_row = 3 * T_dec * V + 12 * (T_enc + T_dec) * H
    if config.model == "bahdanau":
        per_row += 2 * T_dec * T_enc * H           # the additive attention's y at every step
    return 4 * N * per_row


def check_memory(config, data):
    """MemoryError, before anything is allocated, where the largest batch cannot fit."""
    need, free = batch_memory(config, data), available_memory()
    if free is not None and need > free:
        raise MemoryError(f"a batch of the longest sentences would take about {need / 2**30:.1f} "
                          f"GiB, and {free / 2**30:.1f} GiB are free")


def is_run_folder(folder):
    """Whether ``folder`` holds a run (or the runs of ``compare``)."""
    return any(os.path.exists(os.path.join(folder, name))
               for name in ("config.json", "checkpoint.npz", files.JOURNAL, COMPARE_FILE))


def check_folder(folder, overwrite=False):
    """ValueError where ``folder`` holds files but no run, unless ``overwrite``: a run there
    would replace them."""
    if overwrite or not os.path.isdir(folder) or is_run_folder(folder):
        return
    others = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise ValueError(f"{folder} holds files that are not a run's ({shown}); train into an "
                         "empty or new folder, or pass --overwrite to replace what a run writes "
                         "there")

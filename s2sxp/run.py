"""A training run in its folder (what it writes there: :mod:`s2sxp.folder`), as ``s2sxp train``
and ``s2sxp compare`` keep it.

A :class:`Run` holds its folder while it trains and writes an epoch's files as one unit
(:class:`~s2sxp.folder.RunFolder`), so that a crash, a kill or Ctrl-C never leaves a broken or
mixed folder; :meth:`Run.resume` carries on from the checkpoint with the very same batches, so
the losses and parameters equal those of an uninterrupted run. Its validations, and the schedule
and early stop they decide, are its :class:`~s2sxp.history.ValidationHistory`; its rate is
:func:`s2sxp.schedule.rate_at`; a run of ``minutes`` keeps its wall clock in a
:class:`~s2sxp.budget.Budget`, part of its checkpoint; its data answers for itself
(:mod:`s2sxp.data`). :func:`train` is the one epoch loop, for one run or several side
by side. Over several ranks (:mod:`s2sxp.distributed`) rank 0 alone reads and writes the folder
and hands the other ranks what they need.
"""
import dataclasses
import time

import numpy

from . import backend, io, viz
from .backend import asnumpy
from .budget import Budget
from .config import TrainConfig
from .data import file_records, load_data, located
from .decoding import DecodeOptions
from .distributed import SINGLE
from .folder import RUN_FORMAT, RunFolder, csv_writer, json_writer, kept_name
from .history import ValidationHistory
from .optim import OPTIMIZERS
from .progress import STDOUT
from .schedule import PLANNED, rate_at
from .trainer import Trainer, TrainingInterrupted
from .vocab import mismatch

#: The beam width the test file is scored with.
TEST_BEAM = 5


class RunFiles:
    """What a :class:`Run` writes in its folder, and what its saved models record: the checkpoint,
    an epoch's files as one unit, best.npz and history.json; and what follows the last epoch,
    the test file scored with best.npz. Run has these methods from here; they use its folder,
    settings, data, model, optimizer, trainer and history."""

    def model_meta(self):
        """What a saved model of this run records besides its parameters and vocabulary."""
        c, d = self.config, self.data
        return {"data": c.data, "reversed_input": c.reverse, "epoch": self.epoch,
                "files": self.files, **c.data_settings(d.kind), **d.saved_meta()}

    def _vocabs(self):
        """The vocabularies a saved model of this run records: the target's, and the source's
        where it has one of its own."""
        d = self.data
        return {"vocab": d.vocab, "source_vocab": None if d.source_vocab is d.vocab
                else d.source_vocab}

    def _checkpoint_writer(self):
        budget = None if self.budget is None else self.budget.state_dict()
        return io.checkpoint_writer(self.path("checkpoint.npz"), self.model, self.optimizer,
                                    self.trainer, run=self.config.as_dict(),
                                    history=self.history, test_scores=self.test_scores,
                                    budget=budget, **self._vocabs(), **self.model_meta())

    def save_checkpoint(self):
        """The checkpoint (where training stands now) and, as one unit with it, best.npz where a
        validation inside the epoch has found a better model since the last commit."""
        if not self.writes:
            return
        if self._best is None:
            self.folder.write("checkpoint.npz", self._checkpoint_writer())
            return
        self.folder.commit({"checkpoint.npz": self._checkpoint_writer(), "best.npz": self._best})
        self._best = None

    def _saved_meta(self):
        """What this run's saved models record: :meth:`model_meta` and the last validation."""
        return dict(self.model_meta(), **{k: v[-1] if v else None
                                          for k, v in self.history.items()})

    def save(self):
        """Every file of a finished epoch, as one unit (:meth:`RunFolder.commit`): the
        checkpoint (what resume reads), the last model, the best one where this epoch's
        validation is the best, the history and the pictures. Over several ranks, rank 0's
        alone."""
        if not self.writes:
            return
        meta = self._saved_meta()
        writes = {"checkpoint.npz": self._checkpoint_writer(),
                  "model.npz": io.model_writer(self.model, self.path("model.npz"),
                                               **self._vocabs(), **meta)}
        if self.history.is_best():
            writes["best.npz"] = io.model_writer(self.model, self.path("best.npz"),
                                                 **self._vocabs(), **meta)
        elif self._best is not None:
            writes["best.npz"] = self._best
        kept = self._kept_epochs()
        if (self.epoch in kept and not self.trainer.iteration
                and self.history.ats()[-1] == self.trained):   # this epoch's own validation
            writes[kept_name(self.epoch)] = io.model_writer(
                self.model, self.path(kept_name(self.epoch)), **self._vocabs(), **meta)
        history = self.history_dict()
        writes["history.json"] = json_writer(history)
        writes["history.csv"] = csv_writer(history)
        for name, fig in viz.history_figures({self.config.model: history}).items():
            writes[name] = viz.png_writer(fig)
        self.folder.commit(writes)
        self.folder.keep_only(kept)
        self._best = None

    def _kept_epochs(self):
        """The epochs whose models ``keep_best`` keeps (epoch-E.npz): those of the best
        validations made at the ends of epochs, the later first among equal scores."""
        P, h = self.iterations_per_epoch, self.history
        ends = [(score, at // P) for score, at in zip(h.selected, h.ats()) if at and at % P == 0]
        return {epoch for _, epoch in sorted(ends, reverse=True)[:self.config.keep_best]}

    def _save_best(self):
        """Where the last validation (inside an epoch) is the best so far, the model as it is
        now, to be written as best.npz with the epoch's other files (:meth:`save`), or with the
        checkpoint where training is stopped first: a kill never leaves a best.npz that the
        checkpoint and the history do not know."""
        if self.writes and self.history.is_best():
            self._best = io.model_writer(self.model, self.path("best.npz"), **self._vocabs(),
                                         **self._saved_meta())

    def history_dict(self):
        """What history.json holds: the settings, the losses, the validations and, once
        scored, the test file's scores."""
        history = {"config": self.config.as_dict(), "loss": self.trainer.loss_list,
                   "loss_epochs": self.trainer.loss_epochs, **self.history.summary()}
        if self.budget is not None:          # the minute each validation ended
            history["val_minutes"] = [m / 60 for m in self.budget.marks]
        if self.test_scores is not None:
            history["test"] = self.test_scores
        return history

    def finish(self):
        """What follows the last epoch, where it is not done yet (:attr:`scored`): the test
        file scored (:meth:`score_test`)."""
        if not self.scored:
            self.score_test()

    def score_test(self, beam=TEST_BEAM):
        """BLEU, chrF and exact match of best.npz on the test file, by beam search, kept as
        :attr:`test_scores`, in history.json as ``test`` (with the epoch of best.npz) and in the
        checkpoint, written as one unit; returns them and the translations. A stop (Ctrl-C,
        SIGTERM) interrupts the scoring at once, and a resume scores again. Over several ranks,
        each translates its share."""
        best = self._best_model()
        split = self.data.test_set
        with self.trainer.at_once():
            options = DecodeOptions(beam=beam, max_length=self.config.max_output_length)
            scores, translations = split.evaluate(best, options, self.config.bleu_tokenize,
                                                  self.trainer.out, self.world)
        self.test_scores = dict(scores, beam=beam, epoch=best.meta.get("epoch"),
                                sentences=len(split.references))
        if self.writes:
            history = self.history_dict()
            self.folder.commit({"history.json": json_writer(history),
                                "history.csv": csv_writer(history),
                                "checkpoint.npz": self._checkpoint_writer()})
        return scores, translations

    def _best_model(self):
        """best.npz, read by rank 0 and sent to the others."""
        best = io.load(self.path("best.npz")) if self.writes else None
        if self.world.size == 1:
            return best
        params, meta = self.world.broadcast(
            best and ([asnumpy(p) for p in best.params], best.meta), "receiving best.npz")
        if best is None:
            best = self.config.new_model(self.data)
            io.set_params(best, params, "rank 0's best.npz")
            best.meta = meta
        return best


class Run(RunFiles):
    """One model's training in ``folder``: made by :meth:`start` or :meth:`resume`, trained by
    :func:`train` (or :meth:`run_epoch` until :attr:`finished`, then :meth:`finish`)."""

    def __init__(self, folder, config, data, model, optimizer, trainer, history, budget=None):
        self.folder = folder          # a RunFolder (s2sxp.folder)
        self.config, self.data = config, data
        self.model, self.optimizer, self.trainer = model, optimizer, trainer
        self.history, self.budget = history, budget
        self.world = trainer.world    # the processes training together (s2sxp.distributed)
        self.files = {}               # where its files of data are (s2sxp.data.file_records)
        self.test_scores = None       # the test file's, when training has finished
        self._best = None             # best.npz's writer, from a validation inside an epoch
        #: Called as on_validation(run, scores, guesses) after a validation inside an epoch.
        self.on_validation = None
        #: Where set, on_preview(run, scores, iteration) after that iteration of the run: the
        #: held-out split scored and kept nowhere, a first look before the first epoch ends.
        self.preview_at, self.on_preview = None, None

    @classmethod
    def build(cls, folder, config, data, log, world=SINGLE, saved=None, clock=None,
              started=None, budget=None):
        """A run in ``folder`` of the (resolved) ``config`` on ``data`` (loaded where None) in its
        first weights, its history carried on from ``saved`` and, of ``minutes``, its budget
        from ``budget`` (a state; its ``clock`` read at ``started``), that has not touched its
        folder; MemoryError where its largest batch cannot fit."""
        data = load_data(config) if data is None else data
        need, free = config.memory(data), backend.available_memory()
        if free is not None and need > free:
            raise MemoryError(f"the model's weights and a batch of the longest sentences would "
                              f"take about {need / 2**30:.1f} GiB, and {free / 2**30:.1f} GiB "
                              "are free")
        model = config.new_model(data)
        optimizer = OPTIMIZERS[config.optimizer](lr=config.lr)
        trainer = Trainer(model, optimizer, seed=config.seed, log=log, world=world)
        per_epoch = len(trainer.batch_sizes(data.x_train, data.t_train, config.batch_size,
                                            config.batch_tokens))
        history = ValidationHistory(data.scores, data.selected(config.select), per_epoch, saved)
        # a validation is guessed to cost the part of an epoch its split is of the training one
        budget = None if config.minutes is None else Budget(
            config.minutes, clock, world, started, per_epoch * len(data.x_test)
            / len(data.x_train), budget, plans=config.schedule in PLANNED)
        return cls(folder, config, data, model, optimizer, trainer, history, budget)

    # -- the folder's life ---------------------------------------------------------------------

    @classmethod
    def start(cls, folder, config, data=None, log=STDOUT, overwrite=False, world=SINGLE,
              clock=None):
        """A new run in ``folder`` (a path, or a :class:`~s2sxp.folder.RunFolder`), which is made
        if missing and held (:meth:`close` lets it go). A folder that holds a run, or other
        files, is refused unless ``overwrite`` (an earlier run's files are then removed, other
        files kept but where a run's file replaces them); one that holds a comparison always. ``data``, when
        given, must already be reversed if ``config.reverse``. Over several ranks, rank 0 does
        all of this and the others take its data, model and state: they never touch the
        folder. A run of ``minutes`` counts them from now, on ``clock`` (a function that
        returns seconds; ``time.monotonic`` unless told)."""
        started = (clock or time.monotonic)()
        if world.rank:
            return _shared(None, world, clock)
        folder, config = RunFolder.of(folder, overwrite), config.resolved()
        folder.check()
        run = cls.build(folder, config, data, log, world, clock=clock, started=started)
        folder.prepare()
        try:
            run.files = file_records(config, folder.path)
            folder.write_json("config.json", {"format": RUN_FORMAT, **config.as_dict()})
            for name, vocab in (("source", run.data.source_vocab), ("target", run.data.vocab)):
                if vocab.subword_model is not None:  # SentencePiece's own file, for other tools
                    folder.write(f"{name}.model", lambda f, m=vocab.subword_model: f.write(m))
            run.save_checkpoint()
        except BaseException:
            folder.release()
            raise
        return _shared(run, world)

    @classmethod
    def resume(cls, folder, given=None, data=None, log=STDOUT, world=SINGLE, clock=None):
        """The run in ``folder`` (a path or a RunFolder), as its checkpoint left it. ``given``
        holds settings asked for now ({setting: value}, None: not asked); they must match the
        run's, except ``epochs``, which may extend it
        (:meth:`~s2sxp.config.TrainConfig.carried_on`). CheckpointError when the checkpoint is
        unreadable or holds another model or vocabulary. Over several ranks, rank 0 reads the
        folder and the others take what it read, whatever the number of ranks that wrote it.
        A run of ``minutes`` carries on the budget it had left, counting from now, on
        ``clock`` (as :meth:`start`)."""
        started = (clock or time.monotonic)()
        if world.rank:
            return _shared(None, world, clock)
        folder = RunFolder.of(folder)
        folder.open()
        try:
            run = cls._resume(folder, TrainConfig.asked(given or {}), data, log, world,
                              (clock, started))
        except BaseException:
            folder.release()
            raise
        return _shared(run, world)

    @classmethod
    def _resume(cls, folder, given, data, log, world, clock):
        path = folder.join("checkpoint.npz")
        checkpoint = io.read_checkpoint(path)
        config = TrainConfig.saved(checkpoint.meta.get("run"), path)
        records = checkpoint.meta.get("files") or {}
        asked = {k: v for k, v in given.items() if k in records}
        found = located(config, records, folder.path, asked) if data is None else {}
        # the run keeps its settings as recorded (wherever it is resumed from), but for the
        # files asked for now; its data is read where it was found
        config = dataclasses.replace(config, **asked).carried_on(
            {k: v for k, v in given.items() if k not in records}, path)
        if data is None:
            saved = checkpoint.vocab
            vocabs = ((saved, checkpoint.source_vocab) if saved is not None
                      and saved.subword_model is not None else ())
            # the run's own subword models, not new ones trained again on the data
            data = load_data(dataclasses.replace(config, **found), *vocabs)
        run = cls.build(folder, config, data, log, world, checkpoint.meta.get("history"),
                        *clock, checkpoint.meta.get("budget"))
        _check_restorable(checkpoint, run)
        _check_order(checkpoint, len(run.data.x_train))
        io.restore(checkpoint, run.model, run.optimizer, run.trainer)
        run.files = dict(records, **{name: record for name, record in file_records(
            dataclasses.replace(config, **found), folder.path).items() if name in asked})
        run.test_scores = checkpoint.meta.get("test_scores")
        return run

    def close(self):
        """Let the folder go (see :meth:`start`)."""
        self.folder.release()

    def path(self, name):
        return self.folder.join(name)

    @property
    def writes(self):
        """Whether this process writes the run's folder: rank 0 only, over several ranks."""
        return self.world.rank == 0

    # -- where training stands -----------------------------------------------------------------

    @property
    def epoch(self):
        """Epochs finished."""
        return self.trainer.current_epoch

    @property
    def iterations_per_epoch(self):
        return self.history.per_epoch

    @property
    def trained(self):
        """Iterations trained so far."""
        return self.epoch * self.iterations_per_epoch + self.trainer.iteration

    @property
    def scored(self):
        """Whether what follows the last epoch is done: the test file scored, where there is
        one."""
        return self.test_scores is not None or self.data.test_set is None

    @property
    def position(self):
        """Where training stands, in words: ``after epoch N`` or ``in epoch N after iteration
        I`` (or, after the last, before the test file is scored)."""
        if self.finished and not self.scored:
            return f"after epoch {self.epoch}, before the test file was scored"
        if self.trainer.iteration:
            return f"in epoch {self.epoch + 1} after iteration {self.trainer.iteration}"
        return f"after epoch {self.epoch}"

    def lr_at(self, iteration):
        """The learning rate of an iteration (0: the first of the run) from where training
        stands (:func:`~s2sxp.schedule.rate_at` of the settings)."""
        return rate_at(self.config, self.history, iteration, self.trained, self.budget)

    @property
    def stopped_early(self):
        """Whether ``patience`` validations in a row have not improved on the best score."""
        return self.history.stopped_early(self.config.patience, self.trained)

    @property
    def finished(self):
        """Whether training is over: its epochs trained, or its budget spent, or stopped
        early."""
        over = self.budget.ended if self.budget else self.epoch >= self.config.epochs
        return over or self.stopped_early

    @property
    def best(self):
        """(the best score of the selected kind, the epoch of training that reached it)."""
        return self.history.best()

    # -- the epoch driver ----------------------------------------------------------------------

    def run_epoch(self, progress=STDOUT):
        """Train one epoch (or the rest of one that was stopped, or of a budget), validate on the
        held-out split, write every file. Returns (scores, guesses): exact match and, on a
        parallel corpus, BLEU and chrF, with the translations of the held-out sources; (None,
        None) where a budget has no validation due (only the checkpoint is written then).
        TrainingInterrupted and NonFiniteLoss pass through; the files of the last finished epoch
        stay as they were."""
        c, d, P = self.config, self.data, self.iterations_per_epoch
        progress = self.trainer.out if progress == STDOUT else progress

        def after_update(epoch, iteration):         # the next update's rate
            done = epoch * P + iteration + 1
            if self.budget is not None:
                self.budget.count_iteration()
            if done == self.preview_at and self.on_preview is not None:
                self.on_preview(self, self._scores(progress)[0], done)
            if iteration + 1 < P and self._due(done, last=False):
                result = self._validate(done, progress)
                if self.on_validation is not None:
                    self.on_validation(self, *result)
                if self.finished:
                    raise _StoppedEarly(result)
                self._save_best()
            self.optimizer.lr = self.lr_at(done)

        if self.budget is not None:                 # start-up, or the last epoch's files
            self.budget.count_other()
        self.optimizer.lr = self.lr_at(self.trained)
        try:
            self.trainer.fit(d.x_train, d.t_train, max_epoch=1, batch_size=c.batch_size,
                             max_grad=c.max_grad, on_iteration=after_update,
                             batch_tokens=c.batch_tokens)
        except _StoppedEarly as stop:
            self.save()
            return stop.result
        if not self._due(self.epoch * P, last=True):
            self.save_checkpoint()
            return None, None
        result = self._validate(self.epoch * P, progress)
        self.save()
        return result

    def _due(self, done, last):
        """Whether a validation is due after ``done`` iterations (``last``: an epoch's last):
        where a budget spaces them, or has ended, as it says; else after every epoch and every
        ``eval_every`` iterations."""
        b, every = self.budget, self.config.eval_every
        if b is not None and (b.ended or b.plans):
            return b.validate_now()
        return last or bool(every and done % every == 0)

    def _validate(self, at, progress):
        """Score the held-out split after ``at`` iterations and keep the scores in the history;
        returns (scores, guesses)."""
        scores, guesses = self._scores(progress)
        if self.budget is not None:
            self.budget.count_validation()
        self.history.add(scores, at)
        return scores, guesses

    def _scores(self, progress):
        """(scores, guesses) of the model now on the held-out split."""
        return self.data.split("test").evaluate(
            self.model, DecodeOptions(max_length=self.config.max_output_length),
            bleu_tokenize=self.config.bleu_tokenize, progress=progress, world=self.world)

    def train(self, on_epoch=None):
        """:func:`train` of this run alone."""
        train([self], on_epoch=on_epoch)


class _StoppedEarly(Exception):
    """Patience ran out at a validation inside an epoch; ``result`` is its (scores, guesses)."""

    def __init__(self, result):
        super().__init__()
        self.result = result


def train(runs, before_epoch=None, on_epoch=None, after_round=None):
    """Train ``runs`` one epoch of each at a time until every one has :attr:`~Run.finished`,
    then :meth:`~Run.finish` each (the test file scored): the one epoch loop, for one run
    (``s2sxp train``) or several side by side (``s2sxp compare``). Calls ``before_epoch(run)``
    and ``on_epoch(run, scores, guesses, seconds)`` around each epoch and ``after_round(runs)``
    after each round. When a trainer is stopped (:meth:`~s2sxp.trainer.Trainer.stop`, on every
    rank at once), writes every run's checkpoint and raises TrainingInterrupted; NonFiniteLoss
    passes through."""
    try:
        while not all(run.finished for run in runs):
            for run in runs:
                if run.finished:
                    continue
                if before_epoch is not None:
                    before_epoch(run)
                start = time.time()
                scores, guesses = run.run_epoch()
                if on_epoch is not None:
                    on_epoch(run, scores, guesses, time.time() - start)
                stop = run.world.any(run.trainer.stop_requested, "agreeing whether to stop")
                if stop and not all(r.finished for r in runs):
                    raise TrainingInterrupted
            if after_round is not None:
                after_round(runs)
    except TrainingInterrupted:
        for run in runs:
            run.save_checkpoint()
        raise
    for run in runs:
        run.finish()


def _check_restorable(checkpoint, run):
    """CheckpointError where ``checkpoint`` was trained in other vocabularies or in another float
    type than ``run`` has."""
    path = checkpoint.path
    for saved, now in ((checkpoint.vocab, run.data.vocab),
                       (checkpoint.source_vocab, run.data.source_vocab)):
        if saved != now:
            raise io.CheckpointError(mismatch(path, saved, now, run.config.data))
    saved, now = checkpoint.params[0].dtype, run.model.flat_params.dtype
    if saved != now:
        raise io.CheckpointError(f"{path} was trained in {saved}, not {now}: resume it in "
                                 f"{saved} (S2S_DTYPE={saved}), or start a new run")


def _check_order(checkpoint, examples):
    """CheckpointError where the epoch a checkpoint stopped inside is not an order of the
    ``examples`` training examples cut into batches."""
    state = checkpoint.trainer_state
    if state.get("order") is None:
        return
    order, bounds = state["order"], state["bounds"]
    if (len(order) > examples or (len(order) and not 0 <= order.min() <= order.max() < examples)
            or len(bounds) < 2 or bounds[0] != 0 or bounds[-1] > len(order)
            or (numpy.diff(bounds) <= 0).any() or state["next"] > len(bounds) - 1):
        raise io.CheckpointError(f"{checkpoint.path}: trainer.order and trainer.bounds are not "
                                 f"batches of the {examples} training examples")


def _shared(run, world, clock=None):
    """Rank 0's ``run`` on every rank: the others build a run of the same settings and data from
    what rank 0 sends, with its parameters, optimizer and trainer state, history and budget (on
    their own ``clock``, whose readings rank 0's replace), and no folder to write
    (:attr:`Run.writes`)."""
    if world.size == 1:
        return run
    state = world.broadcast(None if run is None else _state(run),
                            "receiving rank 0's data and model")
    if run is not None:
        return run
    run = Run.build(RunFolder(state["folder"]), state["config"], state["data"], None, world,
                    state["history"], clock, budget=state["budget"])
    io.set_params(run.model, state["params"], "rank 0's model")
    run.optimizer.load_state_dict(state["optimizer"])
    run.trainer.load_state_dict(state["trainer"])
    run.files = state["files"]
    return run


def _state(run):
    """What the other ranks need of ``run`` to train it with this one, on the host."""
    return {"folder": run.folder.path, "config": run.config, "data": run.data,
            "params": [asnumpy(p) for p in run.model.params],
            "optimizer": _on_host(run.optimizer.state_dict()),
            "trainer": run.trainer.state_dict(), "history": dict(run.history),
            "files": run.files, "budget": run.budget and run.budget.state_dict()}


def _on_host(state):
    """A nested state (dicts, lists) with its GPU arrays copied to the host."""
    if isinstance(state, dict):
        return {k: _on_host(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_on_host(v) for v in state]
    return asnumpy(state) if type(state).__module__.startswith("cupy") else state

"""A training run kept in a folder, as ``s2sxp train`` and ``s2sxp compare`` keep it::

    config.json     the settings (:class:`TrainConfig`), written at the start
    checkpoint.npz  parameters, optimizer state (Adam's m, v and step count), the trainer's
                    shuffling state, epoch and history: at the start, after every epoch, and
                    when Ctrl-C stops training
    history.json    loss per report and validation accuracy per epoch (on a parallel corpus also
                    BLEU and chrF)
    model.npz       the model after the last finished epoch; best.npz: the best validation accuracy
                    (on a parallel corpus: the best BLEU)
    accuracy.png    validation accuracy per epoch; loss.png: the training loss; bleu.png: BLEU

Every file is written atomically (temporary file, then rename), so a crash or Ctrl-C never leaves
a broken one. :meth:`Run.resume` carries on from the checkpoint with the very same batches, so the
losses and parameters equal those of an uninterrupted run.
"""
import contextlib
import dataclasses
import inspect
import json
import os
import signal
import threading
from dataclasses import dataclass

from . import corpus, datasets, io, models, viz
from .optim import OPTIMIZERS, halving
from .trainer import _STDOUT, Trainer, evaluate, evaluate_translations

FILES = ("config.json", "checkpoint.npz", "history.json", "model.npz", "best.npz",
         "accuracy.png", "loss.png", "bleu.png")
COMPARE_FILE = "compare.json"
#: Constructor options of some model families that a run may set (BahdanauSeq2seq's).
MODEL_OPTIONS = ("init_state", "reset_state_each_step")


@dataclass
class TrainConfig:
    """The settings of one run. ``lr``, ``reverse``, ``max_grad`` and ``optimizer`` left as None
    take the model class's ``recipe``; ``cell``, ``init_state`` and ``reset_state_each_step``
    its constructor's defaults (see :meth:`resolved`)."""

    model: str = "attention"
    cell: str = None  # "lstm" or "gru"; None: the model class's default
    data: str = "date"  # "date", "addition", a question_answer file or a pairs file (.tsv)
    examples: int = 50000  # lines generated for "date" and "addition"
    epochs: int = 10
    batch_size: int = 128
    wordvec_size: int = 16
    hidden_size: int = 256
    optimizer: str = None
    lr: float = None
    lr_half_life: int = None  # iterations over which the learning rate halves; 0: constant
    anneal_at: float = None  # once validation accuracy reaches it, halve the rate every epoch
    max_grad: float = None  # gradient norm clipping; 0 for none
    reverse: bool = None  # feed the questions reversed
    seed: int = 0
    # BahdanauSeq2seq only; None: the model's default ("sum", False)
    init_state: str = None  # the decoder's initial state: "sum" or "last" of the encoder states
    reset_state_each_step: bool = None  # restart the decoder cell from zeros at every step
    # a parallel corpus (source<TAB>target lines) only
    tokens: str = None  # "char" or "word"; None: "char" for a pairs file
    min_freq: int = 1  # tokens seen fewer times in the training split become <unk>
    max_vocab: int = None  # at most this many tokens, the four special ones included
    max_length: int = None  # a longer sentence (in tokens) is an error, or skipped with skip_bad
    skip_bad: bool = False  # skip (and count) bad lines instead of stopping at the first

    def resolved(self):
        """A copy with the recipe's values where this one has None, and the model's defaults for
        the options of its family (ValueError for an option the family does not have)."""
        if self.model not in models.MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of "
                             + ", ".join(models.MODELS))
        parameters = inspect.signature(models.MODELS[self.model]).parameters
        defaults = dict(models.MODELS[self.model].recipe, cell=parameters["cell"].default)
        for name in MODEL_OPTIONS:
            if name in parameters:
                defaults[name] = parameters[name].default
            elif getattr(self, name) is not None:
                owners = [k for k, cls in models.MODELS.items()
                          if name in inspect.signature(cls).parameters]
                raise ValueError(f"--{name.replace('_', '-')} is an option of "
                                 f"{', '.join(owners)} only, not of {self.model}")
        if self.lr_half_life is not None and self.lr_half_life < 0:
            raise ValueError(f"--lr-half-life must be 0 (a constant rate) or more, got "
                             f"{self.lr_half_life}")
        if self.anneal_at is not None and not 0 <= self.anneal_at <= 1:
            raise ValueError(f"--anneal-at must be an accuracy from 0 to 1 (0: never), got "
                             f"{self.anneal_at}")
        if self.is_corpus() and self.tokens is None:
            defaults["tokens"] = "char"
        elif self.tokens is not None and self.tokens not in corpus.TOKENIZERS:
            raise ValueError(f"unknown tokens {self.tokens!r}; choose one of "
                             + ", ".join(corpus.TOKENIZERS))
        return dataclasses.replace(self, **{k: v for k, v in defaults.items()
                                            if getattr(self, k) is None})

    def is_corpus(self):
        """Whether ``data`` names a parallel corpus (or ``tokens`` says it is one)."""
        return self.tokens is not None or (self.data not in datasets.DATASETS
                                           and os.path.isfile(self.data)
                                           and corpus.is_pairs_file(self.data))

    def model_options(self):
        """The model family's own options set in this config, for its constructor."""
        return {k: getattr(self, k) for k in MODEL_OPTIONS if getattr(self, k) is not None}

    def as_dict(self):
        """The settings, without the options of other model families, nor a corpus's where the
        data is not one (nor, for a corpus, the number of generated examples)."""
        other = ("examples",) if self.is_corpus() else CORPUS_OPTIONS
        return {k: v for k, v in dataclasses.asdict(self).items()
                if (k not in MODEL_OPTIONS or v is not None) and k not in other}


#: The settings of a run on a parallel corpus, which other runs do not have.
CORPUS_OPTIONS = ("tokens", "min_freq", "max_vocab", "max_length", "skip_bad")


@dataclass
class Data:
    """A dataset split as the book splits it, with the questions reversed when asked."""

    x_train: object
    t_train: object
    x_test: object
    t_test: object
    vocab: datasets.Vocab

    @classmethod
    def load(cls, name, examples=50000, reverse=False):
        (x_train, t_train), (x_test, t_test), vocab = datasets.load(name, n=examples)
        if reverse:
            x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
        return cls(x_train, t_train, x_test, t_test, vocab)

    def reversed(self):
        return Data(self.x_train[:, ::-1], self.t_train, self.x_test[:, ::-1], self.t_test,
                    self.vocab)


@dataclass
class CorpusData:
    """A parallel corpus split 90/10 (:func:`s2sxp.corpus.load_pairs`), the sources reversed when
    asked (each sentence's own tokens; the padding stays at the end). ``src_*`` and ``ref_*``
    hold each split's sentences as text, ``reversed_input`` says whether x_train and x_test are
    reversed."""

    x_train: corpus.Sequences
    t_train: corpus.Sequences
    x_test: corpus.Sequences
    t_test: corpus.Sequences
    vocab: corpus.TokenVocab
    src_train: list
    ref_train: list
    src_test: list
    ref_test: list
    reversed_input: bool = False

    @classmethod
    def load(cls, config, reverse=False, vocab=None):
        c = corpus.load_pairs(config.data, tokens=config.tokens, min_freq=config.min_freq,
                              max_vocab=config.max_vocab, max_length=config.max_length,
                              skip_bad=config.skip_bad, vocab=vocab)
        data = cls(c.x_train, c.t_train, c.x_test, c.t_test, c.vocab,
                   c.src_train, c.ref_train, c.src_test, c.ref_test)
        return data.reversed() if reverse else data

    def reversed(self):
        return dataclasses.replace(self, x_train=self.x_train.reversed(),
                                   x_test=self.x_test.reversed(),
                                   reversed_input=not self.reversed_input)

    @property
    def max_output_length(self):
        """The most tokens a translation may take: twice the longest training target."""
        return 2 * int(self.t_train.max_length)


def load_data(config, reverse=None):
    """The data a (resolved) config names, reversed as it says (or as ``reverse`` says)."""
    reverse = config.reverse if reverse is None else reverse
    if config.is_corpus():
        return CorpusData.load(config, reverse)
    return Data.load(config.data, config.examples, reverse)


class Run:
    """One model's training in ``folder``: build with :meth:`start` or :meth:`resume`, then call
    :meth:`train_epoch` until :attr:`finished`."""

    def __init__(self, folder, config, data, model, optimizer, trainer, history):
        self.folder, self.config, self.data = folder, config, data
        self.model, self.optimizer, self.trainer = model, optimizer, trainer
        self.history = history

    def path(self, name):
        return os.path.join(self.folder, name)

    @classmethod
    def _build(cls, folder, config, data, log):
        if data is None:
            data = load_data(config)
        options = config.model_options()
        if isinstance(data, CorpusData):
            options["pad_id"] = data.vocab.pad_id
        model = models.build(config.model, len(data.vocab), config.wordvec_size,
                             config.hidden_size, cell=config.cell, seed=config.seed, **options)
        optimizer = OPTIMIZERS[config.optimizer](lr=config.lr)
        trainer = Trainer(model, optimizer, seed=config.seed, log=log)
        history = {name: [] for name in HISTORIES[type(data)]}
        return cls(folder, config, data, model, optimizer, trainer, history)

    @classmethod
    def start(cls, folder, config, data=None, log=_STDOUT):
        """A new run in ``folder`` (made if missing; the files of an earlier run there are
        removed). ``data``, when given, must already be reversed if ``config.reverse``."""
        config = config.resolved()
        if config.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {config.optimizer!r}; choose one of "
                             + ", ".join(OPTIMIZERS))
        run = cls._build(folder, config, data, log)
        os.makedirs(folder, exist_ok=True)
        for name in FILES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(run.path(name))
        _write_json(run.path("config.json"), config.as_dict())
        run.save_checkpoint()
        return run

    @classmethod
    def resume(cls, folder, given=None, data=None, log=_STDOUT):
        """The run in ``folder``, as its checkpoint left it. ``given`` holds settings asked for
        now (None: not asked); they must match the run's, except ``epochs``, which may extend it.
        CheckpointError when the checkpoint is unreadable or holds another model or vocabulary."""
        path = os.path.join(folder, "checkpoint.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no checkpoint to resume in {folder} (train without "
                                    "--resume to start a run there)")
        checkpoint = io.read_checkpoint(path)
        try:
            # a run saved before learning-rate schedules trained at a constant rate
            config = TrainConfig(**dict({"lr_half_life": 0, "anneal_at": 0},
                                        **checkpoint.meta["run"])).resolved()
        except (KeyError, TypeError, ValueError) as e:
            raise io.CheckpointError(f"{path} does not hold the settings of an s2sxp run "
                                     f"({e!r})") from None
        given = {k: v for k, v in (given or {}).items() if v is not None}
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
        run = cls._build(folder, config, data, log)
        if checkpoint.vocab != run.data.vocab:
            raise io.CheckpointError(_vocab_mismatch(path, checkpoint.vocab, run.data.vocab,
                                                     config.data))
        io.restore(checkpoint, run.model, run.optimizer, run.trainer)
        saved = checkpoint.meta.get("history", {})
        run.history = {name: list(saved.get(name, [])) for name in run.history}
        return run

    @property
    def epoch(self):
        """Epochs finished."""
        return self.trainer.current_epoch

    def lr_at(self, iteration):
        """The learning rate of an iteration (0: the first of the run) in the epoch being
        trained: ``lr`` halved every ``lr_half_life`` iterations, smoothly (0: never), and halved
        again for every finished epoch from the first whose validation accuracy reached
        ``anneal_at`` (0: never)."""
        c = self.config
        accs = self.history["val_acc"][:self.epoch]
        reached = next((e for e, a in enumerate(accs) if c.anneal_at and a >= c.anneal_at), None)
        annealed = 0 if reached is None else len(accs) - reached
        return halving(c.lr, c.lr_half_life, iteration) * 0.5 ** annealed

    @property
    def finished(self):
        return self.epoch >= self.config.epochs

    @property
    def score_name(self):
        """The history entry that picks best.npz: val_acc, or val_bleu on a parallel corpus."""
        return "val_bleu" if isinstance(self.data, CorpusData) else "val_acc"

    def train_epoch(self, progress=_STDOUT):
        """Train one epoch (or the rest of one that was stopped), evaluate on the test split,
        write every file. Returns (accuracy, guesses), or on a parallel corpus (scores, the
        translations of the test sources), scores being BLEU, chrF and exact match (greedy
        decoding). TrainingInterrupted and NonFiniteLoss pass through; the files of the last
        finished epoch stay as they were."""
        c, d = self.config, self.data
        per_epoch = len(d.x_train) // c.batch_size

        def schedule(epoch, iteration):             # the rate of the next iteration
            self.optimizer.lr = self.lr_at(epoch * per_epoch + iteration + 1)

        schedule(self.epoch, self.trainer.iteration - 1)
        self.trainer.fit(d.x_train, d.t_train, max_epoch=1, batch_size=c.batch_size,
                         max_grad=c.max_grad, on_iteration=schedule)
        progress = self.trainer.out if progress == _STDOUT else progress
        if isinstance(d, CorpusData):
            result = evaluate_translations(self.model, d.x_test, d.ref_test, d.vocab,
                                           d.max_output_length, progress=progress)
            scores = result[0]
            for name in ("bleu", "chrf"):
                self.history["val_" + name].append(scores[name])
            self.history["val_acc"].append(scores["exact"])
        else:
            result = evaluate(self.model, d.x_test, d.t_test, progress=progress)
            self.history["val_acc"].append(result[0])
        self.save()
        return result

    def model_meta(self):
        """What a saved model of this run records besides its parameters and vocabulary."""
        c, d = self.config, self.data
        meta = {"data": c.data, "reversed_input": c.reverse, "epoch": self.epoch}
        if isinstance(d, CorpusData):
            meta.update({k: getattr(c, k) for k in CORPUS_OPTIONS},
                        max_output_length=d.max_output_length)
        else:
            meta.update(examples=c.examples, question_width=int(d.x_test.shape[1]),
                        answer_width=int(d.t_test.shape[1]))
        return meta

    def save_checkpoint(self):
        io.save_checkpoint(self.path("checkpoint.npz"), self.model, self.optimizer, self.trainer,
                           vocab=self.data.vocab, run=self.config.as_dict(),
                           history=self.history, **self.model_meta())

    def save(self):
        """Checkpoint first (it is what resume reads), then the model, history and plots."""
        self.save_checkpoint()
        meta = dict(self.model_meta(), **{k: v[-1] if v else None
                                          for k, v in self.history.items()})
        io.save(self.model, self.path("model.npz"), vocab=self.data.vocab, **meta)
        scores = self.history[self.score_name]
        if scores and scores[-1] >= max(scores):
            io.save(self.model, self.path("best.npz"), vocab=self.data.vocab, **meta)
        _write_json(self.path("history.json"), self.history_dict())
        plot_histories({self.config.model: self.history_dict()}, self.folder)

    def history_dict(self):
        scores = self.history[self.score_name]
        return {"config": self.config.as_dict(), "loss": self.trainer.loss_list,
                "loss_epochs": self.trainer.loss_epochs, **self.history,
                "best_epoch": 1 + scores.index(max(scores)) if scores else None}


#: What a run's history keeps per epoch, by the kind of its data.
HISTORIES = {Data: ("val_acc",), CorpusData: ("val_acc", "val_bleu", "val_chrf")}


def _vocab_mismatch(path, saved, now, data):
    if saved is None:
        return f"{path} holds no vocabulary"
    if type(saved) is not type(now):
        return f"{path} was trained on another kind of data than {data}"
    saved_entries, now_entries = _entries(saved), _entries(now)
    saved_set, now_set = set(saved_entries), set(now_entries)
    only_saved = [c for c in saved_entries if c not in now_set][:10]
    only_now = [c for c in now_entries if c not in saved_set][:10]
    detail = []
    if only_saved:
        detail.append("only in the checkpoint: " + ", ".join(map(repr, only_saved)))
    if only_now:
        detail.append(f"only in {data}: " + ", ".join(map(repr, only_now)))
    unit = "tokens" if isinstance(saved, corpus.TokenVocab) else "characters"
    if not detail:
        detail.append(f"the same {unit} in another order")
    return (f"{path} was trained with another vocabulary than {data} gives "
            f"({len(saved)} vs {len(now)} {unit}; {'; '.join(detail)})")


def _entries(vocab):
    return vocab.tokens if isinstance(vocab, corpus.TokenVocab) else vocab.chars


@contextlib.contextmanager
def stop_on_interrupt(*trainers):
    """While inside, the first Ctrl-C asks the trainers to stop after the iteration in progress
    (so that a checkpoint can be written); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGINT, previous)
        for trainer in trainers:
            trainer.stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_json(path, value):
    io.atomic_write(path, lambda f: f.write((json.dumps(value, indent=1) + "\n").encode()))


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


def write_compared_models(folder, names):
    """Record, in ``folder``, which models ``compare`` trains there and in what order."""
    _write_json(os.path.join(folder, COMPARE_FILE), {"models": list(names)})


def compared_models(folder):
    """The models ``compare`` trains in ``folder``, in order; None where it has not recorded any."""
    try:
        with open(os.path.join(folder, COMPARE_FILE), encoding="utf-8") as f:
            return [str(name) for name in json.load(f)["models"]]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


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


def plot_histories(histories, folder):
    """accuracy.png and loss.png in ``folder`` from {label: history}; returns their paths."""
    accuracy, loss = os.path.join(folder, "accuracy.png"), os.path.join(folder, "loss.png")
    viz.plot_accuracy({k: h["val_acc"] for k, h in histories.items()}, accuracy,
                      title="validation accuracy")
    bleu = {k: h["val_bleu"] for k, h in histories.items() if "val_bleu" in h}
    if bleu:
        viz.plot_accuracy(bleu, os.path.join(folder, "bleu.png"), title="validation BLEU",
                          ylabel="BLEU", scale=1)
    curves = {}
    for label, h in histories.items():
        epochs = h.get("loss_epochs") or [(i + 1) / max(len(h["loss"]), 1) * len(h["val_acc"])
                                          for i in range(len(h["loss"]))]
        curves[label] = (epochs, h["loss"])
    viz.plot_loss(curves, loss, title="training loss")
    return accuracy, loss

"""Training loop, batched decoding, and evaluation by exact match (book, ch. 1 and 7) or by BLEU
and chrF (:mod:`s2sxp.metrics`).

The training data is a pair of arrays of one width (the book's data) or of
:class:`s2sxp.corpus.Sequences` of different lengths, which the trainer batches by length
(:func:`s2sxp.corpus.bucket_order`) and pads batch by batch.

Progress goes to a terminal as a bar redrawn in place, and anywhere else (a file, a CI log) as the
book's lines ``| epoch 1 |  iter 21 / 351 | time 11[s] | loss 3.09``.
"""
import sys
import time

import numpy

from . import backend, corpus, metrics
from .optim import clip_grads


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(Exception):
    """:meth:`Trainer.stop` was called; the trainer stopped between two iterations, and its
    :meth:`Trainer.state_dict` carries on from there."""


def is_terminal(file):
    """True when ``file`` is an interactive terminal (progress bars), False for files and pipes."""
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class ProgressBar:
    """``label [########..........] 120/351 12s<23s note``, redrawn in place with ``\\r`` at most
    every ``interval`` seconds; ``close`` draws the final state and ends the line."""

    def __init__(self, total, label, file, width=30, interval=0.1):
        self.total, self.label, self.file = total, label, file
        self.width, self.interval = width, interval
        self.start = self.drawn = time.time()
        self.shown = 0

    def update(self, done, note="", force=False):
        now = time.time()
        if not force and now - self.drawn < self.interval:
            return
        self.drawn = now
        filled = self.width * done // max(self.total, 1)
        elapsed = now - self.start
        left = elapsed / done * (self.total - done) if done else 0.0
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                f"{elapsed:.0f}s<{left:.0f}s {note}").rstrip()
        self.file.write("\r" + line.ljust(self.shown))
        self.file.flush()
        self.shown = len(line)

    def close(self, done, note=""):
        self.update(done, note, force=True)
        self.file.write("\n")
        self.file.flush()


def progress_bar(total, label, file):
    """A :class:`ProgressBar` on ``file`` when it is a terminal, else None."""
    return ProgressBar(total, label, file) if file is not None and is_terminal(file) else None


_STDOUT = "stdout"


class Trainer:
    """Mini-batch training with a seeded shuffle, a loss history and progress output.

    ``fit`` may be called again (for example one epoch at a time between evaluations): the epoch
    counter and the shuffling generator carry on from where the last call stopped. ``stop()``
    (safe to call from a signal handler) makes ``fit`` raise :class:`TrainingInterrupted` after the
    iteration in progress; ``state_dict()`` then holds everything needed to carry on with the very
    same batches and losses, mid-epoch included.

    ``log`` is where progress goes (standard output unless told; None for silence): a bar on a
    terminal, the book's log lines elsewhere.
    """

    def __init__(self, model, optimizer, seed=0, log=_STDOUT):
        self.model, self.optimizer = model, optimizer
        self.rng = numpy.random.default_rng(seed)
        self.log = log
        self.loss_list = []
        self.loss_epochs = []  # where each loss_list entry was taken (1.0: the end of epoch 1)
        self.current_epoch = 0
        self._order = None  # this epoch's shuffled indices while an epoch is in progress
        self._next = 0  # the next iteration of that epoch
        self._total, self._count = 0.0, 0  # loss sum and iterations since the last report
        self._stop = False

    @property
    def out(self):
        """The stream progress goes to (None when silent)."""
        return sys.stdout if self.log == _STDOUT else self.log

    @property
    def iteration(self):
        """Iterations done of an epoch left unfinished by :meth:`stop` (0 between epochs)."""
        return self._next if self._order is not None else 0

    @property
    def stop_requested(self):
        return self._stop

    def stop(self):
        """Ask ``fit`` to stop after the iteration in progress."""
        self._stop = True

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20,
            on_iteration=None):
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` shuffled mini-batches (the
        first of them finishes an epoch left unfinished by :meth:`stop`). ``x`` and ``t`` are
        arrays (N, T) or :class:`~s2sxp.corpus.Sequences`, whose batches are drawn from rows of
        similar lengths and padded to their longest.

        Every ``eval_interval`` iterations, and at the end of each epoch, the mean loss since the
        last report is appended to ``loss_list`` and shown. ``on_iteration(epoch, iteration)``,
        when given, is called after every update. Raises :class:`NonFiniteLoss` when a reported
        loss is NaN or infinite.
        """
        data_size = len(x)
        if data_size < batch_size:
            raise ValueError(f"batch size {batch_size} is larger than the {data_size} training "
                             "examples")
        if self._order is not None and len(self._order) != data_size:
            raise ValueError(f"this trainer stopped inside an epoch over {len(self._order)} "
                             f"examples, but fit was given {data_size}")
        max_iters = data_size // batch_size
        model, optimizer = self.model, self.optimizer
        log = self.out
        for _ in range(max_epoch):
            if self._order is None:
                self._order = self._epoch_order(x, t, batch_size)
                self._next, self._total, self._count = 0, 0.0, 0
            epoch = self.current_epoch + 1
            bar = progress_bar(max_iters, f"epoch {epoch}", log)
            start = time.time()
            for iters in range(self._next, max_iters):
                batch = self._order[iters * batch_size:(iters + 1) * batch_size]
                loss = model.forward(x[batch], t[batch])
                model.backward()
                if max_grad:
                    clip_grads([model.flat_grads], max_grad)
                optimizer.step(model)
                self._total = self._total + loss
                self._count += 1
                self._next = iters + 1
                if on_iteration is not None:
                    on_iteration(self.current_epoch, iters)
                if (eval_interval and (iters + 1) % eval_interval == 0) or iters + 1 == max_iters:
                    self._report(iters, max_iters, start, None if bar else log)
                if bar is not None:
                    note = f"loss {self.loss_list[-1]:.2f}" if self.loss_list else ""
                    if iters + 1 == max_iters:
                        bar.close(iters + 1, note)
                    else:
                        bar.update(iters + 1, note)
                if self._stop and iters + 1 < max_iters:
                    if bar is not None:
                        bar.close(iters + 1, "stopped")
                    raise TrainingInterrupted(f"stopped in epoch {epoch} after iteration "
                                              f"{iters + 1} of {max_iters}")
            self._order = None
            self.current_epoch += 1
        return self

    def _epoch_order(self, x, t, batch_size):
        """The rows of an epoch, batch after batch: shuffled, or bucketed by length."""
        if isinstance(x, corpus.Sequences):
            return corpus.bucket_order(self.rng, x.lengths, t.lengths, batch_size)
        return self.rng.permutation(len(x))

    def _report(self, iters, max_iters, start, log):
        epoch = self.current_epoch + 1
        avg_loss = float(self._total) / self._count
        if not numpy.isfinite(avg_loss):
            first = iters + 2 - self._count
            span = f"iteration {iters + 1}" if first == iters + 1 else (
                f"iteration {iters + 1} (the mean over iterations {first}-{iters + 1})")
            raise NonFiniteLoss(f"loss became {avg_loss} in epoch {epoch}, {span}")
        self.loss_list.append(avg_loss)
        self.loss_epochs.append(self.current_epoch + (iters + 1) / max_iters)
        self._total, self._count = 0.0, 0
        if log is not None:
            print(f"| epoch {epoch} |  iter {iters + 1} / {max_iters} "
                  f"| time {time.time() - start:.0f}[s] | loss {avg_loss:.2f}", file=log)

    def state_dict(self):
        """Epoch, the shuffling generator's state, the loss history and, when stopped inside an
        epoch, that epoch's order, next iteration and not yet reported loss sum. Arrays are host
        NumPy arrays; everything else is plain JSON-able data."""
        state = {"epoch": self.current_epoch, "rng": self.rng.bit_generator.state,
                 "loss_list": list(self.loss_list), "loss_epochs": list(self.loss_epochs)}
        if self._order is not None:
            state.update(order=numpy.asarray(self._order), next=self._next, count=self._count)
            if self._count:
                # kept as an array so that the sum resumes in the loss's own dtype
                state["total"] = backend.asnumpy(self._total)
        return state

    def load_state_dict(self, state):
        self.current_epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]
        self.loss_list = [float(v) for v in state["loss_list"]]
        self.loss_epochs = [float(v) for v in state["loss_epochs"]]
        self._order, self._next, self._total, self._count = None, 0, 0.0, 0
        if state.get("order") is not None:
            self._order = numpy.asarray(state["order"])
            self._next, self._count = int(state["next"]), int(state["count"])
            if self._count:
                self._total = backend.to_device(state["total"])
        self._stop = False


def decode(model, x, start_id, max_length, end_id=None, beam=1, length_penalty=1.0,
           batch_size=1000, progress=None):
    """Answers (host ids, (N, max_length)) for every question in ``x`` (an array or
    :class:`~s2sxp.corpus.Sequences`), decoded in batches of ``batch_size`` questions: greedy
    (``beam`` 1) or by beam search, each answer ending at ``end_id`` when one is given. Sequences
    are decoded shortest first, so that each batch carries little padding; the answers come back
    in the order of ``x``. A progress bar is drawn on ``progress`` when it is a terminal."""
    N = len(x)
    lengths = getattr(x, "lengths", None)
    order = numpy.arange(N) if lengths is None else numpy.argsort(lengths, kind="stable")
    out = numpy.empty((N, max_length), dtype=numpy.int32)
    bar = progress_bar(N, "eval" if beam == 1 else f"beam {beam}", progress)
    for i in range(0, N, batch_size):
        rows = order[i:i + batch_size]
        if beam == 1:
            ids = model.generate(x[rows], start_id, max_length, end_id=end_id)
        else:
            ids = model.beam_search(x[rows], start_id, end_id, max_length, beam=beam,
                                    length_penalty=length_penalty)
        out[rows] = backend.asnumpy(ids)
        if bar is not None:
            bar.update(min(i + batch_size, N))
    if bar is not None:
        bar.close(N)
    return out


def predict(model, x, sample_size, start_id, batch_size=1000, progress=None):
    """Greedy answers (host ids, (N, sample_size)) for every question in ``x``, decoded in batches.
    A progress bar is drawn on ``progress`` when it is a terminal."""
    return decode(model, x, start_id, sample_size, batch_size=batch_size, progress=progress)


def translate(model, x, vocab, max_length, beam=1, length_penalty=1.0, batch_size=1000,
              progress=None):
    """The translations, as text, of the sources ``x`` (:class:`~s2sxp.corpus.Sequences` or ids
    padded with the vocabulary's ``<pad>``) by a model trained on a corpus of ``vocab``."""
    ids = decode(model, x, vocab.bos_id, max_length, end_id=vocab.eos_id, beam=beam,
                 length_penalty=length_penalty, batch_size=batch_size, progress=progress)
    return [vocab.decode_text(row) for row in ids]


def evaluate_translations(model, x, references, vocab, max_length, beam=1, length_penalty=1.0,
                          bleu_tokenize="13a", batch_size=1000, progress=None):
    """Corpus BLEU and chrF (0-100, through sacrebleu) and exact match (0-1) of the translations
    of ``x`` against ``references`` (one string each). Returns (scores dict, translations)."""
    hypotheses = translate(model, x, vocab, max_length, beam, length_penalty, batch_size,
                           progress)
    scores = {"bleu": metrics.bleu(hypotheses, references, tokenize=bleu_tokenize),
              "chrf": metrics.chrf(hypotheses, references),
              "exact": metrics.exact_match(hypotheses, references)}
    return scores, hypotheses


def evaluate(model, x, t, batch_size=1000, progress=None):
    """Exact-match accuracy of greedy decoding: t[:, 0] is the start symbol, t[:, 1:] the answer.
    Returns (accuracy, guesses (N, T_ans - 1))."""
    t = numpy.asarray(t)
    guesses = predict(model, x, t.shape[1] - 1, int(t[0, 0]), batch_size, progress)
    correct = (guesses == t[:, 1:]).all(axis=1)
    return float(correct.mean()), guesses


def show_examples(x, t, guesses, vocab, count=10, reversed_input=False, file=None):
    """The book's print-out: question, truth and guess with a mark, for the first ``count``."""
    file = sys.stdout if file is None else file
    for question, answer, guess in zip(x[:count], t[:count], guesses[:count]):
        if reversed_input:
            question = question[::-1]
        truth = vocab.decode(answer[1:])
        said = vocab.decode(guess)
        mark = "O" if said == truth else "X"
        print(f"Q {vocab.decode(question)}\nT {truth}\n{mark} {said}\n---", file=file)

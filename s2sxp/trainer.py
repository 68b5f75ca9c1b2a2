"""The training loop (book, ch. 1 and 7): shuffled mini-batches, clipping, the optimiser's step, a
loss history, and stopping between two iterations (Ctrl-C) so that training carries on exactly.

The training data is a pair of arrays of one width (the book's data) or of
:class:`s2sxp.batches.Sequences` of different lengths, which the trainer batches by length
(:func:`s2sxp.batches.epoch_order`) and pads batch by batch.

Progress goes to a terminal as a bar redrawn in place, and anywhere else (a file, a CI log) as the
book's lines ``| epoch 1 |  iter 21 / 351 | time 11[s] | loss 3.09``.
"""
import contextlib
import signal
import threading
import time

import numpy

from .backend import asnumpy, get_array_module
from .batches import batch_sizes, epoch_order
from .distributed import SINGLE
from .optim import clip_grads
from .progress import STDOUT, progress_bar, stream


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(Exception):
    """:meth:`Trainer.stop` was called; the trainer stopped between two iterations, and its
    :meth:`Trainer.state_dict` carries on from there."""


class Trainer:
    """Mini-batch training with a seeded shuffle, a loss history and progress output.

    ``fit`` may be called again (for example one epoch at a time between evaluations): the epoch
    counter and the shuffling generator carry on from where the last call stopped. ``stop()``
    (safe to call from a signal handler) makes ``fit`` raise :class:`TrainingInterrupted` after the
    iteration in progress; ``state_dict()`` then holds everything needed to carry on with the very
    same batches and losses, mid-epoch included.

    ``log`` is where progress goes (standard output unless told; None for silence): a bar on a
    terminal, the book's log lines elsewhere.

    ``world`` (:mod:`s2sxp.distributed`), where several processes train together: each runs its
    share of every batch and the gradients are summed over them, so that every rank makes the
    update of the whole batch; the epoch's order is rank 0's, the losses are the whole batch's,
    and a stop asked on any rank stops all of them after the same iteration.
    """

    def __init__(self, model, optimizer, seed=0, log=STDOUT, world=SINGLE):
        self.model, self.optimizer = model, optimizer
        self.world = world
        self.rng = numpy.random.default_rng(seed)
        self.log = log
        self.loss_list = []
        self.loss_epochs = []  # where each loss_list entry was taken (1.0: the end of epoch 1)
        self.current_epoch = 0
        self._order = None  # this epoch's shuffled indices while an epoch is in progress
        self._bounds = None  # where each of its batches starts in _order, and where the last ends
        self._next = 0  # the next iteration of that epoch
        self._total, self._count = 0.0, 0  # loss sum and iterations since the last report
        self._stop = False
        self._at_once = False

    @property
    def out(self):
        """The stream progress goes to (None when silent)."""
        return stream(self.log)

    @property
    def iteration(self):
        """Iterations done of an epoch left unfinished by :meth:`stop` (0 between epochs)."""
        return self._next if self._order is not None else 0

    @property
    def stop_requested(self):
        return self._stop

    def stop(self):
        """Ask ``fit`` to stop after the iteration in progress; inside :meth:`at_once`, stop
        what runs now (TrainingInterrupted)."""
        self._stop = True
        if self._at_once:
            raise TrainingInterrupted

    @contextlib.contextmanager
    def at_once(self):
        """While inside, :meth:`stop` interrupts at once: for work that writes nothing until it
        ends (scoring the test file), where waiting would only delay the stop."""
        self._at_once = True
        try:
            yield
        finally:
            self._at_once = False

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20,
            on_iteration=None, batch_tokens=None):
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` shuffled mini-batches (the
        first of them finishes an epoch left unfinished by :meth:`stop`). ``x`` and ``t`` are
        arrays (N, T) or :class:`~s2sxp.batches.Sequences`, whose batches are drawn from rows of
        similar lengths and padded to their longest. With ``batch_tokens`` (Sequences only), the
        batches are of about that many tokens each, padding included, in place of ``batch_size``
        rows (:func:`s2sxp.batches.token_order`): every epoch has the same number of them.

        Every ``eval_interval`` iterations, and at the end of each epoch, the mean loss since the
        last report is appended to ``loss_list`` and shown. ``on_iteration(epoch, iteration)``,
        when given, is called after every update. Raises :class:`NonFiniteLoss` when a reported
        loss is NaN or infinite.
        """
        data_size = len(x)
        sizes = self.batch_sizes(x, t, batch_size, batch_tokens)
        if self._order is not None and len(self._order) != data_size:
            raise ValueError(f"this trainer stopped inside an epoch over {len(self._order)} "
                             f"examples, but fit was given {data_size}")
        model, optimizer = self.model, self.optimizer
        log = self.out
        for _ in range(max_epoch):
            if self._order is None:
                self._order, self._bounds = self.world.broadcast(
                    epoch_order(self.rng, x, t, sizes, bool(batch_tokens)),
                    "sharing the epoch's order")
                self._next, self._total, self._count = 0, 0.0, 0
            bounds = self._bounds
            max_iters = len(bounds) - 1
            epoch = self.current_epoch + 1
            bar = progress_bar(max_iters, f"epoch {epoch}", log)
            start = time.time()
            for iters in range(self._next, max_iters):
                batch = self._order[bounds[iters]:bounds[iters + 1]]
                loss, agreed = self._gradients(x, t, batch,
                                               f"epoch {epoch}, iteration {iters + 1}")
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
                stop = self._stop if agreed is None else agreed
                if stop and iters + 1 < max_iters:
                    if bar is not None:
                        bar.close(iters + 1, "stopped")
                    raise TrainingInterrupted(f"stopped in epoch {epoch} after iteration "
                                              f"{iters + 1} of {max_iters}")
            self._order = self._bounds = None
            self.current_epoch += 1
        return self

    def batch_sizes(self, x, t, batch_size, batch_tokens=None):
        """The rows of each batch of an epoch (:func:`s2sxp.batches.batch_sizes`, each batch at
        least as many rows as there are ranks)."""
        return batch_sizes(x, t, batch_size, batch_tokens, self.world.size)

    def _gradients(self, x, t, batch, where):
        """The loss of the batch of rows ``batch`` and its gradients in the model's flat_grads;
        returns (loss, whether the ranks agreed to stop after this iteration, None in one
        process). Over several ranks, each runs its share of the rows, weighs its gradient by its
        share of the batch's targets, and the gradients are summed over the ranks."""
        model, world = self.model, self.world
        if world.size == 1:
            loss = model.forward(x[batch], t[batch], **self._keys(batch, len(x)))
            model.backward()
            return loss, None
        rows = world.shard(batch)
        loss = float(model.forward(x[rows], t[rows], **self._keys(rows, len(x))))
        n = model.targets
        loss_sum, targets, stops = world.sum([loss * n, n, self._stop],
                                             f"summing the losses of {where}")
        model.backward(n / targets)
        world.allreduce(model.flat_grads, f"summing the gradients of {where}")
        return loss_sum / targets, stops > 0

    def _keys(self, rows, data_size):
        """The dropout keys of a model that has dropout: each sentence's own in each epoch, so
        that its masks do not depend on the batch, share or rank it is in."""
        if getattr(self.model, "noise", None) is None:
            return {}
        return {"keys": self.current_epoch * data_size + numpy.asarray(rows)}

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
        epoch, that epoch's order and batch bounds, next iteration and not yet reported loss sum.
        Arrays are host NumPy arrays; everything else is plain JSON-able data."""
        state = {"epoch": self.current_epoch, "rng": self.rng.bit_generator.state,
                 "loss_list": list(self.loss_list), "loss_epochs": list(self.loss_epochs)}
        if self._order is not None:
            state.update(order=numpy.asarray(self._order), next=self._next, count=self._count,
                         bounds=numpy.asarray(self._bounds))
            if self._count:
                # kept as an array so that the sum resumes in the loss's own dtype
                state["total"] = asnumpy(self._total)
        return state

    def load_state_dict(self, state):
        self.current_epoch = int(state["epoch"])
        self.rng.bit_generator.state = state["rng"]
        self.loss_list = [float(v) for v in state["loss_list"]]
        self.loss_epochs = [float(v) for v in state["loss_epochs"]]
        self._order, self._bounds, self._next, self._total, self._count = None, None, 0, 0.0, 0
        if state.get("order") is not None:
            self._order, self._bounds = (numpy.asarray(state[k]) for k in ("order", "bounds"))
            self._next, self._count = int(state["next"]), int(state["count"])
            if self._count:
                self._total = get_array_module(self.model.flat_params).asarray(state["total"])
        self._stop = False


#: The signals that ask training to stop: Ctrl-C, and what ``kill`` and job schedulers send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_interrupt(*trainers):
    """While inside, the first Ctrl-C (or SIGTERM) asks the trainers to stop after the iteration
    in progress (so that a checkpoint can be written); a second one acts as it would without
    this (Ctrl-C interrupts at once, SIGTERM ends the process). Yields the list of the signals
    received."""
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)
        for number, before in previous.items():
            signal.signal(number, before)
        for trainer in trainers:
            trainer.stop()

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield received
    finally:
        for number, before in previous.items():
            signal.signal(number, before)

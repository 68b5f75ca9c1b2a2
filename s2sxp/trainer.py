"""Training loop and exact-match evaluation (book, ch. 1 and 7)."""
import sys
import time

import numpy

from . import backend
from .optim import clip_grads


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite."""


class Trainer:
    """Mini-batch training with a seeded shuffle, the book's log lines and a loss history.

    ``fit`` may be called again (for example one epoch at a time between evaluations): the epoch
    counter and the shuffling generator carry on from where the last call stopped.
    """

    def __init__(self, model, optimizer, seed=0, log=sys.stdout):
        self.model, self.optimizer = model, optimizer
        self.rng = numpy.random.default_rng(seed)
        self.log = log
        self.loss_list = []
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20,
            on_iteration=None):
        """Train for ``max_epoch`` epochs of ``len(x) // batch_size`` shuffled mini-batches.

        Every ``eval_interval`` iterations, and at the end of each epoch, the mean loss since the
        last report is appended to ``loss_list`` and printed as ``| epoch 1 |  iter 21 / 351 | time 11[s] | loss 3.09``.
        ``on_iteration(epoch, iteration)``, when given, is called after every update.
        """
        data_size = len(x)
        if data_size < batch_size:
            raise ValueError(f"batch size {batch_size} is larger than the {data_size} training "
                             "examples")
        max_iters = data_size // batch_size
        model, optimizer = self.model, self.optimizer
        total_loss, loss_count = 0.0, 0
        start = time.time()
        for _ in range(max_epoch):
            idx = self.rng.permutation(data_size)
            for iters in range(max_iters):
                batch = idx[iters * batch_size:(iters + 1) * batch_size]
                loss = model.forward(x[batch], t[batch])
                model.backward()
                if max_grad is not None:
                    clip_grads([model.flat_grads], max_grad)
                optimizer.step(model)
                total_loss = total_loss + loss
                loss_count += 1
                if on_iteration is not None:
                    on_iteration(self.current_epoch, iters)
                last = iters + 1 == max_iters
                if (eval_interval and (iters + 1) % eval_interval == 0) or last:
                    self._report(total_loss, loss_count, iters, max_iters, start)
                    total_loss, loss_count = 0.0, 0
            self.current_epoch += 1
        return self

    def _report(self, total_loss, loss_count, iters, max_iters, start):
        avg_loss = float(total_loss) / loss_count
        if not numpy.isfinite(avg_loss):
            raise NonFiniteLoss(f"loss became {avg_loss} in epoch {self.current_epoch + 1}, "
                                f"iteration {iters + 1}")
        self.loss_list.append(avg_loss)
        if self.log is not None:
            print(f"| epoch {self.current_epoch + 1} |  iter {iters + 1} / {max_iters} "
                  f"| time {time.time() - start:.0f}[s] | loss {avg_loss:.2f}", file=self.log)


def predict(model, x, sample_size, start_id, batch_size=1000):
    """Greedy answers (host ids, (N, sample_size)) for every question in ``x``, decoded in batches."""
    out = [backend.asnumpy(model.generate(x[i:i + batch_size], start_id, sample_size))
           for i in range(0, len(x), batch_size)]
    return numpy.concatenate(out) if out else numpy.empty((0, sample_size), dtype=numpy.int32)


def evaluate(model, x, t, batch_size=1000):
    """Exact-match accuracy of greedy decoding: t[:, 0] is the start symbol, t[:, 1:] the answer.
    Returns (accuracy, guesses (N, T_ans - 1))."""
    t = numpy.asarray(t)
    guesses = predict(model, x, t.shape[1] - 1, int(t[0, 0]), batch_size)
    correct = (guesses == t[:, 1:]).all(axis=1)
    return float(correct.mean()), guesses


def show_examples(x, t, guesses, vocab, count=10, reversed_input=False, file=sys.stdout):
    """The book's print-out: question, truth and guess with a mark, for the first ``count``."""
    for question, answer, guess in zip(x[:count], t[:count], guesses[:count]):
        if reversed_input:
            question = question[::-1]
        truth = vocab.decode(answer[1:])
        said = vocab.decode(guess)
        mark = "O" if said == truth else "X"
        print(f"Q {vocab.decode(question)}\nT {truth}\n{mark} {said}\n---", file=file)

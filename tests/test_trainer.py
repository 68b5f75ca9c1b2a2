"""The training loop: log lines or a progress bar, stopping and carrying on exactly, non-finite
losses, evaluation."""
import io as stdio
import re

import numpy
import pytest

import s2sxp
from s2sxp import backend, datasets, io
from s2sxp.trainer import NonFiniteLoss, TrainingInterrupted

D, H, BATCH = 4, 8, 16


class Terminal(stdio.StringIO):
    def isatty(self):
        return True


@pytest.fixture(scope="module")
def dates():
    (x_train, t_train), (x_test, t_test), vocab = datasets.from_lines(
        datasets.date_lines(200, seed=0))
    return x_train[:, ::-1], t_train, x_test[:, ::-1], t_test, vocab


def _trainer(vocab, log=None, optimizer=None, kind="attention"):
    model = s2sxp.models.build(kind, len(vocab), D, H, seed=0)
    return s2sxp.Trainer(model, optimizer or s2sxp.Adam(lr=0.01), seed=0, log=log)


def _params(trainer):
    return [backend.asnumpy(p).copy() for p in trainer.model.params]


def test_fit_writes_the_books_log_lines_when_not_on_a_terminal(xp32, dates):
    x, t, _, _, vocab = dates
    log = stdio.StringIO()
    trainer = _trainer(vocab, log).fit(x, t, max_epoch=2, batch_size=BATCH, eval_interval=5)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("| epoch 1 |  iter 5 / 11 | time ")
    assert all(re.fullmatch(r"\| epoch \d \|  iter \d+ / 11 \| time \d+\[s\] \| loss \d+\.\d\d",
                            line) for line in lines)
    assert "\r" not in log.getvalue()
    assert len(trainer.loss_list) == len(lines) == 6 and trainer.current_epoch == 2
    assert trainer.loss_epochs[2] == 1.0 and trainer.loss_epochs[-1] == 2.0


def test_fit_draws_a_progress_bar_on_a_terminal(xp32, dates):
    x, t, x_test, t_test, vocab = dates
    log = Terminal()
    trainer = _trainer(vocab, log).fit(x, t, max_epoch=1, batch_size=BATCH)
    out = log.getvalue()
    assert "\repoch 1 [##############################] 11/11" in out and out.endswith("\n")
    assert "| epoch" not in out
    s2sxp.evaluate(trainer.model, x_test, t_test, batch_size=8, progress=log)
    assert "\reval [##############################] 20/20" in log.getvalue()


def test_evaluate_draws_nothing_when_not_on_a_terminal(xp32, dates):
    _, _, x_test, t_test, vocab = dates
    log = stdio.StringIO()
    acc, guesses = s2sxp.evaluate(_trainer(vocab).model, x_test, t_test, progress=log)
    assert log.getvalue() == "" and guesses.shape == (len(x_test), t_test.shape[1] - 1)


def test_stop_inside_an_epoch_then_carry_on_through_a_checkpoint_equals_one_straight_run(
        xp32, dates, tmp_path):
    x, t, _, _, vocab = dates
    straight = _trainer(vocab).fit(x, t, max_epoch=2, batch_size=BATCH, eval_interval=4)

    first = _trainer(vocab)
    stop_at = lambda epoch, iteration: first.stop() if (epoch, iteration) == (1, 5) else None
    with pytest.raises(TrainingInterrupted, match="epoch 2 after iteration 6 of 11"):
        first.fit(x, t, max_epoch=2, batch_size=BATCH, eval_interval=4, on_iteration=stop_at)
    io.save_checkpoint(tmp_path / "c.npz", first.model, first.optimizer, first)

    second = _trainer(vocab, optimizer=s2sxp.Adam(lr=0.5))
    io.restore(io.read_checkpoint(tmp_path / "c.npz"), second.model, second.optimizer, second)
    assert (second.current_epoch, second.iteration) == (1, 6)
    second.fit(x, t, max_epoch=1, batch_size=BATCH, eval_interval=4)
    assert second.optimizer.iter == straight.optimizer.iter == 22
    if backend.name() != "numpy":  # CuPy's scatter-add (embedding gradient) sums in no fixed order
        numpy.testing.assert_allclose(second.loss_list, straight.loss_list, rtol=1e-4)
        for p, q in zip(_params(second), _params(straight)):
            numpy.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-5)
        return
    assert second.loss_list == straight.loss_list
    for p, q in zip(_params(second), _params(straight)):
        numpy.testing.assert_array_equal(p, q)


def test_a_non_finite_loss_stops_training_naming_epoch_and_iteration(xp32, dates):
    x, t, _, _, vocab = dates
    trainer = _trainer(vocab, optimizer=s2sxp.SGD(lr=float("nan")))   # NaN weights after step 1
    with numpy.errstate(all="ignore"), pytest.raises(
            NonFiniteLoss, match=r"loss became (nan|inf) in epoch 1, iteration [1-3]\b"):
        trainer.fit(x, t, max_epoch=1, batch_size=BATCH, eval_interval=1)


def test_fit_refuses_a_batch_larger_than_the_data(xp32, dates):
    x, t, _, _, vocab = dates
    with pytest.raises(ValueError, match="batch size 500 is larger than the 180"):
        _trainer(vocab).fit(x, t, batch_size=500)


@pytest.fixture(scope="module")
def sentences():
    from s2sxp import corpus
    data = corpus.load_pairs(corpus.synthetic_pairs(300, seed=0, max_words=12), tokens="word")
    return data.x_train, data.t_train, len(data.source_vocab), len(data.vocab), data.vocab.pad_id


def _corpus_trainer(sentences, **kw):
    x, t, V_src, V, pad = sentences
    model = s2sxp.models.build("bahdanau", V, D, H, seed=0, pad_id=pad, source_vocab_size=V_src)
    return s2sxp.Trainer(model, s2sxp.Adam(lr=0.01), seed=0, log=None, **kw)


def test_batches_by_tokens_stay_within_them_and_carry_on_exactly_after_a_stop(
        xp32, sentences, tmp_path):
    x, t = sentences[:2]
    straight = _corpus_trainer(sentences)
    shapes = []
    forward = straight.model.forward
    straight.model.forward = lambda xs, ts, **kw: shapes.append((xs.shape, ts.shape)) or forward(
        xs, ts, **kw)
    straight.fit(x, t, max_epoch=2, batch_tokens=60, eval_interval=4)
    per_epoch = len(straight.batch_sizes(x, t, None, 60))
    assert len(shapes) == 2 * per_epoch and per_epoch > len(x) // 16
    assert all(xs[0] * max(xs[1], ts[1]) <= 60 for xs, ts in shapes)
    assert sum(xs[0] for xs, _ in shapes) == 2 * len(x)          # every sentence, every epoch
    assert len({xs[0] for xs, _ in shapes}) > 3                   # rows as their lengths allow

    first = _corpus_trainer(sentences)
    stop_at = lambda epoch, iteration: first.stop() if (epoch, iteration) == (1, 5) else None
    with pytest.raises(TrainingInterrupted, match=f"epoch 2 after iteration 6 of {per_epoch}"):
        first.fit(x, t, max_epoch=2, batch_tokens=60, eval_interval=4, on_iteration=stop_at)
    io.save_checkpoint(tmp_path / "c.npz", first.model, first.optimizer, first)
    second = _corpus_trainer(sentences)
    io.restore(io.read_checkpoint(tmp_path / "c.npz"), second.model, second.optimizer, second)
    second.fit(x, t, max_epoch=1, batch_tokens=60, eval_interval=4)
    assert second.optimizer.iter == straight.optimizer.iter == 2 * per_epoch
    numpy.testing.assert_allclose(second.loss_list, straight.loss_list, rtol=1e-5)
    for p, q in zip(_params(second), _params(straight)):
        numpy.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_batches_by_tokens_need_sentences_of_different_lengths(xp32, dates):
    x, t, _, _, vocab = dates
    with pytest.raises(ValueError, match="parallel corpus"):
        _trainer(vocab).fit(x, t, batch_tokens=100)


def test_show_examples_prints_questions_in_reading_order(dates):
    _, _, x_test, t_test, vocab = dates
    out = stdio.StringIO()
    s2sxp.show_examples(x_test, t_test, t_test[:, 1:], vocab, count=1, reversed_input=True,
                        file=out)
    question = vocab.decode(x_test[0, ::-1])
    assert out.getvalue().startswith(f"Q {question}\nT {vocab.decode(t_test[0, 1:])}\nO ")

"""The book's calling contract, stated here in our own code: how the scripts of its chapters 7
and 8 (``ch07/train_seq2seq.py``, ``ch08/train.py``, ``ch08/visualize_attention.py``, with
``common/trainer.py`` and ``common/util.py``) use a model, so that they run on ours with only
their import changed.

- Training: ``loss = model.forward(batch_x, batch_t)``, ``model.backward()``; then the book's
  ``remove_duplicate``, ``clip_grads`` and optimizer's ``update`` work on the lists
  ``model.params`` and ``model.grads``, index by index, in place.
- Evaluation (``eval_seq2seq``): one question of shape (1, T) at a time,
  ``guess = model.generate(question, start_id, len(correct))``, then ``int(c)`` of each guessed id.
- ``model.save_params()`` writes the class's name + ``.pkl``: a pickled list of float16 arrays
  in ``params`` order, which the book's ``load_params`` reads with ``pickle.load``, casting each
  to float32 and copying it into ``params[i][...]``.
- After ``model.forward(x, t)``, ``model.decoder.attention.attention_weights`` is a list with one
  (N, T_enc) array per decoder step.
"""
import os
import pickle

import numpy
import pytest

from s2sxp import backend, io, models

BOOK_MODELS = ("seq2seq", "peeky", "attention")
V, D, H = 11, 16, 32
START = 10                                      # the answers' first character, as the book's "_"
CHARS = "0123456789_"


def _reversal(n, rng, T=5):
    """Questions of T digits and answers "_" + the digits reversed, as the book lays out its
    data: ids (n, T) and (n, T + 1)."""
    x = rng.integers(0, 10, (n, T))
    return x, numpy.concatenate([numpy.full((n, 1), START), x[:, ::-1]], axis=1)


def _eval_seq2seq(model, question, correct):
    """What the book's eval_seq2seq does with a model: 1 where its answer is right."""
    correct = correct.flatten()
    start_id, correct = correct[0], correct[1:]
    guess = model.generate(question, start_id, len(correct))
    return int("".join(CHARS[int(c)] for c in guess) == "".join(CHARS[int(c)] for c in correct))


def _book_load_params(model, file_name):
    """The book's BaseModel.load_params on the CPU."""
    with open(file_name, "rb") as f:
        params = pickle.load(f)
    params = [p.astype("f") for p in params]
    for i, param in enumerate(model.params):
        param[...] = model.xp.asarray(params[i])


@pytest.mark.parametrize("kind", BOOK_MODELS)
def test_generate_answers_one_question_with_a_flat_list_of_ids(xp, rng, kind):
    model = models.build(kind, V, D, H, seed=0)
    x, t = _reversal(3, rng)
    guess = model.generate(x[[1]], START, 5)
    assert type(guess) is list and len(guess) == 5 and all(type(c) is int for c in guess)
    assert guess == backend.asnumpy(model.generate_batch(x, START, 5))[1].tolist()
    assert _eval_seq2seq(model, x[[1]], t[[1]]) in (0, 1)
    with pytest.raises(ValueError, match=r"one question.*got shape \(3, 5\).*generate_batch"):
        model.generate(x, START, 5)


@pytest.mark.parametrize("kind", BOOK_MODELS)
def test_save_params_writes_the_books_file_and_both_readers_read_it(xp, tmp_path, monkeypatch,
                                                                    kind):
    monkeypatch.chdir(tmp_path)
    model = models.build(kind, V, D, H, seed=1)
    model.save_params()
    name = type(model).__name__ + ".pkl"
    assert os.listdir(tmp_path) == [name]
    with open(name, "rb") as f:
        params = pickle.load(f)
    assert type(params) is list and len(params) == len(model.params)
    for saved, p in zip(params, model.params):
        assert type(saved) is numpy.ndarray and saved.dtype == numpy.float16
        numpy.testing.assert_array_equal(saved, backend.asnumpy(p).astype(numpy.float16))

    by_book, by_us, imported = (models.build(kind, V, D, H, seed=s) for s in (2, 3, 4))
    _book_load_params(by_book, name)
    by_us.load_params()
    io.import_book_params(imported, name)
    for a, b, c in zip(by_book.params, by_us.params, imported.params):
        numpy.testing.assert_array_equal(backend.asnumpy(b), backend.asnumpy(a))
        numpy.testing.assert_array_equal(backend.asnumpy(c), backend.asnumpy(a))


@pytest.mark.parametrize("input_feeding", [False, True])
def test_the_attention_weights_after_forward_are_a_list_of_steps(xp, rng, monkeypatch,
                                                                 input_feeding):
    """As ch08/visualize_attention.py reads them, for one question; and for a batch the model
    splits over two threads, every row."""
    model = models.build("attention", V, D, H, seed=0, input_feeding=input_feeding)
    assert model.decoder.attention.attention_weights is None
    x, t = _reversal(70, rng)
    model.forward(x[[0]], t[[0]])
    d = numpy.array(model.decoder.attention.attention_weights)
    assert d.shape == (5, 1, 5)
    attention_map = d.reshape(d.shape[0], d.shape[2])
    numpy.testing.assert_allclose(attention_map.sum(axis=1), 1.0)
    numpy.testing.assert_array_equal(attention_map, backend.asnumpy(model.attention_weights)[0])

    monkeypatch.setenv("S2S_THREADS", "2")
    model.forward(x, t)
    d = model.decoder.attention.attention_weights
    assert len(d) == 5 and all(step.shape == (70, 5) for step in d)
    numpy.testing.assert_array_equal(numpy.stack(d, axis=1),
                                     backend.asnumpy(model.attention_weights))


def test_the_books_training_loop_and_evaluation_train_the_attention_model(xp32):
    """The book's Trainer with its Adam and clip_grads, written out: they see the model only
    through params and grads, which they change in place, index by index."""
    rng = numpy.random.default_rng(0)
    x, t = _reversal(1200, rng)
    model = models.build("attention", V, D, H, seed=0)
    params, grads = model.params, model.grads
    assert not [(i, j) for i in range(len(params)) for j in range(i)
                if params[i] is params[j]]                   # remove_duplicate finds none
    xp = model.xp
    m, v = [xp.zeros_like(p) for p in params], [xp.zeros_like(p) for p in params]
    lr, beta1, beta2, it = 0.01, 0.9, 0.999, 0
    for epoch in range(8):
        idx = rng.permutation(1000)
        for i in range(0, 1000, 50):
            model.forward(x[idx[i:i + 50]], t[idx[i:i + 50]])
            model.backward()
            norm = float(sum((g ** 2).sum() for g in grads)) ** 0.5       # clip_grads
            if norm > 5.0:
                for g in grads:
                    g *= 5.0 / (norm + 1e-6)
            it += 1
            lr_t = lr * numpy.sqrt(1.0 - beta2 ** it) / (1.0 - beta1 ** it)
            for j in range(len(params)):
                m[j] += (1 - beta1) * (grads[j] - m[j])
                v[j] += (1 - beta2) * (grads[j] ** 2 - v[j])
                params[j] -= lr_t * m[j] / (xp.sqrt(v[j]) + 1e-7)
    correct = sum(_eval_seq2seq(model, x[[i]], t[[i]]) for i in range(1000, 1200))
    assert correct >= 190, f"{correct} of 200 reversed"

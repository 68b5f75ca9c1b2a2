"""Saving, loading and importing the book's parameter pickles."""
import pickle

import numpy
import pytest

from s2sxp import backend, io, models
from s2sxp.vocab import TokenVocab, Vocab

V, D, H = 6, 3, 4


@pytest.mark.parametrize("kind", list(models.MODELS))
def test_save_load_round_trip(xp, rng, tmp_path, kind):
    model = models.build(kind, V, D, H, cell="gru", seed=0)
    vocab = Vocab("abc_12")
    io.save(model, tmp_path / "m.npz", vocab=vocab, reversed_input=True)
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.kind == kind and loaded.config == model.config
    assert loaded.vocab == vocab and loaded.meta["reversed_input"] is True
    for p, q in zip(model.params, loaded.params):
        numpy.testing.assert_array_equal(backend.asnumpy(p), backend.asnumpy(q))
    xs = rng.integers(0, V, (2, 5))
    numpy.testing.assert_array_equal(backend.asnumpy(model.generate_batch(xs, 0, 3)),
                                     backend.asnumpy(loaded.generate_batch(xs, 0, 3)))


def test_save_leaves_no_temporary_files(xp, tmp_path):
    io.save(models.build("seq2seq", V, D, H), tmp_path / "m.npz")
    io.save(models.build("seq2seq", V, D, H), tmp_path / "m.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_truncated_file_is_reported(xp, tmp_path):
    path = tmp_path / "m.npz"
    io.save(models.build("seq2seq", V, D, H), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(io.CheckpointError, match="truncated or corrupt"):
        io.load(path)


def _book_pickle(model, path):
    params = [backend.asnumpy(p).astype(numpy.float16) for p in model.params]
    with open(path, "wb") as f:
        pickle.dump(params, f)


def test_import_book_params(xp, tmp_path):
    source = models.build("attention", V, D, H, seed=1)
    _book_pickle(source, tmp_path / "AttentionSeq2seq.pkl")
    target = models.build("attention", V, D, H, seed=2)
    io.import_book_params(target, tmp_path / "AttentionSeq2seq.pkl")
    for p, q in zip(source.params, target.params):
        numpy.testing.assert_array_equal(backend.asnumpy(p).astype(numpy.float16),
                                         backend.asnumpy(q))


def test_import_refuses_shape_mismatch(xp, tmp_path):
    _book_pickle(models.build("seq2seq", V, D, H), tmp_path / "p.pkl")
    with pytest.raises(io.CheckpointError, match="parameter 5 has shape"):
        io.import_book_params(models.build("peeky", V, D, H), tmp_path / "p.pkl")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_import_refuses_anything_but_arrays(xp, tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump([numpy.zeros(2), _Evil()], f)
    with pytest.raises(io.CheckpointError, match="refusing to load builtins.print"):
        io.import_book_params(models.build("seq2seq", V, D, H), path)
    assert "must never run" not in capsys.readouterr().out


def _trained(kind="attention", optimizer=None):
    """A model, its optimizer and a trainer after two small updates (Adam has m, v and iter)."""
    import s2sxp

    model = models.build(kind, V, D, H, seed=0)
    trainer = s2sxp.Trainer(model, optimizer or s2sxp.Adam(lr=0.01), seed=3, log=None)
    rng = numpy.random.default_rng(0)
    x, t = rng.integers(0, V, (8, 5)), rng.integers(0, V, (8, 4))
    trainer.fit(x, t, max_epoch=1, batch_size=4)
    return model, trainer.optimizer, trainer


def _fresh(kind="attention"):
    import s2sxp

    model = models.build(kind, V, D, H, seed=9)
    optimizer = s2sxp.Adam()
    return model, optimizer, s2sxp.Trainer(model, optimizer, seed=0, log=None)


def test_checkpoint_round_trip_restores_parameters_optimizer_and_trainer(xp32, tmp_path):
    model, optimizer, trainer = _trained()
    io.save_checkpoint(tmp_path / "c.npz", model, optimizer, trainer, vocab=Vocab("abc_12"),
                       run={"note": 1})
    checkpoint = io.read_checkpoint(tmp_path / "c.npz")
    assert checkpoint.kind == "attention" and checkpoint.epoch == 1
    assert checkpoint.vocab == Vocab("abc_12") and checkpoint.meta["run"] == {"note": 1}
    m2, o2, t2 = _fresh()
    io.restore(checkpoint, m2, o2, t2)
    for p, q in zip(model.params, m2.params):
        numpy.testing.assert_array_equal(backend.asnumpy(p), backend.asnumpy(q))
    assert o2.iter == optimizer.iter == 2 and o2.lr == 0.01
    for a, b in zip(optimizer.m + optimizer.v, o2.m + o2.v):
        numpy.testing.assert_array_equal(backend.asnumpy(a), backend.asnumpy(b))
    assert t2.loss_list == trainer.loss_list and t2.current_epoch == 1
    assert t2.rng.integers(1 << 30) == trainer.rng.integers(1 << 30)


def test_load_reads_a_checkpoint_as_a_model(xp32, tmp_path):
    model, optimizer, trainer = _trained("peeky")
    io.save_checkpoint(tmp_path / "c.npz", model, optimizer, trainer, vocab=Vocab("abc_12"))
    loaded = io.load(tmp_path / "c.npz")
    assert loaded.kind == "peeky" and loaded.vocab == Vocab("abc_12")
    numpy.testing.assert_array_equal(backend.asnumpy(loaded.flat_params),
                                     backend.asnumpy(model.flat_params))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:len(b) // 2], "truncated or corrupt"),
    (lambda b: b[:len(b) // 2] + bytes(64) + b[len(b) // 2 + 64:], "truncated or corrupt"),
    (lambda b: b"", "the file is empty"),
    (lambda b: b"not a checkpoint at all", "not an .npz archive"),
])
def test_a_damaged_checkpoint_is_reported_not_raised_from_numpy(xp32, tmp_path, damage, message):
    path = tmp_path / "c.npz"
    io.save_checkpoint(path, *_trained())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(io.CheckpointError, match=message):
        io.read_checkpoint(path)
    with pytest.raises(io.CheckpointError, match=message):
        io.load(path)


def test_a_saved_model_is_not_taken_for_a_checkpoint(xp32, tmp_path):
    io.save(models.build("seq2seq", V, D, H), tmp_path / "m.npz")
    with pytest.raises(io.CheckpointError, match="saved model, not a training checkpoint"):
        io.read_checkpoint(tmp_path / "m.npz")


def test_restoring_a_checkpoint_of_another_model_kind_is_refused(xp32, tmp_path):
    io.save_checkpoint(tmp_path / "c.npz", *_trained("attention"))
    with pytest.raises(io.CheckpointError, match="holds a model of kind 'attention', not 'peeky'"):
        io.restore(io.read_checkpoint(tmp_path / "c.npz"), *_fresh("peeky"))


def test_a_token_vocabulary_and_the_padding_id_survive_save_and_load(xp32, tmp_path):
    vocab = TokenVocab.build([["Go", "."], ["行け", "。"]], "word")
    model = models.build("bahdanau", len(vocab), D, H, seed=0, pad_id=vocab.pad_id)
    io.save(model, tmp_path / "m.npz", vocab=vocab)
    loaded = io.load(tmp_path / "m.npz")
    assert loaded.vocab == vocab and loaded.vocab.tokenizer == "word"
    assert loaded.config["pad_id"] == vocab.pad_id
    model, optimizer, trainer = _trained()
    io.save_checkpoint(tmp_path / "c.npz", model, optimizer, trainer, vocab=vocab)
    assert io.read_checkpoint(tmp_path / "c.npz").vocab == vocab


class _BrokenTokens:
    def to_dict(self):
        return {"tokenizer": "word", "tokens": ["a", "b"]}


def test_a_broken_token_vocabulary_is_reported(xp32, tmp_path):
    io.save(models.build("seq2seq", V, D, H), tmp_path / "m.npz", vocab=_BrokenTokens())
    with pytest.raises(io.CheckpointError, match="broken vocabulary: a token vocabulary starts"):
        io.load(tmp_path / "m.npz")

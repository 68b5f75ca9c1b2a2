"""Saving, loading and importing the book's parameter pickles."""
import pickle

import numpy
import pytest

from s2sxp import backend, io, models
from s2sxp.datasets import Vocab

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
    numpy.testing.assert_array_equal(backend.asnumpy(model.generate(xs, 0, 3)),
                                     backend.asnumpy(loaded.generate(xs, 0, 3)))


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

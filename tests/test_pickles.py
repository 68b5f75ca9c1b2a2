"""The book's parameter file (s2sxp.pickles): written as the book's save_params writes it, read
only as finite float arrays of the model's own shapes; each hostile file is refused in one line,
before anything large is allocated, by ``model.load_params`` and ``io.import_book_params``
alike, and leaves the model as it was."""
import pickle

import numpy
import pytest

from s2sxp import backend, io, models, pickles

V, D, H = 6, 3, 4


class _Declares:
    """Pickles as ``numpy.ndarray(shape, dtype)``: a few bytes that declare an array of any size
    (unchecked, the values were allocated, then converted to float64)."""

    def __init__(self, shape, dtype="f2"):
        self.shape, self.dtype = shape, numpy.dtype(dtype)

    def __reduce__(self):
        return numpy.ndarray, (self.shape, self.dtype)


class _Stated:
    """Pickles as numpy does (``_reconstruct``, then the state), with a state of our choosing."""

    def __init__(self, shape, dtype, raw):
        self.state = (1, shape, numpy.dtype(dtype), False, raw)

    def __reduce__(self):
        return numpy._core.multiarray._reconstruct, (numpy.ndarray, (0,), b"b"), self.state


def _book_params(model):
    """What the book's save_params pickles: float16 copies, in ``params`` order."""
    return [backend.asnumpy(p).astype(numpy.float16) for p in model.params]


def _with_first(model, first):
    return [first] + _book_params(model)[1:]


def _inf_float16(model):
    params = _book_params(model)
    params[3][0] = numpy.inf
    return params


def _bytes8_beyond_the_file(model):
    """A BINBYTES8 opcode declaring 2**40 bytes where 3 follow."""
    return b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little") + b"abc."


ATTACKS = {
    "a tiny pickle declaring a huge array": (
        lambda m: [_Declares((1 << 40,))], "declares 1099511627776 values, more than the 64 of the seq2seq"),
    "a huge array declared in numpy's state": (
        lambda m: [_Stated((1 << 40,), "f2", b"")], "declares 1099511627776 values"),
    "object dtype": (
        lambda m: _with_first(m, numpy.full((V, D), 0.5, dtype=object)), "dtype object"),
    "'nan' strings": (lambda m: _with_first(m, numpy.full((V, D), "nan")), "dtype <U3"),
    "inf float16": (_inf_float16, "parameter 3 holds NaN or infinite values"),
    "a length beyond the file": (_bytes8_beyond_the_file, "not a readable parameter pickle"),
    "a call of numpy.ndarray": (
        lambda m: [_Declares((V, D))], "refusing to call numpy.ndarray"),
    "something else than arrays": (lambda m: [print], "refusing to load builtins.print"),
}


def _write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    return path


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_file_is_refused_in_one_line_by_both_readers(xp, tmp_path, attack):
    make, message = ATTACKS[attack]
    model = models.build("seq2seq", V, D, H, seed=0)
    before = backend.asnumpy(model.flat_params).copy()
    path = _write(tmp_path / "Seq2seq.pkl", make(model))
    with pytest.raises(pickles.BookFileError) as book:
        model.load_params(path)
    with pytest.raises(io.CheckpointError) as ours:
        io.import_book_params(model, path)
    assert message in str(book.value) and str(book.value) == str(ours.value)
    assert str(book.value).startswith(str(path)) and "\n" not in str(book.value)
    numpy.testing.assert_array_equal(backend.asnumpy(model.flat_params), before)


def test_a_file_larger_than_the_model_takes_is_not_read(xp, tmp_path):
    model = models.build("seq2seq", V, D, H)
    path = _write(tmp_path / "big.pkl", [numpy.zeros(100_000)])
    with pytest.raises(pickles.BookFileError, match="more than a parameter file of the seq2seq"):
        model.load_params(path)


def test_a_missing_file_is_named(xp, tmp_path):
    with pytest.raises(FileNotFoundError, match="no parameter file at .*AttentionSeq2seq.pkl"):
        models.build("attention", V, D, H).load_params(tmp_path / "AttentionSeq2seq.pkl")


def test_numpy_pickles_of_every_protocol_and_float_type_are_read(xp, tmp_path):
    model = models.build("attention", V, D, H, seed=1)
    want = [backend.asnumpy(p) for p in model.params]
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        for dtype in ("float16", "float32", "float64"):
            arrays = [numpy.asfortranarray(p.astype(dtype)) for p in want]
            got = pickles.read(_write(tmp_path / "p.pkl", arrays), model)
            for g, w in zip(got, arrays):
                assert g.dtype == dtype
                numpy.testing.assert_array_equal(g, w)


def test_save_params_refuses_what_float16_cannot_hold(xp, tmp_path):
    model = models.build("seq2seq", V, D, H)
    model.params[2][0] = 70000.0                              # beyond float16's 65504
    with pytest.raises(pickles.BookFileError, match="parameter 2 .* beyond float16's range"):
        model.save_params(tmp_path / "Seq2seq.pkl")
    assert not list(tmp_path.iterdir())

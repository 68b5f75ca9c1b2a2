"""bf16 products: each GEMM within bf16's bound of float32's; every model's loss and gradients
those of float32 arithmetic with the GEMM operands rounded to bf16 (the specification), and close
to float32's; training that learns; the fallback where bf16 cannot run."""
from concurrent.futures import ThreadPoolExecutor

import numpy
import pytest

import s2sxp
from s2sxp import backend, cli, datasets, models, parallel, precision


def round_bf16(x):
    """x rounded to bfloat16 (to nearest, ties to even), held in float32."""
    u = numpy.ascontiguousarray(x, numpy.float32).view(numpy.uint32).astype(numpy.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(numpy.uint32).view(numpy.float32).reshape(numpy.shape(x))


class RoundedOperands:
    """The specification of bf16 products: float32 products of operands rounded to bf16."""
    name = "bf16"

    @staticmethod
    def operand(w):
        return round_bf16(w) if w.dtype == numpy.float32 else w

    def matmul(self, a, b, out=None):
        return numpy.matmul(self.operand(a), self.operand(b), out=out)


@pytest.fixture
def bf16(monkeypatch):
    """NumPy in float32 with bf16 products through oneDNN (on a CPU without bf16 units, oneDNN's
    own conversions: slow, the same numbers)."""
    try:
        precision._onednn()
    except OSError as e:
        pytest.skip(f"oneDNN is not installed: {e}")
    backend.use("numpy", dtype="float32")
    monkeypatch.setattr(precision, "_chosen", ["bf16"])
    yield precision.products(numpy)
    backend.use("numpy")


@pytest.fixture
def fp32(monkeypatch):
    backend.use("numpy", dtype="float32")
    monkeypatch.setattr(precision, "_chosen", ["fp32"])
    yield
    backend.use("numpy")


def test_fp32_products_are_the_array_modules_own(fp32):
    mm = precision.products(numpy)
    assert mm.matmul is numpy.matmul
    w = numpy.ones((2, 3), numpy.float32)
    assert mm.operand(w) is w


LAYOUTS = {   # name: (a, b, out) from an rng; out None: a new array
    "plain": lambda r: (r((64, 96)), r((96, 80)), None),
    "a transposed": lambda r: (r((96, 64)).T, r((96, 80)), None),
    "b transposed": lambda r: (r((64, 96)), r((80, 96)).T, None),
    "into a strided view": lambda r: (r((64, 96)), r((96, 80)), numpy.zeros((64, 100),
                                                                           numpy.float32)[:, 7:87]),
    "batched": lambda r: (r((5, 12, 33)), r((5, 33, 7)), None),
    "broadcast batch": lambda r: (r((12, 33)), r((5, 33, 7)), None),
    "one row per sequence": lambda r: (r((9, 1, 40)), r((9, 40, 24)), None),
    "rows given at execution": lambda r: (r((precision.RUNTIME_ROWS + 3, 40)), r((40, 30)), None),
    "rows given at execution, a transposed view into a strided one": lambda r: (
        r((40, precision.RUNTIME_ROWS)).T, r((40, 30)),
        numpy.zeros((precision.RUNTIME_ROWS, 50), numpy.float32)[:, 10:40]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_bf16_product_is_float32s_of_rounded_operands_within_the_bound(bf16, layout):
    """|C - A·B| <= (2u + u² + 2k·u₃₂)·|A|·|B| with u = 2⁻⁸ (precision.error_bound), and C is
    the float32 product of the operands rounded to bf16 up to the order of the float32 sums,
    2k·u₃₂·|A|·|B|: the rounding happened, once, to nearest."""
    rng = numpy.random.default_rng(0)
    a, b, out = LAYOUTS[layout](lambda shape: rng.standard_normal(shape, dtype=numpy.float32))
    c = bf16.matmul(a, b, out=out)
    if out is not None:
        assert c is out
    exact = a.astype(numpy.float64) @ b
    assert numpy.all(numpy.abs(c - exact) <= precision.error_bound(a, b))
    spec = round_bf16(a).astype(numpy.float64) @ round_bf16(b)
    k = a.shape[-1]
    accumulation = 2 * k * precision.FP32_UNIT * (numpy.abs(a).astype(numpy.float64) @ numpy.abs(b))
    assert numpy.all(numpy.abs(c - spec) <= accumulation)
    assert numpy.any(numpy.abs(c - exact) > accumulation)        # not float32's own product


def test_an_operand_converted_once_gives_the_same_products(bf16):
    rng = numpy.random.default_rng(1)
    a = rng.standard_normal((20, 30), dtype=numpy.float32)
    w = rng.standard_normal((30, 40), dtype=numpy.float32)
    once = bf16.operand(w)
    numpy.testing.assert_array_equal(bf16.matmul(a, once), bf16.matmul(a, w))
    assert bf16.operand(once) is once
    v = rng.standard_normal((40, 30), dtype=numpy.float32)          # views of converted bits
    numpy.testing.assert_array_equal(bf16.matmul(a, bf16.operand(v).T[:, 3:9]),
                                     bf16.matmul(a, v.T[:, 3:9]))


def test_products_past_the_primitives_kept_are_made_for_the_call_and_agree(bf16, monkeypatch):
    rng = numpy.random.default_rng(3)
    a = rng.standard_normal((17, 30), dtype=numpy.float32)
    w = rng.standard_normal((30, 11), dtype=numpy.float32)
    kept = bf16.matmul(a, w)
    monkeypatch.setattr(precision._onednn(), "_kept", {})
    monkeypatch.setattr(precision, "KEPT", 0)
    for _ in range(3):
        numpy.testing.assert_array_equal(bf16.matmul(a, w), kept)
    assert precision._onednn()._kept == {}


def test_products_in_several_threads_at_once_are_each_their_own(bf16):
    """Each thread's products use scratch memory of their own (oneDNN's, by default, is one for
    the process)."""
    rng = numpy.random.default_rng(4)
    w = bf16.operand(rng.standard_normal((256, 768), dtype=numpy.float32))
    inputs = [rng.standard_normal((64 + i, 256), dtype=numpy.float32) for i in range(2)]
    wanted = [bf16.matmul(a, w) for a in inputs]

    def products(a):
        return [bf16.matmul(a, w) for _ in range(100)]

    # one thread each, as in a split batch; BLAS's setting is one for the process, set here once
    before = parallel.blas_thread_count()
    with parallel.blas_threads(1), ThreadPoolExecutor(2) as pool:
        for got, want in zip(pool.map(products, inputs), wanted):
            for c in got:
                numpy.testing.assert_array_equal(c, want)
    assert parallel.blas_thread_count() == before


def test_float64_arrays_keep_float64_products(bf16):
    rng = numpy.random.default_rng(2)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 4))
    numpy.testing.assert_array_equal(bf16.matmul(a, b), a @ b)


V, D, H = 23, 16, 24
CASES = ([(kind, cell, {}) for kind in models.MODELS for cell in ("lstm", "gru")]
         + [("bahdanau", "gru", {"bidirectional": True, "dropout": 0.2, "label_smoothing": 0.1}),
            ("bahdanau", "lstm", {"encoder_layers": 2, "decoder_layers": 2}),
            ("bahdanau", "gru", {"reset_state_each_step": True, "init_state": "last"}),
            ("bahdanau", "gru", {"tie_weights": True, "bidirectional": True}),
            ("attention", "lstm", {"input_feeding": True, "bidirectional": True}),
            ("attention", "gru", {"input_feeding": True, "dropout": 0.2})])


def _loss_and_grads(kind, cell, options):
    """A model of the book's kind, float32, on one padded batch: its loss and gradients."""
    model = models.build(kind, V, D + (H - D if options.get("tie_weights") else 0), H,
                         cell=cell, seed=3, pad_id=0, **options)
    rng = numpy.random.default_rng(4)
    xs = rng.integers(1, V, (40, 9))
    ts = rng.integers(1, V, (40, 7))
    xs[::3, 6:] = 0
    ts[::4, 5:] = 0
    loss = float(model.forward(xs, ts))
    model.backward()
    return loss, [backend.asnumpy(g).copy() for g in model.grads]


def _scale(grad, grads):
    """A gradient's largest entry, but at least a millionth of the model's largest: a gradient
    that is zero in exact arithmetic (the score bias b3 of the Bahdanau attention) holds only
    float32 rounding, against which no relative bound means anything."""
    return max(float(numpy.abs(grad).max()), 1e-6 * max(float(numpy.abs(g).max()) for g in grads))


@pytest.mark.parametrize("kind, cell, options", CASES)
def test_a_model_in_bf16_is_float32_with_its_gemm_operands_rounded(bf16, monkeypatch, kind, cell,
                                                                   options):
    """Loss and gradients with oneDNN's bf16 products equal those of float32 products of rounded
    operands (RoundedOperands): the same operands are rounded, nothing else is. They differ only
    by the order of float32 sums, which can move an entry across a bf16 rounding boundary before
    the next product, by 2⁻⁸ of it: the bound, relative to the gradient's largest entry."""
    loss, grads = _loss_and_grads(kind, cell, options)
    monkeypatch.setattr(precision, "_bf16_products", RoundedOperands)
    spec_loss, spec_grads = _loss_and_grads(kind, cell, options)
    assert loss == pytest.approx(spec_loss, rel=1e-5)
    for i, (g, want) in enumerate(zip(grads, spec_grads)):
        scale = _scale(want, spec_grads)
        assert numpy.abs(g - want).max() <= 2 ** -8 * scale, f"{kind}/{cell} {options} grads[{i}]"


@pytest.mark.parametrize("kind, cell, options", CASES)
def test_a_model_in_bf16_stays_close_to_float32(bf16, monkeypatch, kind, cell, options):
    """Each product is within 2u = 2⁻⁷ of float32's, relative to |A|·|B|; a loss or gradient
    passes through at most L = 8 products in a row here (embedding, encoder, attention, decoder
    cell, output, and back), so it stays within L·2⁻⁷ = 1/16 of float32's, relative to its
    largest entry. The loss, an average of many terms, is held to 2⁻⁷."""
    loss, grads = _loss_and_grads(kind, cell, options)
    monkeypatch.setattr(precision, "_chosen", ["fp32"])
    ref_loss, ref_grads = _loss_and_grads(kind, cell, options)
    assert loss == pytest.approx(ref_loss, rel=2 ** -7)
    for i, (g, want) in enumerate(zip(grads, ref_grads)):
        scale = _scale(want, ref_grads)
        assert numpy.abs(g - want).max() <= scale / 16, f"{kind}/{cell} {options} grads[{i}]"


def test_a_bahdanau_model_trained_in_bf16_learns_dates_as_float32_does(bf16):
    """The float32 floor of tests/test_training.py's Bahdanau GRU: 95% exact answers on the 800
    held-out questions within 3 epochs."""
    (x_train, t_train), (x_test, t_test), vocab = datasets.from_lines(
        datasets.date_lines(8000, seed=0))
    model = models.BahdanauSeq2seq(len(vocab), 16, 64, cell="gru", seed=0)
    trainer = s2sxp.Trainer(model, s2sxp.Adam(lr=model.recipe["lr"]), seed=0, log=None)
    accs = []
    for _ in range(3):
        trainer.fit(x_train, t_train, max_epoch=1, batch_size=32,
                    max_grad=model.recipe["max_grad"])
        accs.append(s2sxp.evaluate(model, x_test, t_test)[0])
        if accs[-1] >= 0.95:
            break
    assert max(accs) >= 0.95, f"bf16 bahdanau-gru: validation accuracy by epoch {accs}"


@pytest.mark.parametrize("missing, message", [
    ("onednn", 'needs oneDNN: pip install "s2sxp[bf16]"'),
    ("cpu", "needs a CPU with bf16 instructions"),
    ("numpy", "runs on the CPU only so far"),
])
def test_bf16_where_it_cannot_run_says_why_in_one_line_and_runs_float32(monkeypatch, capsys,
                                                                        missing, message):
    monkeypatch.setattr(precision, "_chosen", [])
    monkeypatch.setattr(precision, "_cpu_has_bf16", lambda: missing != "cpu")
    monkeypatch.setattr(backend, "name", lambda: "cupy" if missing == "numpy" else "numpy")
    if missing == "onednn":
        monkeypatch.setattr(precision, "_library_paths", lambda: ["/nonexistent/libdnnl.so.3"])
        monkeypatch.setattr(precision, "_onednn", precision._onednn.__wrapped__)
    assert precision.use("bf16") == "fp32"
    assert precision.current() == "fp32"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].endswith("running float32")
    assert precision.products(numpy).matmul is numpy.matmul


def test_the_precision_comes_from_the_environment(monkeypatch, capsys):
    monkeypatch.setattr(precision, "_chosen", [])
    monkeypatch.setenv("S2S_PRECISION", "fp32")
    assert precision.current() == "fp32"


def test_an_unknown_precision_is_refused():
    with pytest.raises(precision.PrecisionError, match="unknown precision 'fp16'; choose one of "
                                                       "fp32, bf16"):
        precision.use("fp16")


def test_train_with_precision_bf16_says_which_products_ran(capsys, tmp_path, monkeypatch):
    """bf16 products where they can run, else the one line saying why and float32."""
    monkeypatch.setattr(precision, "_chosen", [])
    monkeypatch.setattr(parallel._host, "split", False)
    backend.use("numpy", dtype="float32")
    code = cli.main(["train", "--epochs", "1", "--out", str(tmp_path), "--precision", "bf16",
                     "--examples", "200", "--wordvec-size", "4", "--hidden-size", "8",
                     "--batch-size", "16"])
    out, err = capsys.readouterr()
    assert code == 0
    why = precision.unavailable()
    if why is None:
        assert "backend numpy float32, bf16 products;" in out
    else:
        assert f"s2sxp: --precision bf16 {why}; running float32\n" in err
        assert "backend numpy float32;" in out


def test_bf16_products_split_training_over_the_cores_and_fp32_does_not(monkeypatch):
    monkeypatch.delenv("S2S_THREADS", raising=False)
    monkeypatch.setattr(parallel._host, "split", False)
    monkeypatch.setattr(precision, "_chosen", [])
    monkeypatch.setattr(precision, "unavailable", lambda: None)
    assert precision.use("bf16") == "bf16"
    assert parallel.threads() == parallel.usable_cores()
    assert precision.use("fp32") == "fp32"
    assert parallel.threads() == 1


def test_an_unknown_precision_in_the_environment_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setattr(precision, "_chosen", [])
    monkeypatch.setenv("S2S_PRECISION", "fp16")
    code = cli.main(["translate", "--run", "no-such-run", "hello"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "s2sxp translate: error: unknown precision 'fp16'; choose one of fp32, bf16"]

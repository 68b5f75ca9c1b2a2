"""The benchmarks: FLOP counts from the sizes, and a ``--quick`` run end to end (no timings are
asserted; PyTorch parts are skipped where torch is not installed)."""
import json
import os
import subprocess
import sys
import types

import numpy
import pytest

from benchmarks import epoch_cost, gemms, padded_epoch, twins
from s2sxp import corpus, models, precision

BOOK = gemms.Sizes(N=128, T_enc=29, T_dec=10, V=59, D=16, H=256)
QUICK_ARGS = ["--quick", "--devices", "cpu", "--iterations", "2", "--warmup", "0",
              "--eval-questions", "16", "--questions", "300"]


def test_seq2seq_flops_match_the_hand_count():
    """Per sequence, forward: encoder 29·(16·1024 + 256·1024), decoder 10·(16·1024 + 256·1024),
    affine 10·256·59 multiply-adds; ×2 FLOPs, ×128 sequences, ×3 with backward; and the
    embeddings' gradients, one-hot products of (29 + 10)·59·16 multiply-adds per sequence."""
    forward_macs = 29 * (16 * 1024 + 256 * 1024) + 10 * (16 * 1024 + 256 * 1024) + 10 * 256 * 59
    embedding_macs = (29 + 10) * 59 * 16
    want = 3 * 2 * 128 * forward_macs + 2 * 128 * embedding_macs
    assert gemms.flops_per_iteration("seq2seq", "lstm", BOOK) == want == 8_467_894_272


def test_peeky_and_attention_add_what_their_decoders_add():
    """Per sequence, forward: Peeky applies the encoder state's rows of Wx once (256·1024
    multiply-adds) and its affine input grows by H (10·256·59); attention adds two products of
    10·29·256 (scores, contexts) and the same wider affine."""
    base = gemms.flops_per_iteration("seq2seq", "lstm", BOOK)
    peeky = gemms.flops_per_iteration("peeky", "lstm", BOOK)
    attention = gemms.flops_per_iteration("attention", "lstm", BOOK)
    assert peeky - base == 3 * 2 * 128 * (256 * 1024 + 10 * 256 * 59)
    assert attention - base == 3 * 2 * 128 * (2 * 10 * 29 * 256 + 10 * 256 * 59)


@pytest.mark.parametrize("kind", list(gemms.GEMM_FAMILIES))
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_backward_gemms_cost_twice_the_forward_ones(kind, cell):
    """...the embeddings' gradients aside: their forward is a look-up, not a product."""
    products = [g for g in gemms.gemms(kind, cell, BOOK) if "embedding: dW" not in g.what]
    forward = sum(g.flops for g in products if not g.backward)
    backward = sum(g.flops for g in products if g.backward)
    assert backward == 2 * forward


@pytest.mark.parametrize("kind", list(gemms.GEMM_FAMILIES))
def test_flops_grow_quadratically_with_hidden_size(kind):
    """The recurrent products are H·4H per step, so the count is a quadratic in H."""
    def flops(H):
        return gemms.flops_per_iteration(kind, "lstm", gemms.Sizes(128, 29, 10, 59, 16, H))

    f = [flops(H) for H in (64, 128, 192, 256)]
    second = [f[i + 2] - 2 * f[i + 1] + f[i] for i in range(2)]
    assert second[0] == second[1] > 0
    assert 3.5 < flops(512) / flops(256) < 4


def test_gru_has_three_quarters_of_the_lstm_rnn_flops():
    lstm = gemms.gemms("seq2seq", "lstm", BOOK)
    gru = gemms.gemms("seq2seq", "gru", BOOK)
    rnn = lambda products: sum(g.flops for g in products
                               if "x·Wx" in g.what or "h·Wh" in g.what)
    assert 4 * rnn(gru) == 3 * rnn(lstm)


def test_gemm_labels_show_the_stored_layout():
    g = gemms.Gemm("dWh", 256, 3712, 1024, a_t=True)
    assert g.label == "(3712,256)ᵀ·(3712,1024)"
    assert gemms.Gemm("h·Wh", 128, 256, 1024, count=29).label == "(128,256)·(256,1024)"


@pytest.mark.parametrize("name, kind, cell", epoch_cost.model_rows() + [
    ("seq2seq-gru", "seq2seq", "gru"), ("attention-gru", "attention", "gru")])
def test_gemm_list_accounts_for_the_products_the_fused_models_compute(xp32, monkeypatch, name,
                                                                       kind, cell):
    """The FLOPs of every xp.matmul and every product of the precision in force
    (s2sxp.precision) in one forward and backward, plus Bahdanau's scores gradient (an outer
    product done elementwise), match the GEMM list to 3%: kernels may fold a bias into a GEMM as
    one more row."""
    s = gemms.Sizes(N=64, T_enc=29, T_dec=10, V=59, D=16, H=64)
    xp = xp32
    done = []
    matmul = xp.matmul

    def counting(a, b, *args, **kwargs):
        out = matmul(a, b, *args, **kwargs)
        done.append(2 * out.size * a.shape[-1])
        return out

    model = models.build(kind, s.V, s.D, s.H, cell=cell, seed=0)
    rng = numpy.random.default_rng(0)
    xs, ts = rng.integers(0, s.V, (s.N, s.T_enc)), rng.integers(0, s.V, (s.N, s.T_dec + 1))
    monkeypatch.setattr(xp, "matmul", counting)
    monkeypatch.setattr(precision, "_chosen", ["fp32"])
    monkeypatch.setattr(precision, "_float32_products",
                        lambda xp: types.SimpleNamespace(matmul=counting, operand=lambda w: w))
    model.forward(xs, ts)
    model.backward()
    monkeypatch.undo()
    listed = gemms.gemms(kind, cell, s)
    elsewhere = sum(g.flops for g in listed if g.what == "attention scores y·W3: dX")
    expected = sum(g.flops for g in listed)
    assert sum(done) + elsewhere == pytest.approx(expected, rel=0.03)


def test_every_registered_model_gets_a_row():
    rows = epoch_cost.model_rows()
    assert {kind for _, kind, _ in rows} == set(models.MODELS)
    for kind in epoch_cost.BOOK_MODELS:
        assert (kind, kind, "lstm") in rows


def test_quick_run_writes_json_markdown_and_chart(tmp_path, capsys):
    assert epoch_cost.main(QUICK_ARGS + ["--no-torch", "--eval-reference", "--out", str(tmp_path)]) == 0
    stdout = capsys.readouterr().out
    assert "| model | variant | median |" in stdout
    assert "## Against AttentionSeq2seq" in stdout

    (report_path,) = tmp_path.glob("*-cpu-quick.json")
    assert report_path.with_suffix(".png").stat().st_size > 0
    assert report_path.with_suffix(".md").read_text() in stdout
    report = json.loads(report_path.read_text())
    assert {"date", "command", "settings", "machine", "result"} <= set(report)
    assert {"cpu", "numpy", "python"} <= set(report["machine"])
    result = report["result"]
    assert result["device"] == "cpu"
    assert [row["model"] for row in result["rows"]] == [name for name, _, _ in epoch_cost.model_rows()]
    for row in result["rows"]:
        assert {"ours", "reference"} <= set(row["train"])
        assert {"ours", "reference"} <= set(row["eval"])
        assert "ours/reference" in row["ratios"]["train"]
        against = row["ratios"]["train"]["ours/attention"]
        if row["kind"] == "attention":
            assert against["of_medians"] == against["paired_median"] == 1.0
        assert len(row["train"]["ours"]["samples"]) == 2
        if row["kind"] in gemms.GEMM_FAMILIES:
            assert row["flops"] == gemms.flops_per_iteration(
                row["kind"], row["cell"], gemms.Sizes(**result["sizes"]))
            assert row["gemm_bound_ms"]["at_shape_rates"] > 0
            assert row["train"]["ours"]["x_gemm_bound"] > 0
    assert result["gemm_throughput"]


def test_quick_run_side_by_side_with_pytorch(tmp_path, capsys):
    pytest.importorskip("torch")
    args = QUICK_ARGS + ["--models", "attention", "--no-reference", "--torch-threads", "1",
                         "--out", str(tmp_path), "--tag", "torch"]
    assert epoch_cost.main(args) == 0
    (report_path,) = tmp_path.glob("*-cpu-quick-torch.json")
    row, = json.loads(report_path.read_text())["result"]["rows"]
    assert {"ours", "torch"} <= set(row["train"]) and "torch" in row["eval"]
    assert "ours/torch" in row["ratios"]["train"]


def test_unknown_model_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as stop:
        epoch_cost.main(["--models", "transformer"])
    assert stop.value.code == 2
    assert "unknown model transformer" in capsys.readouterr().err


def test_a_batch_larger_than_the_data_is_refused(tmp_path, capsys):
    args = ["--quick", "--no-torch", "--questions", "10", "--out", str(tmp_path)]
    assert epoch_cost.main(args) == 2
    assert "--batch-size 16 is larger than the 9 training questions" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_split_overhead_script_prints_both_settings_for_each_size():
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "split_overhead.py")
    result = subprocess.run([sys.executable, script, "--hidden-sizes", "4,8", "--rounds", "1"],
                            capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert [line.split(",")[0] for line in lines if line.startswith("H=")] == ["H=4", "H=8"]
    assert sum("1 thread, 64 rows" in line for line in lines) == 2
    assert sum("2 threads, 128 rows" in line for line in lines) == 2


def test_padded_quick_run_reports_every_layout_per_token(tmp_path, capsys):
    args = ["--quick", "--no-torch", "--models", "attention,bahdanau-gru", "--out", str(tmp_path)]
    assert padded_epoch.main(args) == 0
    (report_path,) = tmp_path.glob("*-cpu-padded-quick.json")
    report = json.loads(report_path.read_text())
    for row in report["result"]["rows"]:
        assert list(row["layouts"]) == list(padded_epoch.LAYOUTS)
        layouts = row["layouts"]
        assert layouts["date"]["padding"] == 0
        assert layouts["bucketed"]["padding"] < layouts["shuffled"]["padding"]
        assert layouts["shuffled"]["padding"] < layouts["fixed"]["padding"] < 1
        assert {"ours: bucketed/date", "ours: bucketed/shuffled"} <= set(row["ratios"])
        assert layouts["bucketed"]["ours"]["median"] > 0
    assert "| attention | bucketed |" in capsys.readouterr().out


def test_padded_torch_twins_skip_padding_exactly(xp32):
    """The PyTorch twins' loss on a padded batch is the token-weighted mean of the rows' own."""
    torch = pytest.importorskip("torch")
    rng = numpy.random.default_rng(0)
    rows_x = [rng.integers(4, 12, n) for n in (5, 2, 4)]
    rows_t = [numpy.r_[1, rng.integers(4, 12, n - 2), 2] for n in (3, 6, 4)]
    x, t = corpus.Sequences(rows_x).padded(), corpus.Sequences(rows_t).padded()
    for kind, cell in padded_epoch.ROWS.values():
        twin = twins.Torch(torch, "cpu", kind, cell, 12, 4, 8, seed=0, pad_id=0)
        with torch.no_grad():
            padded = float(twin.loss(x, t))
            alone = [float(twin.loss(a[None], b[None])) for a, b in zip(rows_x, rows_t)]
        weights = [len(b) - 1 for b in rows_t]
        assert padded == pytest.approx(numpy.average(alone, weights=weights), rel=1e-5), kind

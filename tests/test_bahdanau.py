"""BahdanauSeq2seq and its additive attention kernel: gradients, fused == reference, decoding,
saving."""
import numpy
import pytest

from s2sxp import backend, io, models, parallel
from s2sxp.kernels import additive
from s2sxp.models import BahdanauSeq2seq
from gradcheck import check_model, assert_grad_close, numerical_grad

V, D, H = 7, 3, 4
VARIANTS = [(cell, init_state, reset) for cell in ("gru", "lstm") for init_state in ("sum", "last")
            for reset in (False, True)]
VARIANT_IDS = [f"{c}-{s}-{'reset' if r else 'carry'}" for c, s, r in VARIANTS]


def _model(cell, init_state, reset, impl="fused", seed=1, scale=0.5):
    """A small model whose weights are redrawn at ``scale`` (the book's initialisation makes the
    embeddings 0.01, too small for every path to show in a gradient check)."""
    model = BahdanauSeq2seq(V, D, H, cell=cell, impl=impl, seed=seed, init_state=init_state,
                            reset_state_each_step=reset)
    rng = numpy.random.default_rng(seed)
    flat = model.flat_params
    flat[...] = model.xp.asarray(rng.standard_normal(flat.size) * scale)
    return model


def _data(rng, N=3, T_in=5, T_out=4):
    return rng.integers(0, V, (N, T_in)), rng.integers(0, V, (N, T_out))


def _randn(xp, rng, *shape):
    return xp.asarray(rng.standard_normal(shape))


@pytest.mark.parametrize("cell,init_state,reset", VARIANTS, ids=VARIANT_IDS)
def test_bahdanau_backward_matches_numerical_gradient(xp, rng, cell, init_state, reset):
    model = _model(cell, init_state, reset)
    xs, ts = _data(rng)
    check_model(model, xs, ts, f"bahdanau/{cell}/{init_state}/reset={reset}")


@pytest.mark.parametrize("key_scale,query_scale", [(1, 2), (30, 2), (1, 30)],
                         ids=["small", "large-keys", "large-queries"])
def test_fused_additive_steps_equal_reference(xp, rng, key_scale, query_scale):
    """Keys once, T_dec steps forward and back, then one GEMM per weight == T_dec reference steps
    that each recompute the keys; large pre-activations saturate tanh and leave the split exp."""
    N, T, T_dec = 3, 7, 4
    hs_enc = _randn(xp, rng, N, T, H)
    W1, b1, W2, b2 = (_randn(xp, rng, H, H) * key_scale, _randn(xp, rng, H),
                      _randn(xp, rng, H, H), _randn(xp, rng, H))
    W3, b3 = _randn(xp, rng, H, 1), _randn(xp, rng, 1)
    qs, dcs = _randn(xp, rng, T_dec, N, H) * query_scale, _randn(xp, rng, T_dec, N, H)

    K, expK = additive.keys(hs_enc, W1, b1, b2)
    assert expK is None or key_scale == 1
    ys, as_, cs = (xp.empty((T_dec, T, N, H)), xp.empty((T_dec, N, T)), xp.empty((T_dec, N, H)))
    for t in range(T_dec):
        additive.forward(K, expK, hs_enc, qs[t], W2, W3, ys[t], as_[t], cs[t])
    U, dw3, tmp = xp.empty_like(K), xp.zeros((1, H)), xp.empty_like(K)
    dss, dqws = xp.empty((T_dec, N, T)), xp.empty_like(qs)
    W2_T = xp.ascontiguousarray(W2.T)
    dq = [additive.backward(dcs[t], hs_enc, ys[t], as_[t], W2_T, W3, dss[t], dw3, dqws[t], tmp)
          for t in reversed(range(T_dec))][::-1]
    additive.key_gradient(dss, ys, U)
    dhs_enc, grads = additive.backward_keys(U, hs_enc, W1, W3, dw3, qs, dqws, as_, dcs)

    dhs_enc_r, grads_r = xp.zeros_like(hs_enc), [0] * 6
    for t in range(T_dec):
        c, a, cache = additive.forward_reference(hs_enc, qs[t], W1, b1, W2, b2, W3, b3)
        _close((c, a), (cs[t], as_[t]), f"forward step {t}")
        d_enc, dq_r, g = additive.backward_reference(dcs[t], cache)
        _close((dq_r,), (dq[t],), f"dq of step {t}")
        dhs_enc_r += d_enc
        grads_r = [s + x for s, x in zip(grads_r, g)]
    _close((dhs_enc, *grads), (dhs_enc_r, *grads_r), "backward")
    numpy.testing.assert_allclose(backend.asnumpy(as_).sum(axis=2), 1.0)


def test_additive_reference_matches_numerical_gradient(xp, rng):
    N, T = 2, 5
    hs_enc, q = _randn(xp, rng, N, T, H), _randn(xp, rng, N, H)
    weights = [_randn(xp, rng, H, H), _randn(xp, rng, H), _randn(xp, rng, H, H),
               _randn(xp, rng, H), _randn(xp, rng, H, 1), _randn(xp, rng, 1)]
    dc = _randn(xp, rng, N, H)
    loss = lambda: float((additive.forward_reference(hs_enc, q, *weights)[0] * dc).sum())
    cache = additive.forward_reference(hs_enc, q, *weights)[2]
    dhs_enc, dq, grads = additive.backward_reference(dc, cache)
    for name, x, g in [("hs_enc", hs_enc, dhs_enc), ("q", q, dq),
                       *[(f"weight {i}", w, g) for i, (w, g) in enumerate(zip(weights, grads))]]:
        assert_grad_close(f"additive reference {name}", g, numerical_grad(loss, x))


def _close(got, want, what, atol=1e-11):
    for i, (g, w) in enumerate(zip(got, want)):
        numpy.testing.assert_allclose(backend.asnumpy(g), backend.asnumpy(w), rtol=1e-9,
                                      atol=atol, err_msg=f"{what}, output {i}")


@pytest.mark.parametrize("cell,init_state,reset", VARIANTS, ids=VARIANT_IDS)
def test_fused_model_equals_reference_model(xp, rng, cell, init_state, reset):
    fused = _model(cell, init_state, reset, impl="fused", seed=2)
    ref = _model(cell, init_state, reset, impl="reference", seed=2)
    xs, ts = _data(rng, N=4, T_in=6, T_out=5)
    assert float(fused.forward(xs, ts)) == pytest.approx(float(ref.forward(xs, ts)), rel=1e-12)
    _close((fused.attention_weights,), (ref.attention_weights,), "attention weights")
    fused.backward()
    ref.backward()
    _close(fused.grads, ref.grads, "gradients")
    numpy.testing.assert_array_equal(backend.asnumpy(fused.generate_batch(xs, 0, 6)),
                                     backend.asnumpy(ref.generate_batch(xs, 0, 6)))
    _close((fused.attention_weights,), (ref.attention_weights,), "attention weights of generate")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_batched_generate_equals_one_at_a_time(xp, rng, cell, impl):
    model = _model(cell, "sum", False, impl=impl, seed=3, scale=1.0)
    xs = rng.integers(0, V, (6, 5))
    batched = backend.asnumpy(model.generate_batch(xs, start_id=0, sample_size=4))
    weights = backend.asnumpy(model.attention_weights)
    assert batched.shape == (6, 4) and batched.dtype == numpy.int32
    for n in range(6):
        one = backend.asnumpy(model.generate_batch(xs[n:n + 1], start_id=0, sample_size=4))
        numpy.testing.assert_array_equal(one[0], batched[n])
        numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights)[0], weights[n],
                                      atol=1e-12)


def test_attention_weights_of_forward_and_generate(xp, rng):
    model = _model("gru", "sum", False, seed=4)
    xs, ts = _data(rng, N=2, T_in=6, T_out=5)
    model.forward(xs, ts)
    assert model.attention_weights.shape == (2, 4, 6)
    numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights).sum(axis=2), 1.0)
    model.generate_batch(xs, 0, 7)
    assert model.attention_weights.shape == (2, 7, 6)
    numpy.testing.assert_allclose(backend.asnumpy(model.attention_weights).sum(axis=2), 1.0)


@pytest.mark.parametrize("cell,init_state,reset", VARIANTS[::3], ids=VARIANT_IDS[::3])
def test_save_load_round_trip_keeps_the_options(xp, rng, tmp_path, cell, init_state, reset):
    model = _model(cell, init_state, reset, seed=5)
    io.save(model, tmp_path / "m.npz")
    loaded = io.load(tmp_path / "m.npz")
    assert isinstance(loaded, BahdanauSeq2seq)
    assert loaded.config == model.config
    assert (loaded.config["init_state"], loaded.config["reset_state_each_step"]) == (init_state,
                                                                                   reset)
    xs, ts = _data(rng)
    assert float(loaded.forward(xs, ts)) == float(model.forward(xs, ts))
    numpy.testing.assert_array_equal(backend.asnumpy(model.generate_batch(xs, 0, 3)),
                                     backend.asnumpy(loaded.generate_batch(xs, 0, 3)))


def test_reset_state_each_step_leaves_wh_without_gradient(xp, rng):
    model = _model("gru", "sum", True)
    xs, ts = _data(rng)
    model.forward(xs, ts)
    model.backward()
    Wh_grad = backend.asnumpy(model.grads[12])
    assert model.params[12].shape == (H, 3 * H) and not Wh_grad.any()


def test_params_are_in_the_documented_order(xp):
    for cell, G in (("gru", 3), ("lstm", 4)):
        model = models.build("bahdanau", V, D, H, cell=cell)
        assert [tuple(p.shape) for p in model.params] == [
            (V, D), (D, G * H), (H, G * H), (G * H,), (V, D),
            (H, H), (H,), (H, H), (H,), (H, 1), (1,),
            (H + D, G * H), (H, G * H), (G * H,), (H, V), (V,)]


def test_recipe_and_bad_options(xp):
    assert BahdanauSeq2seq.recipe == {"lr": 1e-2, "lr_half_life": 350, "anneal_at": 0.99, "reverse": False,
                                      "max_grad": 5.0, "optimizer": "adam"}
    assert models.MODELS["bahdanau"] is BahdanauSeq2seq
    with pytest.raises(ValueError, match="sum, last"):
        BahdanauSeq2seq(V, D, H, init_state="mean")
    with pytest.raises(ValueError, match="lstm, gru"):
        BahdanauSeq2seq(V, D, H, cell="rnn")


@pytest.mark.skipif(parallel._openblas() is None, reason="BLAS thread count cannot be set here")
@pytest.mark.parametrize("cell,reset", [("gru", False), ("lstm", False), ("gru", True)])
def test_threaded_batch_split_equals_one_thread(xp, rng, monkeypatch, cell, reset):
    """N = 64 splits into two blocks of rows, H = 256 into two blocks of weight columns."""
    xs, ts = rng.integers(0, V, (64, 5)), rng.integers(0, V, (64, 4))
    results = []
    for threads in ("1", "2"):
        monkeypatch.setenv("S2S_THREADS", threads)
        model = BahdanauSeq2seq(V, D, 256, cell=cell, seed=6, reset_state_each_step=reset)
        loss = float(model.forward(xs, ts))
        model.backward()
        results.append((loss, [backend.asnumpy(g).copy() for g in model.grads],
                        backend.asnumpy(model.generate_batch(xs, 0, 4)),
                        backend.asnumpy(model.attention_weights)))
    (loss1, grads1, ids1, w1), (loss2, grads2, ids2, w2) = results
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    _close(grads2, grads1, "gradients, 2 threads against 1")
    numpy.testing.assert_array_equal(ids2, ids1)
    _close((w2,), (w1,), "attention weights of generate")

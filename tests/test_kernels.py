"""Every fused kernel equals its slow per-step reference, forward and backward, on every backend."""
import numpy
import pytest

from s2sxp import backend, kernels


def _randn(xp, rng, *shape, scale=1.0):
    return xp.asarray(rng.standard_normal(shape) * scale)


def _assert_all_close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        numpy.testing.assert_allclose(backend.asnumpy(g), backend.asnumpy(w), rtol=1e-9,
                                      atol=1e-11, err_msg=f"{what}, output {i}")


@pytest.mark.parametrize("with_final_grads", [False, True])
def test_fused_lstm_equals_reference(xp, rng, with_final_grads):
    N, T, D, H = 3, 6, 4, 5
    xs = _randn(xp, rng, N, T, D, scale=3)      # large inputs reach the saturated ends of σ, tanh
    h0, c0 = _randn(xp, rng, N, H), _randn(xp, rng, N, H)
    Wx, Wh, b = _randn(xp, rng, D, 4 * H), _randn(xp, rng, H, 4 * H), _randn(xp, rng, 4 * H)
    dhs = _randn(xp, rng, N, T, H)
    dh_T, dc_T = (_randn(xp, rng, N, H), _randn(xp, rng, N, H)) if with_final_grads else (None,
                                                                                          None)
    hs, (h, c), cache = kernels.lstm.forward(xs, h0, c0, Wx, Wh, b)
    hs_r, (h_r, c_r), cache_r = kernels.lstm.forward_reference(xs, h0, c0, Wx, Wh, b)
    _assert_all_close((hs, h, c), (hs_r, h_r, c_r), "lstm forward")
    dxs, dh0, dc0, grads = kernels.lstm.backward(dhs, dh_T, dc_T, cache)
    dxs_r, dh0_r, dc0_r, grads_r = kernels.lstm.backward_reference(dhs, dh_T, dc_T, cache_r)
    _assert_all_close((dxs, dh0, dc0, *grads), (dxs_r, dh0_r, dc0_r, *grads_r), "lstm backward")


@pytest.mark.parametrize("with_final_grad", [False, True])
def test_fused_gru_equals_reference(xp, rng, with_final_grad):
    N, T, D, H = 3, 6, 4, 5
    xs = _randn(xp, rng, N, T, D, scale=3)
    h0 = _randn(xp, rng, N, H)
    Wx, Wh, b = _randn(xp, rng, D, 3 * H), _randn(xp, rng, H, 3 * H), _randn(xp, rng, 3 * H)
    dhs = _randn(xp, rng, N, T, H)
    dh_T = _randn(xp, rng, N, H) if with_final_grad else None
    hs, h, cache = kernels.gru.forward(xs, h0, Wx, Wh, b)
    hs_r, h_r, cache_r = kernels.gru.forward_reference(xs, h0, Wx, Wh, b)
    _assert_all_close((hs, h), (hs_r, h_r), "gru forward")
    dxs, dh0, grads = kernels.gru.backward(dhs, dh_T, cache)
    dxs_r, dh0_r, grads_r = kernels.gru.backward_reference(dhs, dh_T, cache_r)
    _assert_all_close((dxs, dh0, *grads), (dxs_r, dh0_r, *grads_r), "gru backward")


def test_fused_attention_equals_reference(xp, rng):
    N, T_enc, T_dec, H = 3, 7, 5, 4
    hs_enc, hs_dec = _randn(xp, rng, N, T_enc, H), _randn(xp, rng, N, T_dec, H)
    dcs = _randn(xp, rng, N, T_dec, H)
    cs, a, cache = kernels.attention.forward(hs_enc, hs_dec)
    cs_r, a_r, cache_r = kernels.attention.forward_reference(hs_enc, hs_dec)
    _assert_all_close((cs, a), (cs_r, a_r), "attention forward")
    numpy.testing.assert_allclose(backend.asnumpy(a).sum(axis=2), 1.0)
    _assert_all_close(kernels.attention.backward(dcs, cache),
                      kernels.attention.backward_reference(dcs, cache_r), "attention backward")


def test_fused_lstm_float32_matches_float64_reference(xp32, rng):
    """The single-pass exp formulation stays accurate in float32, saturated inputs included."""
    xp = xp32
    N, T, D, H = 4, 8, 6, 8
    args64 = [rng.standard_normal(s) * k for s, k in
              (((N, T, D), 8), ((N, H), 1), ((N, H), 1), ((D, 4 * H), 1), ((H, 4 * H), 1),
               ((4 * H,), 1))]
    hs32, _, _ = kernels.lstm.forward(*[xp.asarray(a, dtype=numpy.float32) for a in args64])
    hs64, _, _ = kernels.lstm.forward_reference(*args64)
    numpy.testing.assert_allclose(backend.asnumpy(hs32), hs64, atol=2e-5)

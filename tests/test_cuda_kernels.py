"""The CUDA kernels of kernels/cuda.py against the NumPy passes they replace.

On the CPU each kernel's body is interpreted element by element (its restricted CUDA C read as
Python), so that the kernels' indexing and arithmetic are checked on every machine; under
``S2S_BACKEND=cupy`` on a GPU the fused-kernel, gradient and model tests run the compiled kernels.
test_cuda_compile.py compiles them for the H100 with NVRTC, which needs no GPU.
"""
import math
import re

import numpy
import pytest

from s2sxp.kernels import cuda, gru, lstm

N, H = 3, 4
#: kernels/cuda.py's PREAMBLE, the functions it declares, in Python.
PREAMBLE = {"sigmoid_of_scaled": lambda s: 1 / (1 + math.exp(s)),
            "tanh_of_scaled": lambda s: 2 / (1 + math.exp(s)) - 1,
            "grad_sigmoid": lambda y: y * (1 - y), "grad_tanh": lambda y: 1 - y * y}


def _statements(body):
    """The kernel body as Python statements: declarations become assignments, one per name."""
    out = []
    for stmt in body.split(";"):
        stmt = re.sub(r"^const (T|ptrdiff_t) ", "", stmt.strip())
        depth, start = 0, 0
        for j, ch in enumerate(stmt + ","):
            depth += ch in "([" and 1 or ch in ")]" and -1 or 0
            if ch == "," and depth == 0:
                if stmt[start:j].strip():
                    out.append(stmt[start:j].strip().replace("i / H", "i // H"))
                start = j + 1
    return compile("\n".join(out), "<cuda kernel>", "exec")


def _interpret(body, ins, outs):
    """Run the kernel body for i in range(N·H) over flat copies of the arrays (a raw CuPy array
    is indexed by the flat C-order index of its own shape); write the outputs back."""
    code = _statements(body)
    names = {**ins, **outs}
    flat = {k: (v.reshape(-1).copy() if isinstance(v, numpy.ndarray) else v)
            for k, v in names.items()}
    env = {"exp": math.exp, "tanh": math.tanh, **PREAMBLE, **flat}
    size = next(iter(outs.values())).shape[0] * ins["H"]
    for i in range(size):
        env["i"] = i
        exec(code, env)
    for k, v in outs.items():
        v[...] = env[k].reshape(v.shape)


def _randn(rng, *shape):
    return rng.standard_normal(shape)


def _gates(rng, G):
    """Gate values as forward leaves them: σ in (0, 1), tanh gates in (-1, 1)."""
    g = rng.uniform(0.05, 0.95, (N, G * H))
    tanh_block = slice(H, 2 * H) if G == 4 else slice(2 * H, 3 * H)
    g[:, tanh_block] = rng.uniform(-0.95, 0.95, (N, H))
    return g


def _close(got, want, what):
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=what)


def test_lstm_forward_kernel_equals_numpy_passes(rng):
    g, c_prev = _randn(rng, N, 4 * H), _randn(rng, N, H)
    want = [g.copy(), numpy.empty((N, H)), numpy.empty((N, H)), numpy.empty((N, H))]
    lstm.step_forward(numpy, want[0], c_prev, *want[1:], numpy.empty((N, H)))
    got = [g.copy(), numpy.empty((N, H)), numpy.empty((N, H)), numpy.empty((N, H))]
    _interpret(cuda._LSTM_FORWARD, {"c_prev": c_prev, "H": H},
               dict(zip(["g", "c", "tanh_c", "h"], got)))
    for name, a, b in zip(["gates", "c", "tanh(c)", "h"], got, want):
        _close(a, b, name)


def test_lstm_backward_kernel_equals_numpy_passes(rng):
    g, c_prev, tanh_c = _gates(rng, 4), _randn(rng, N, H), numpy.tanh(_randn(rng, N, H))
    dh, dc, Wh_T = _randn(rng, N, H), _randn(rng, N, H), _randn(rng, 4 * H, H)
    alpha, beta = numpy.ones(4 * H), numpy.zeros(4 * H)
    alpha[H:2 * H], beta[H:2 * H] = 0, 1
    want_dh, want_dc, want_da = dh.copy(), dc.copy(), numpy.empty((N, 4 * H))
    lstm.step_backward(numpy, g, c_prev, tanh_c, want_dh, want_dc, want_da, Wh_T, (alpha, beta),
                       (numpy.empty((N, 4 * H)), numpy.empty((N, H))))
    got_dc, got_da = dc.copy(), numpy.empty((N, 4 * H))
    _interpret(cuda._LSTM_BACKWARD, {"g": g, "c_prev": c_prev, "tanh_c": tanh_c, "dh": dh, "H": H},
               {"dc": got_dc, "da": got_da})
    _close(got_da, want_da, "da")
    _close(got_dc, want_dc, "dc_prev")
    _close(got_da @ Wh_T, want_dh, "dh_prev")


def test_gru_forward_kernels_equal_numpy_passes(rng):
    g, h_prev = _randn(rng, N, 3 * H), _randn(rng, N, H)
    Wh_zr, Wh_h = _randn(rng, H, 2 * H), _randn(rng, H, H)
    want = [g.copy(), numpy.empty((N, H)), numpy.empty((N, H))]
    gru.step_forward(numpy, want[0], h_prev, want[1], want[2], Wh_zr, Wh_h,
                     numpy.empty((N, 2 * H)), numpy.empty((N, H)))
    got_g, got_rh, got_h = g.copy(), numpy.empty((N, H)), numpy.empty((N, H))
    _interpret(cuda._GRU_GATES, {"rec": h_prev @ Wh_zr, "h_prev": h_prev, "H": H},
               {"g": got_g, "rh": got_rh})
    _interpret(cuda._GRU_STATE, {"rec": got_rh @ Wh_h, "h_prev": h_prev, "H": H},
               {"g": got_g, "h": got_h})
    for name, a, b in zip(["gates", "r ⊙ h_prev", "h"], [got_g, got_rh, got_h], want):
        _close(a, b, name)


def test_gru_backward_kernels_equal_numpy_passes(rng):
    g, h_prev, dh = _gates(rng, 3), _randn(rng, N, H), _randn(rng, N, H)
    Wh_zr_T, Wh_h_T = _randn(rng, 2 * H, H), _randn(rng, H, H)
    want_dh, want_da = dh.copy(), numpy.empty((N, 3 * H))
    gru.step_backward(numpy, g, h_prev, want_dh, want_da, Wh_zr_T, Wh_h_T,
                      *(numpy.empty((N, H)) for _ in range(3)))
    got_dh, got_da = dh.copy(), numpy.empty((N, 3 * H))
    _interpret(cuda._GRU_BACKWARD_1, {"g": g, "h_prev": h_prev, "dh": dh, "H": H},
               {"da": got_da})
    dhr = got_da[:, 2 * H:] @ Wh_h_T
    _interpret(cuda._GRU_BACKWARD_2, {"g": g, "h_prev": h_prev, "dhr": dhr, "H": H},
               {"dh": got_dh, "da": got_da})
    got_dh += got_da[:, :2 * H] @ Wh_zr_T
    _close(got_da, want_da, "da")
    _close(got_dh, want_dh, "dh_prev")


@pytest.mark.parametrize("kernel", ["_LSTM_FORWARD", "_LSTM_BACKWARD", "_GRU_GATES", "_GRU_STATE",
                                    "_GRU_BACKWARD_1", "_GRU_BACKWARD_2"])
def test_kernels_use_no_names_cupy_reserves(kernel):
    """ElementwiseKernel reserves n, i (the index, read only) and names starting with _."""
    code = _statements(getattr(cuda, kernel))
    assert "n" not in code.co_names and not any(name.startswith("_") for name in code.co_names)
    assert not re.search(r"\bi\s*=[^=]", getattr(cuda, kernel))

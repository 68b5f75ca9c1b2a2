"""The elementwise work of a recurrent step as one CUDA kernel each, for CuPy arrays.

On the GPU every array operation is a kernel launch, and a step written as NumPy passes would
launch ten or more per step; here each step's elementwise work between two GEMMs is one launch.
The kernels read the gate layouts of kernels/lstm.py and kernels/gru.py: pre-activations scaled by
-1 (σ gates) and -2 (the tanh gate), so that σ(a) = 1 / (1 + exp(scaled)) and
tanh(a) = 2 / (1 + exp(scaled)) - 1, written once in a preamble all the kernels share, with the
derivatives σ' = y(1 - y) and tanh' = 1 - y². Each kernel runs over the N·H elements of a step's
state; the gate arrays are indexed as raw (N, G·H) arrays (views with strides allowed), element
(row, k·H + j) for gate k. Kernels are compiled on first use, per array module; nothing here runs
on NumPy arrays. The NumPy passes they replace are the specification, and the test suite holds them
to it under ``S2S_BACKEND=cupy``.
"""
import functools

#: The gate functions of a scaled pre-activation s (-a for a σ gate, -2a for a tanh gate) and
#: their derivatives from a gate's value y, for every kernel below.
PREAMBLE = r"""
template <typename F> __device__ F sigmoid_of_scaled(F s) { return 1 / (1 + exp(s)); }
template <typename F> __device__ F tanh_of_scaled(F s) { return 2 / (1 + exp(s)) - 1; }
template <typename F> __device__ F grad_sigmoid(F y) { return y * (1 - y); }
template <typename F> __device__ F grad_tanh(F y) { return 1 - y * y; }
"""

_LSTM_FORWARD = r"""
    const ptrdiff_t row = i / H, k = row * 4 * H + i % H;
    const T f = sigmoid_of_scaled(g[k]);
    const T gg = tanh_of_scaled(g[k + H]);
    const T ig = sigmoid_of_scaled(g[k + 2 * H]);
    const T o = sigmoid_of_scaled(g[k + 3 * H]);
    g[k] = f;
    g[k + H] = gg;
    g[k + 2 * H] = ig;
    g[k + 3 * H] = o;
    const T c_new = f * c_prev[i] + gg * ig;
    const T tc = tanh(c_new);
    c[i] = c_new;
    tanh_c[i] = tc;
    h[i] = o * tc;
"""

_LSTM_BACKWARD = r"""
    const ptrdiff_t row = i / H, k = row * 4 * H + i % H;
    const T f = g[k], gg = g[k + H], ig = g[k + 2 * H], o = g[k + 3 * H];
    const T tc = tanh_c[i];
    const T dh_ = dh[i];
    const T dc_ = dc[i] + dh_ * o * grad_tanh(tc);
    da[k] = dc_ * c_prev[i] * grad_sigmoid(f);
    da[k + H] = dc_ * ig * grad_tanh(gg);
    da[k + 2 * H] = dc_ * gg * grad_sigmoid(ig);
    da[k + 3 * H] = dh_ * tc * grad_sigmoid(o);
    dc[i] = dc_ * f;
"""

_GRU_GATES = r"""
    const ptrdiff_t row = i / H, k = row * 3 * H + i % H, m = row * 2 * H + i % H;
    const T z = sigmoid_of_scaled(g[k] + rec[m]);
    const T r = sigmoid_of_scaled(g[k + H] + rec[m + H]);
    g[k] = z;
    g[k + H] = r;
    rh[i] = r * h_prev[i];
"""

_GRU_STATE = r"""
    const ptrdiff_t row = i / H, k = row * 3 * H + i % H;
    const T hh = tanh_of_scaled(g[k + 2 * H] + rec[i]);
    g[k + 2 * H] = hh;
    h[i] = h_prev[i] + g[k] * (hh - h_prev[i]);
"""

_GRU_BACKWARD_1 = r"""
    const ptrdiff_t row = i / H, k = row * 3 * H + i % H;
    const T z = g[k], hh = g[k + 2 * H];
    da[k + 2 * H] = dh[i] * z * grad_tanh(hh);
    da[k] = dh[i] * (hh - h_prev[i]) * grad_sigmoid(z);
"""

_GRU_BACKWARD_2 = r"""
    const ptrdiff_t row = i / H, k = row * 3 * H + i % H;
    const T z = g[k], r = g[k + H];
    da[k + H] = dhr[i] * h_prev[i] * grad_sigmoid(r);
    dh[i] = dh[i] * (1 - z) + dhr[i] * r;
"""


@functools.cache
def _kernel(xp, name, in_params, out_params, body):
    return xp.ElementwiseKernel(in_params, out_params, body, f"s2sxp_{name}", preamble=PREAMBLE)


def _run(xp, name, in_params, out_params, body, ins, outs):
    """One launch over the N·H elements of a step's state: H is the last input, and the last
    output has the batch's N rows."""
    H = ins[-1]
    _kernel(xp, name, in_params, out_params, body)(*ins, *outs, size=outs[-1].shape[0] * H)


def lstm_forward(xp, g, c_prev, c, tanh_c, h):
    """g (N, 4H) scaled pre-activations -> gates [f | g | i | o] in place; writes c = f ⊙ c_prev +
    g ⊙ i, tanh(c) and h = o ⊙ tanh(c) (N, H)."""
    _run(xp, "lstm_forward", "raw T c_prev, int32 H", "raw T g, raw T c, raw T tanh_c, raw T h",
         _LSTM_FORWARD, (c_prev, h.shape[1]), (g, c, tanh_c, h))


def lstm_backward(xp, g, c_prev, tanh_c, dh, dc, da):
    """Gates g, c_prev, tanh(c) of the step and dh, dc at its output -> da (N, 4H), the gradient
    of the unscaled pre-activations; dc replaced by the gradient of c_prev."""
    _run(xp, "lstm_backward", "raw T g, raw T c_prev, raw T tanh_c, raw T dh, int32 H",
         "raw T dc, raw T da", _LSTM_BACKWARD, (g, c_prev, tanh_c, dh, dh.shape[1]), (dc, da))


def gru_gates(xp, g, rec, h_prev, rh):
    """g (N, 3H) with the scaled input part, rec (N, 2H) = h_prev·[Whz | Whr] scaled -> z, r in
    place of their pre-activations; writes rh = r ⊙ h_prev."""
    _run(xp, "gru_gates", "raw T rec, raw T h_prev, int32 H", "raw T g, raw T rh", _GRU_GATES,
         (rec, h_prev, h_prev.shape[1]), (g, rh))


def gru_state(xp, g, rec, h_prev, h):
    """rec (N, H) = (r ⊙ h_prev)·Whh scaled -> ĥ in place of its pre-activation; writes
    h = h_prev + z ⊙ (ĥ - h_prev)."""
    _run(xp, "gru_state", "raw T rec, raw T h_prev, int32 H", "raw T g, raw T h", _GRU_STATE,
         (rec, h_prev, h.shape[1]), (g, h))


def gru_backward_1(xp, g, h_prev, dh, da):
    """The ĥ and z columns of da from dh at the step's output."""
    _run(xp, "gru_backward_1", "raw T g, raw T h_prev, raw T dh, int32 H", "raw T da",
         _GRU_BACKWARD_1, (g, h_prev, dh, dh.shape[1]), (da,))


def gru_backward_2(xp, g, h_prev, dhr, dh, da):
    """The r columns of da from dhr = d(r ⊙ h_prev); dh replaced by dh ⊙ (1 - z) + dhr ⊙ r, the
    part of dh_prev that does not pass through the z and r GEMM."""
    _run(xp, "gru_backward_2", "raw T g, raw T h_prev, raw T dhr, int32 H", "raw T dh, raw T da",
         _GRU_BACKWARD_2, (g, h_prev, dhr, dh.shape[1]), (dh, da))

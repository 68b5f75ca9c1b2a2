"""The CUDA kernels of kernels/cuda.py compiled for an H100 (sm_90) by NVRTC, on a machine with no
GPU: NVRTC needs neither a device nor a driver, only its library, which the ``cuda-compile`` extra
installs on Linux x86-64 (nvidia-cuda-nvrtc-cu12); without it these tests are skipped. A body that
does not compile, names a parameter its kernel does not declare or writes to an input fails here,
with NVRTC's log, before any GPU runs it.

Each kernel is taken as kernels/cuda.py builds and launches it (its functions are called with a
stand-in for cupy that records the ElementwiseKernel), in float32 and float64, and compiled as:

- a wrapper that declares it as CuPy does: one ``extern "C" __global__`` function, the ``raw T``
  parameters as pointers (to const for inputs), scalars as const, ``T`` a typedef, ``i`` the
  element index; everywhere NVRTC is installed;
- the translation unit CuPy itself generates for it, with CuPy's headers and compile options
  (CuPy's code generator runs without a GPU); where CuPy is installed too.
"""
import ctypes
import ctypes.util
import functools
import importlib.util
import inspect
import pathlib
from dataclasses import dataclass

import numpy
import pytest

from s2sxp.kernels import cuda

ARCH = "sm_90"                       # the H100's; NVRTC writes its machine code (cubin)
N, H = 3, 4
DTYPES = ("float32", "float64")
C_TYPES = {"int32": "int", "int64": "long long", "float32": "float", "float64": "double"}
#: What CuPy adds to every NVRTC compile besides -arch (cupy/cuda/compiler.py); its header and
#: include options come on top, with --std=c++17.
CUPY_NVRTC_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
WRAPPER_OPTIONS = ("--std=c++17", *CUPY_NVRTC_OPTIONS)

#: Each kernel function of kernels/cuda.py and the widths, in units of H, of its (N, ·) arrays.
KERNELS = {
    "lstm_forward": (cuda.lstm_forward, (4, 1, 1, 1, 1)),
    "lstm_backward": (cuda.lstm_backward, (4, 1, 1, 1, 1, 4)),
    "gru_gates": (cuda.gru_gates, (3, 2, 1, 1)),
    "gru_state": (cuda.gru_state, (3, 1, 1, 1)),
    "gru_backward_1": (cuda.gru_backward_1, (3, 1, 1, 3)),
    "gru_backward_2": (cuda.gru_backward_2, (3, 1, 1, 1, 3)),
}


@functools.cache
def _nvrtc():
    """libnvrtc from the nvidia-cuda-nvrtc-cu12 wheel, else the system's; None where there is
    none."""
    paths = []
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except ImportError:
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        paths += sorted(pathlib.Path(folder, "lib").glob("libnvrtc.so.*"))
    paths.append(ctypes.util.find_library("nvrtc"))
    for path in filter(None, paths):
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        return lib
    return None


@functools.cache
def _cupy():
    """cupy where it imports (no GPU needed), else None."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


needs_nvrtc = pytest.mark.skipif(
    _nvrtc() is None, reason="NVRTC is not installed: `pip install nvidia-cuda-nvrtc-cu12` "
                             "(Linux x86-64; the `cuda-compile` extra does it there)")
needs_cupy = pytest.mark.skipif(_cupy() is None, reason="CuPy is not installed")


def _nvrtc_version():
    major, minor = ctypes.c_int(), ctypes.c_int()
    _nvrtc().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return f"{major.value}.{minor.value}"


def _compile(source, options):
    """Compile ``source`` for ARCH: (NVRTC's result, 0 for success; its log; the cubin's size)."""
    lib = _nvrtc()
    prog = ctypes.c_void_p()
    result = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"kernel.cu", 0, None,
                                    None)
    assert result == 0, lib.nvrtcGetErrorString(result).decode()
    try:
        opts = [o.encode() for o in (*options, f"-arch={ARCH}")]
        result = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        size.value = 0
        if result == 0:
            lib.nvrtcGetCUBINSize(prog, ctypes.byref(size))
        return result, log.value.decode(errors="replace"), size.value
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@dataclass
class _Launch:
    """One ElementwiseKernel as kernels/cuda.py builds it, and the arguments it launches it with."""
    in_params: str
    out_params: str
    body: str
    name: str
    args: tuple
    preamble: str = ""


class _RecordingXp:
    """Takes cupy's place in a kernels/cuda.py function: records the ElementwiseKernel the
    function builds and its launch, and runs nothing."""

    def __init__(self):
        self.launches = []

    def ElementwiseKernel(self, in_params, out_params, body, name, preamble=""):
        def launch(*args, size):
            self.launches.append(_Launch(in_params, out_params, body, name, args, preamble))
        return launch


def _launch(kernel, dtype):
    function, widths = KERNELS[kernel]
    xp = _RecordingXp()
    function(xp, *(numpy.zeros((N, w * H), dtype) for w in widths))
    (launch,) = xp.launches
    n_params = len(f"{launch.in_params}, {launch.out_params}".split(","))
    assert len(launch.args) == n_params, (
        f"{launch.name} is launched with {len(launch.args)} arguments for {n_params} parameters")
    return launch


def _declare(params, const):
    """An ElementwiseKernel parameter list as C parameters: ``raw T x`` a pointer (to const for
    an input), a scalar its C type, const."""
    out = []
    for param in params.split(","):
        *kind, name = param.split()
        if kind == ["raw", "T"]:
            out.append(f"{'const ' if const else ''}T* {name}")
        elif len(kind) == 1 and kind[0] in C_TYPES and const:
            out.append(f"const {C_TYPES[kind[0]]} {name}")
        else:
            raise ValueError(f"the wrapper declares raw T arrays and input scalars, not {param!r}")
    return out


def _wrapper_source(launch, dtype):
    params = _declare(launch.in_params, True) + _declare(launch.out_params, False)
    return (f"typedef {C_TYPES[dtype]} T;\n{launch.preamble}\n"
            f'extern "C" __global__ void {launch.name}({", ".join(params)}, '
            "const ptrdiff_t _size) {\n"
            "    const ptrdiff_t i = (ptrdiff_t)blockIdx.x * blockDim.x + threadIdx.x;\n"
            "    if (i >= _size) return;\n"
            f"{launch.body}\n}}\n")


def _cupy_source(launch, dtype):
    """The translation unit and NVRTC options CuPy makes for the kernel over 2-D raw arrays of
    ``dtype`` (views with strides, as the models pass), from CuPy's own code generator
    (cupy/_core/_kernel.pyx), less the architecture it would read from the device."""
    cupy = _cupy()
    from cupy._core import _carray, _kernel, _scalar, core
    ndarray, indexer, scalar = 1, 2, 3                # _ArgKind, cupy/_core/_kernel.pxd
    kernel = cupy.ElementwiseKernel(launch.in_params, launch.out_params, launch.body, launch.name,
                                    preamble=launch.preamble)
    dtype = numpy.dtype(dtype)
    infos = tuple(
        _kernel._ArgInfo(indexer, _carray.Indexer, None, 1, True, True) if p.name == "_ind" else
        _kernel._ArgInfo(ndarray, cupy.ndarray, dtype, 2, False, True) if p.raw else
        _kernel._ArgInfo(scalar, _scalar.CScalar, p.dtype, 0, True, True)
        for p in kernel.params)
    code = _kernel._get_elementwise_kernel_code(
        infos, _kernel._TypeMap((("T", dtype),)), kernel.params, kernel.operation, kernel.name,
        kernel.preamble)
    headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    options = core.assemble_cupy_compiler_options(()) + CUPY_NVRTC_OPTIONS
    return headers + code, options


def _assert_compiles(launch, dtype, source, options):
    result, log, cubin = _compile(source, options)
    numbered = "\n".join(f"{n:4} {line}" for n, line in enumerate(source.splitlines(), 1))
    assert result == 0 and cubin > 0, (
        f"{launch.name} ({dtype}) does not compile for {ARCH} with NVRTC {_nvrtc_version()}:\n"
        f"{log}\n{numbered}")


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_compiles_for_h100(kernel, dtype):
    launch = _launch(kernel, dtype)
    _assert_compiles(launch, dtype, _wrapper_source(launch, dtype), WRAPPER_OPTIONS)


@needs_nvrtc
@needs_cupy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_as_cupy_generates_it_compiles_for_h100(kernel, dtype):
    launch = _launch(kernel, dtype)
    try:
        source, options = _cupy_source(launch, dtype)
    except (AttributeError, TypeError, ImportError) as e:
        pytest.skip(f"CuPy {_cupy().__version__}'s kernel code generator is not the one this "
                    f"test knows: {e!r}")
    _assert_compiles(launch, dtype, source, options)


@needs_nvrtc
@pytest.mark.parametrize("old, new, error", [
    ("tanh(", "tahn(", 'identifier "tahn" is undefined'),
    ("c_prev[i]", "cprev[i]", 'identifier "cprev" is undefined'),
    ("c[i] = c_new", "c_prev[i] = c_new", "expression must be a modifiable lvalue"),
], ids=["typo", "undeclared name", "input written to"])
def test_a_broken_body_fails_with_nvrtcs_log(old, new, error):
    launch = _launch("lstm_forward", "float32")
    launch.body = launch.body.replace(old, new)
    with pytest.raises(AssertionError, match=error):
        _assert_compiles(launch, "float32", _wrapper_source(launch, "float32"), WRAPPER_OPTIONS)


def test_every_kernel_function_is_compiled():
    functions = {name for name, f in inspect.getmembers(cuda, inspect.isfunction)
                 if not name.startswith("_") and f.__module__ == cuda.__name__}
    assert functions == set(KERNELS)

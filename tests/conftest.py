"""The backend matrix: tests that take ``xp`` run once on NumPy and once on CuPy (skipped, with
the reason, where no GPU is usable). ``S2S_BACKEND=cupy pytest`` runs the whole suite on the GPU."""
import os

import numpy
import pytest

from s2sxp import backend

BACKEND_PARAMS = [
    pytest.param("numpy"),
    pytest.param("cupy", marks=pytest.mark.skipif(
        not backend.gpu_available(), reason="CuPy with a usable GPU is not available")),
]


def _default_backend():
    name = os.environ.get("S2S_BACKEND", "numpy")
    return "cupy" if name == "auto" and backend.gpu_available() else (
        "numpy" if name == "auto" else name)


@pytest.fixture(params=BACKEND_PARAMS)
def xp(request):
    """The array module of each backend, active in float64 (for gradient checks)."""
    backend.use(request.param, dtype="float64")
    yield backend.xp
    backend.use(_default_backend())


@pytest.fixture
def xp32():
    """The suite's default backend (``S2S_BACKEND``, NumPy if unset) in float32."""
    backend.use(_default_backend(), dtype="float32")
    yield backend.xp
    backend.use(_default_backend())


@pytest.fixture
def rng():
    return numpy.random.default_rng(0)

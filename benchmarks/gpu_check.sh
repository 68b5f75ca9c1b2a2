#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (no network needed: CuPy, NumPy, PyTorch,
# matplotlib and pytest installed beforehand). From the repository root:
#
#     bash benchmarks/gpu_check.sh
#
# Prints the GPU and CuPy's version, runs the test suite with CuPy as the default backend (the
# CPU/GPU matrix: every "cupy" case runs), then the per-epoch benchmark on the CPU and the GPU
# with the PyTorch peer. Everything it prints goes to benchmarks/results/DATE-gpu-check.log too;
# the benchmark writes its DATE-DEVICE.json/.md/.png beside it. Exit status: that of the tests,
# else that of the benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p benchmarks/results
log="benchmarks/results/$(date +%F)-gpu-check.log"

{
    echo "# s2sxp GPU check, $(date -u '+%F %T UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "## nvidia-smi -L"
    nvidia-smi -L || echo "nvidia-smi failed"
    echo "## versions"
    python -c 'import cupy, numpy; print("CuPy", cupy.__version__, "NumPy", numpy.__version__); \
print("CUDA runtime", cupy.cuda.runtime.runtimeGetVersion()); \
print("device", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())' \
        || echo "CuPy does not work here"
    python -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)' \
        || echo "no PyTorch"

    echo "## tests, S2S_BACKEND=cupy"
    S2S_BACKEND=cupy python -m pytest -q -rs --durations=10
    tests=$?

    echo "## benchmark, CPU and GPU"
    OMP_WAIT_POLICY=PASSIVE python benchmarks/epoch_cost.py --devices cpu,gpu
    bench=$?
    echo "## exit: tests $tests, benchmark $bench"
    [ "$tests" -ne 0 ] && exit "$tests"
    exit "$bench"
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"

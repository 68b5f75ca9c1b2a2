#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (no network needed: CuPy, NumPy, PyTorch,
# matplotlib and pytest installed beforehand). From the repository root:
#
#     bash benchmarks/gpu_check.sh [OUTDIR]
#
# Prints the GPU and CuPy's version, runs the test suite with CuPy as the default backend (the
# CPU/GPU matrix: every "cupy" case runs; stops at the first failure), then the per-epoch
# benchmark's GPU rows for every model beside PyTorch (cuDNN) on the same GPU, then the
# all-reduce benchmark's NCCL path on one rank (benchmarks/allreduce.py). Everything it
# prints goes to OUTDIR/DATE-gpu-check.log (OUTDIR: the argument, else $OUT, else
# benchmarks/results); the benchmark writes its DATE-gpu.json/.md/.png beside it. Each part has
# a time limit, so that the whole stays under 10 minutes. Exit status: that of the tests, else
# that of the benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${1:-${OUT:-benchmarks/results}}"
mkdir -p "$out"
log="$out/$(date +%F)-gpu-check.log"

{
    echo "# s2sxp GPU check, $(date -u '+%F %T UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "## nvidia-smi -L"
    nvidia-smi -L || echo "nvidia-smi failed"
    echo "## versions"
    python -c 'import cupy, numpy; print("CuPy", cupy.__version__, "NumPy", numpy.__version__); \
print("CUDA runtime", cupy.cuda.runtime.runtimeGetVersion()); \
print("device", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())' \
        || echo "CuPy does not work here"
    python -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, \
"cuDNN", torch.backends.cudnn.version())' || echo "no PyTorch"

    echo "## tests, S2S_BACKEND=cupy (at most 240 s)"
    S2S_BACKEND=cupy timeout 240 python -m pytest -x -q -rs --durations=15
    tests=$?

    echo "## benchmark, GPU rows beside PyTorch (at most 180 s)"
    timeout 180 python -m benchmarks.epoch_cost --devices gpu --iterations 10 --eval-repeats 2 --out "$out"
    bench=$?
    echo "## training over MPI ranks on the GPU: NCCL's all-reduce, 1 rank (at most 120 s)"
    S2S_BACKEND=cupy timeout 120 python -m benchmarks.allreduce --ranks 1 --rounds 1 \
        --iterations 10 --lines 5000 --out "$out" --tag gpu
    echo "## exit: tests $tests, benchmark $bench, all-reduce $?"
    [ "$tests" -ne 0 ] && exit "$tests"
    exit "$bench"
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"

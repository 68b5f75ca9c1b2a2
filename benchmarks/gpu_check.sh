#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (no network needed: CuPy, NumPy, PyTorch,
# matplotlib and pytest installed beforehand). From the repository root:
#
#     bash benchmarks/gpu_check.sh [OUTDIR]
#
# Through the device tool, with the corpus and the serve extra carried in ignored folders:
#     mkdir -p .corpus && cp -r ../shared/corpora/tatoeba-jpn-eng .corpus/
#     pip install --target .gpu-deps starlette uvicorn    # the device image has neither
#     run(command='bash benchmarks/gpu_check.sh "$OUT"', carry=[".corpus", ".gpu-deps"],
#         timeout_s=540)
#
# Prints the GPU and CuPy's version, runs the test suite with CuPy as the default backend (the
# CPU/GPU matrix: every "cupy" case runs; stops at the first failure), then the per-epoch
# benchmark's GPU rows for every model beside PyTorch (cuDNN) on the same GPU, then the
# real-corpus path where the Tatoeba corpus is at hand (S2S_CORPUS, else .corpus/tatoeba-jpn-eng,
# a copy the device call carries, else ../shared/corpora/tatoeba-jpn-eng): one epoch of a
# bidirectional Bahdanau model with dropout over the first 20,000 pairs by subwords, its seconds
# and dev BLEU, then beam-5 translation of the 1,000 test sentences in sentences a second; then
# one round of requests to `s2sxp serve` on the GPU with that model (where Starlette and uvicorn
# are at hand, .gpu-deps carried); then the all-reduce benchmark's NCCL path on one rank
# (benchmarks/allreduce.py). The book's calling contract (generate of one question,
# save_params/load_params, the attention weights) runs in the tests (tests/test_book.py). Everything it
# prints goes to OUTDIR/DATE-gpu-check.log (OUTDIR: the argument, else $OUT, else
# benchmarks/results/gpu); the benchmark writes its DATE-gpu.json/.md/.png and the all-reduce
# benchmark its DATE-allreduce-gpu.json/.md beside it. Each part has
# a time limit, so that the whole stays under 8 minutes. Exit status: that of the tests, else
# that of the benchmark.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
[ -d .gpu-deps ] && export PYTHONPATH="$PYTHONPATH:$PWD/.gpu-deps"
out="${1:-${OUT:-benchmarks/results/gpu}}"
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

    echo "## tests, S2S_BACKEND=cupy (at most 200 s)"
    S2S_BACKEND=cupy timeout 200 python -m pytest -x -q -rs --durations=15
    tests=$?

    echo "## benchmark, GPU rows beside PyTorch (at most 120 s)"
    timeout 120 python -m benchmarks.epoch_cost --devices gpu --iterations 10 --eval-repeats 2 --out "$out"
    bench=$?

    corpus=""
    for c in "${S2S_CORPUS:-}" .corpus/tatoeba-jpn-eng ../shared/corpora/tatoeba-jpn-eng; do
        [ -n "$c" ] && [ -f "$c/train.tsv" ] && corpus="$c" && break
    done
    if [ -n "$corpus" ]; then
        echo "## real corpus: $corpus, 20,000 pairs, bidirectional Bahdanau GRU (at most 100 s)"
        work="$(mktemp -d)"
        head -n 20000 "$corpus/train.tsv" > "$work/train.tsv"
        cut -f2 "$corpus/test.tsv" > "$work/test.ja"
        S2S_BACKEND=cupy timeout 70 python -m s2sxp train --data "$work/train.tsv" \
            --dev "$corpus/dev.tsv" --source-column 2 --tokens spm --vocab-size 4000 \
            --model bahdanau --bidirectional --dropout 0.2 --epochs 1 --out "$work/run"
        [ -f "$work/run/best.npz" ] && S2S_BACKEND=cupy timeout 30 python -m s2sxp translate \
            --run "$work/run/best.npz" --input "$work/test.ja" --output "$work/test.en" --beam 5
        if [ -f "$work/run/best.npz" ] && python -c "import starlette, uvicorn" 2>/dev/null; then
            echo "## s2sxp serve on the GPU: one round of 8 concurrent requests (at most 60 s)"
            S2S_BACKEND=cupy timeout 60 python -m s2sxp serve --run "$work/run/best.npz" \
                --port 8765 &
            server=$!
            timeout 50 python - "$corpus/test.tsv" <<'PY'
import json, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
lines = [l.split("\t")[1].strip() for l in open(sys.argv[1], encoding="utf-8")][:8]
for _ in range(40):
    try:
        urllib.request.urlopen("http://127.0.0.1:8765/health", timeout=1)
        break
    except OSError:
        time.sleep(1)
def ask(text):
    body = json.dumps({"text": text, "beam": 5}).encode()
    return json.load(urllib.request.urlopen("http://127.0.0.1:8765/translate", body, timeout=30))
start = time.time()
with ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(ask, lines))
print(f"{len(answers)} answers in {time.time() - start:.2f} s:", answers[:2])
PY
            kill -TERM "$server"; wait "$server"; echo "serve exited $?"
        fi
        echo "## JoeyNMT is not run here: its requirements (datasets with pyarrow, pandas," \
            "tensorboard, ...) do not fit the 64 MiB a device call carries"
    else
        echo "## real corpus: none at hand (S2S_CORPUS, .corpus/tatoeba-jpn-eng)"
    fi

    echo "## training over MPI ranks on the GPU: NCCL's all-reduce, 1 rank (at most 60 s)"
    S2S_BACKEND=cupy timeout 60 python -m benchmarks.allreduce --ranks 1 --rounds 1 \
        --iterations 10 --lines 5000 --out "$out" --tag gpu
    echo "## exit: tests $tests, benchmark $bench, all-reduce $?"
    [ "$tests" -ne 0 ] && exit "$tests"
    exit "$bench"
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"

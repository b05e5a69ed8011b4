#!/usr/bin/env bash
# Every CUDA check and GPU measurement of the training stage in one pass, for a machine with a GPU.
#
#   bash benchmarks/gpu_check.sh                    # tests, throughput, suite (about 14 min on an H100)
#   bash benchmarks/gpu_check.sh tests throughput   # only these parts (about 6 min)
#   PYTHON=python3 OUT=/tmp/gpu bash benchmarks/gpu_check.sh suite
#
# Parts:
#   tests       pytest of the CUDA paths (training vs CPU, CUDA graphs, grouped ensemble, CTC, Gemma, CNN)
#   throughput  train/inference samples/s per model: eager, with CUDA graphs, the ensemble's
#               member-by-member convolutions against the grouped ones, without deterministic kernels
#   suite       the nine full-size models, three at a time, with CUDA graphs (SUITE_ARGS adds options)
# Each part's output goes to $OUT/<part>.log (and the suite's figures to $OUT/suite.json); a part
# that fails or runs past its time limit is reported and the next one still runs.
set -uo pipefail

PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-results/gpu-check}
SUITE_ARGS=${SUITE_ARGS:-}
mkdir -p "$OUT"
export LUMABENCH_PROGRESS=0
status=0

part() {  # part NAME SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "== $name: exit $rc after $((SECONDS - start))s"
    [ "$rc" -eq 0 ] || status=1
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(tests throughput suite)
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
for p in "${parts[@]}"; do
    case $p in
    tests)
        part tests 300 "$PY" -m pytest -q -rs tests/test_cuda.py tests/test_features_finetune.py
        ;;
    throughput)
        bench=("$PY" benchmarks/train_throughput.py --device cuda --text-dim 768 --seconds 1)
        part throughput-eager 150 "${bench[@]}"
        part throughput-graphs 150 "${bench[@]}" --set cuda_graphs=true
        part throughput-members 90 "${bench[@]}" --models de_fused --set ensemble_conv=members
        part throughput-nondeterministic 150 "${bench[@]}" --no-deterministic
        ;;
    suite)
        # shellcheck disable=SC2086  # SUITE_ARGS is a list of options
        part suite 560 "$PY" benchmarks/suite_full_size.py --parallel 3 --set train.cuda_graphs=true \
            --json "$OUT/suite.json" $SUITE_ARGS
        ;;
    *)
        echo "unknown part '$p' (tests, throughput, suite)" >&2
        exit 2
        ;;
    esac
done
exit $status

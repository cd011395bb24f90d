#!/usr/bin/env bash
# Every CUDA check of gpuad in one command, for a machine with an NVIDIA GPU (no network needed). From the repo root:
#
#     bash benchmarks/run_gpu_suite.sh                 # everything, in the order below
#     bash benchmarks/run_gpu_suite.sh tests kernel_bandwidth cross_entropy     # only these steps
#     QUICK=1 bash benchmarks/run_gpu_suite.sh         # fewer rounds and repeats (a smoke run of the benchmarks)
#
# Steps: gpu (nvidia-smi summary, versions, and a check that CuPy and PyTorch see the GPU), tests (the tests marked
# `cuda`: pytest -m cuda), tests_rest (the rest of the test suite, whose device-parametrised tests also run on the GPU
# here), then each benchmark with --device cuda: kernel_bandwidth, cross_entropy, kernel_launches, train_step,
# overhead_table, cheap_gradient, jacobian_table, checkpoint_tradeoff, bench_overhead (pytest-benchmark file, smoke).
#
# A failing step does not stop the others; the script exits 1 at the end if any step failed, listing them. Results
# go to benchmarks/results/*-cuda-<date>.json as usual, and the whole output to
# benchmarks/results/gpu-suite-<host>-<date>.log. Where $OUT (or GPUAD_SUITE_OUT) names a folder, the log and every
# file of benchmarks/results/ written during this run are copied there too.
#
# gpuad must import from this checkout with its CUDA sources (the package gpuad.kernels, which is the top-level
# kernels/ folder): if it does not already, the script runs `pip install --no-deps --no-build-isolation -e .`
# (offline: needs setuptools>=64 in the environment), and failing that points PYTHONPATH at a temporary tree of
# symlinks that puts kernels/ inside gpuad/. Environment: PYTHON (interpreter, default python3 or python),
# STEP_TIMEOUT (seconds per step, default none), QUICK=1.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd -P)
PY=${PYTHON:-$(command -v python3 || command -v python)}
QUICK=${QUICK:-0}
STEP_TIMEOUT=${STEP_TIMEOUT:-}
ALL_STEPS="gpu tests tests_rest kernel_bandwidth cross_entropy kernel_launches train_step overhead_table cheap_gradient
jacobian_table checkpoint_tradeoff bench_overhead"
HOST=$(hostname 2>/dev/null || echo unknown)
mkdir -p benchmarks/results
LOG="benchmarks/results/gpu-suite-$HOST-$(date +%F).log"
MARKER=$(mktemp)
COPY_TO=${GPUAD_SUITE_OUT:-${OUT:-}}

FAILED=()
PASSED=()

step() {  # step NAME COMMAND...: run it, time it, remember whether it failed
    local name=$1
    shift
    echo
    echo "=== [$name] $*"
    local start=$SECONDS
    if [ -n "$STEP_TIMEOUT" ] && command -v timeout >/dev/null; then
        timeout --kill-after=30 "$STEP_TIMEOUT" "$@"
    else
        "$@"
    fi
    local rc=$?
    local took=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        PASSED+=("$name")
        echo "=== [$name] ok (${took}s)"
    else
        FAILED+=("$name (exit $rc)")
        echo "=== [$name] FAILED with exit status $rc (${took}s)"
    fi
}

gpuad_from_here() {  # true when gpuad and gpuad.kernels import, gpuad from this checkout
    "$PY" - "$ROOT" <<'EOF' 2>/dev/null
import os, sys
sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
import gpuad, gpuad.kernels
root = os.path.realpath(sys.argv[1])
sys.exit(0 if os.path.realpath(gpuad.__file__).startswith(root + os.sep) else 3)
EOF
}

setup_gpuad() {
    if gpuad_from_here; then
        echo "gpuad imports from $ROOT"
        return 0
    fi
    echo "gpuad does not import from $ROOT with its CUDA sources: pip install --no-deps --no-build-isolation -e ."
    if "$PY" -m pip install --no-deps --no-build-isolation --no-index -q -e . && gpuad_from_here; then
        echo "installed (editable)"
        return 0
    fi
    echo "pip install failed: using a symlink tree on PYTHONPATH instead"
    local shadow
    shadow=$(mktemp -d)
    mkdir "$shadow/gpuad"
    for entry in "$ROOT"/gpuad/*; do
        ln -s "$entry" "$shadow/gpuad/$(basename "$entry")"
    done
    ln -s "$ROOT/kernels" "$shadow/gpuad/kernels"
    export PYTHONPATH="$shadow${PYTHONPATH:+:$PYTHONPATH}"
    export PYTHONSAFEPATH=1  # python -m / -c would otherwise put the checkout's own gpuad/ (without kernels) first
    gpuad_from_here || { echo "gpuad still does not import from $ROOT"; return 1; }
}

gpu_check() {
    command -v nvidia-smi >/dev/null && nvidia-smi || echo "nvidia-smi not found"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm \
        --format=csv
    "$PY" - <<'EOF'
import platform, sys
import numpy
print(f"python {platform.python_version()} ({sys.executable}), numpy {numpy.__version__}")
problems = []
try:
    import cupy
    print(f"cupy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
          f"{cupy.cuda.runtime.getDeviceCount()} device(s)")
except Exception as exc:
    problems.append(f"CuPy: {type(exc).__name__}: {exc}")
try:
    import torch
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}")
    if not torch.cuda.is_available():
        problems.append("PyTorch sees no CUDA GPU")
except ImportError:
    problems.append("PyTorch is not installed")
import gpuad
print(f"gpuad {gpuad.__version__} from {gpuad.__file__}, cuda available: {gpuad.cuda.is_available()}")
if not gpuad.cuda.is_available():
    problems.append("gpuad.cuda.is_available() is False")
for p in problems:
    print("problem:", p)
sys.exit(1 if problems else 0)
EOF
}

pytest_args() {  # the project's addopts need pytest-benchmark; without it, replace them
    if ! "$PY" -c "import pytest_benchmark" 2>/dev/null; then
        echo "-o addopts=-q"
    fi
}

# bench STEP SCRIPT [ARGS...] -- [QUICK ARGS...]: benchmarks/SCRIPT on the GPU with ARGS, plus the quick ones under
# QUICK=1 (uses run()'s $q)
bench() {
    local name=$1 script=$2 args=() quick=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
    [ "${1:-}" = "--" ] && shift
    quick=("$@")
    if [ "$q" = 1 ]; then
        step "$name" "$PY" "benchmarks/$script" --device cuda "${args[@]}" "${quick[@]}"
    else
        step "$name" "$PY" "benchmarks/$script" --device cuda "${args[@]}"
    fi
}

run() {
    local steps=("$@")
    [ ${#steps[@]} -eq 0 ] && read -r -a steps <<< "$(echo $ALL_STEPS)"
    for s in "${steps[@]}"; do
        case " $(echo $ALL_STEPS) " in
            *" $s "*) ;;
            *) echo "unknown step '$s'; steps: $(echo $ALL_STEPS)"; return 2 ;;
        esac
    done
    echo "gpuad GPU suite on $HOST, $(date -Is), steps: ${steps[*]}$([ "$QUICK" != 0 ] && echo " (QUICK=$QUICK)")"
    local dirty
    dirty=$(git -C "$ROOT" status --porcelain -- gpuad kernels 2>/dev/null | grep -q . \
        && echo " (gpuad sources modified)")
    echo "git: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null)$dirty"
    setup_gpuad || FAILED+=("setup")

    local q=0
    [ "$QUICK" != "0" ] && q=1
    local pt
    pt=$(pytest_args)
    for s in "${steps[@]}"; do
        case $s in
            gpu) step gpu gpu_check ;;
            tests) step tests "$PY" -m pytest tests -q -m cuda -p no:cacheprovider -rs $pt ;;
            tests_rest) step tests_rest "$PY" -m pytest tests -q -m "not cuda" -p no:cacheprovider -rs $pt ;;
            kernel_bandwidth) bench "$s" kernel_bandwidth.py -- --repeat 3 --min-time 0.1 ;;
            cross_entropy) bench "$s" cross_entropy.py -- --rounds 2 --steps 10 ;;
            kernel_launches) bench "$s" kernel_launches.py --strict -- --steps 10 ;;
            train_step) bench "$s" train_step.py -- --rounds 1 --steps 10 ;;
            overhead_table) bench "$s" overhead_table.py -- --rounds 2 --repeat 3 ;;
            cheap_gradient) bench "$s" cheap_gradient.py -- --lengths 10 100 --repeat 2 ;;
            jacobian_table) bench "$s" jacobian_table.py -- --sizes 1 10 100 --repeat 2 ;;
            checkpoint_tradeoff) bench "$s" checkpoint_tradeoff.py -- --depths 8 16 --repeat 5 ;;
            bench_overhead)
                if [ -n "$pt" ]; then
                    echo
                    echo "=== [bench_overhead] skipped: pytest-benchmark is not installed"
                else
                    step "$s" env GPUAD_BENCH_DEVICE=cuda "$PY" -m pytest benchmarks/bench_overhead.py -q \
                        -p no:cacheprovider -rs
                fi ;;
        esac
    done

    echo
    echo "=== summary: ${#PASSED[@]} step(s) ok${PASSED[*]:+: ${PASSED[*]}}"
    if [ ${#FAILED[@]} -gt 0 ]; then
        echo "=== FAILED: ${FAILED[*]}"
        return 1
    fi
    echo "=== all steps ok"
    return 0
}

run "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
echo "log: $LOG"
if [ -n "$COPY_TO" ] && [ -d "$COPY_TO" ]; then
    mkdir -p "$COPY_TO/results"
    find benchmarks/results -maxdepth 1 -type f -newer "$MARKER" -exec cp {} "$COPY_TO/results/" \;
    echo "copied the log and this run's results to $COPY_TO/results/"
fi
rm -f "$MARKER"
exit "$status"

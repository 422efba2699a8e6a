#!/usr/bin/env bash
# The GPU tables of benchmarks/RESULTS.md in one command, on a machine with a CUDA GPU and JAX installed (no network
# needed): installs varbench without dependencies, then runs the steps named in STEPS (default: all of them) with
# more estimates per call than on CPU (a GPU needs them to be measured at all). Each step has its own time limit
# (STEP_SECONDS) and a failed step does not stop the others. Writes under ${OUT:-.}:
#   variants   moments_variants.py at dims 100 and 1000: the per-chunk accumulation variants -> variants.md
#   graphs     the same with XLA's while loops as CUDA graphs (no wait for the loop's predicate on the host per
#              chunk; XLA flag xla_gpu_enable_command_buffer) -> variants_graphs.md
#   hlo        the optimized HLO of the kernels and of each variant (XLA's fusions) -> hlo.tar.gz
#   compare    compare.py: varbench against the RNG floor and NumPy, and time to first result -> compare.md/.json
#   sweep      chunk_sweep.py: throughput against the chunk size -> sweep.md
#   tests      the kernel, layout and moments tests on the card -> tests.txt
#   bias       kernel_bias_check.py: bias z-scores of 2^24-estimate runs (unbiased estimators: z ~ N(0, 1)) -> bias.md
#   ttfr       time to first result alone (compare.py's last table) -> ttfr.md
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.}
STEPS=${STEPS:-variants graphs hlo compare sweep tests bias ttfr}
VARIANTS=${VARIANTS:-floor estimates peeled peeled_noise bound bound_noise}
LIMIT=${STEP_SECONDS:-300}
export JAX_PLATFORMS=${JAX_PLATFORMS:-cuda} PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-cache-dir . 2>&1 | grep -v "^WARNING: Running pip as"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
step() { echo "== $1 ($(date +%T))"; [[ " $STEPS " == *" $1 "* ]] || { echo skipped; return; }; shift; timeout "$LIMIT" "$@"; }
HLO=$(mktemp -d)
variants=(python3 benchmarks/moments_variants.py --dims 100 1000 --samples "${SAMPLES:-16777216}" --max-elements 2e9
          --repeats "${REPEATS:-3}")
step variants "${variants[@]}" --hlo-dir "$HLO" --variants $VARIANTS | tee "$OUT/variants.md"
GRAPHS="--xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CUDNN,CONDITIONAL,WHILE"
XLA_FLAGS="${XLA_FLAGS:-} $GRAPHS" step graphs "${variants[@]}" --variants floor peeled_noise bound_noise \
    | tee "$OUT/variants_graphs.md"
step hlo python3 benchmarks/profile_kernel.py --hlo --dim 100 --hlo-dir "$HLO"
[[ -n "$(ls "$HLO")" ]] && tar -czf "$OUT/hlo.tar.gz" -C "$HLO" .
# the NumPy column runs on the host's CPU at every dim: 4e8 elements keep it to seconds
step compare python3 benchmarks/compare.py --dims ${DIMS:-10 100 1000} --samples 4194304 --max-elements 4e8 \
    --repeats "${REPEATS:-3}" --naive-samples 50 --prng-dims 100 --json "$OUT/compare.json" | tee "$OUT/compare.md"
step sweep python3 benchmarks/chunk_sweep.py --dims 100 1000 --chunks 65536 131072 262144 524288 \
    --repeats "${REPEATS:-3}" | tee "$OUT/sweep.md"
step tests python3 -m pytest -q -n 0 -p no:cacheprovider tests/varbench/test_kernel_layout.py \
    tests/varbench/test_stats.py tests/varbench/test_harness.py 2>&1 | tee "$OUT/tests.txt"
step bias python3 benchmarks/kernel_bias_check.py --samples 16777216 | tee "$OUT/bias.md"
step ttfr python3 -c "from benchmarks.compare import time_to_first_result as t
for row in t(): print('| %s | %.2f | %.2f | %.3f |' % row)" | tee "$OUT/ttfr.md"
echo "== done ($(date +%T))"

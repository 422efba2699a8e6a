#!/usr/bin/env bash
# The kernel and time-to-first-result tables of benchmarks/RESULTS.md on a machine with a CUDA GPU and JAX
# installed (no network needed): installs varbench without dependencies, then runs compare.py with more
# estimates per call (a GPU needs them to be measured at all). Writes compare.md/compare.json under ${OUT:-.}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-.}
export JAX_PLATFORMS=${JAX_PLATFORMS:-cuda} PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-cache-dir . 2>&1 | grep -v "^WARNING: Running pip as" || true
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader || true
python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
python3 benchmarks/compare.py --samples "${SAMPLES:-4194304}" --max-elements "${MAX_ELEMENTS:-4e8}" \
    --repeats "${REPEATS:-3}" --naive-samples 50 --prng-dims 100 --json "$OUT/compare.json" | tee "$OUT/compare.md"

"""Bias z-scores of the Monte Carlo kernel on the default backend: every coordinate of the score-function and
pathwise estimates of ``gaussian:cost=square`` at dim 100 and 1000, against the exact gradient.

For an unbiased estimator and a correct kernel the z-scores are standard normal: mean ≈ 0, sd ≈ 1, and the largest
|z| over 2·dim coordinates about 3–4. A kernel that drops, repeats or mis-weights chunks shows up here. Run it on an
accelerator, where CI never runs (``benchmarks/run_on_gpu.sh`` step ``bias``)::

    python benchmarks/kernel_bias_check.py --samples 16777216
"""

from __future__ import annotations

import argparse

import numpy as np

import varbench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=float, default=2 ** 20)
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    print("| estimator | dim | samples | backend | mean z | sd z | max abs z | estimates/s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for estimator in ("score_function", "pathwise"):
        for dim in args.dims:
            n = int(args.samples) // max(dim // 100, 1)
            r = varbench.measure(f"gaussian:cost=square,dim={dim}", estimator, num_samples=n, seed=7)
            z = np.concatenate([np.ravel(v) for v in r.bias_z.values()])
            print(f"| {estimator} | {dim} | {n} | {r.backend} | {z.mean():.3f} | {z.std():.3f} | "
                  f"{np.abs(z).max():.2f} | {r.estimates_per_second:.3g} |", flush=True)


if __name__ == "__main__":
    main()

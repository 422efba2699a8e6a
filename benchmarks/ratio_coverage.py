"""Coverage of the variance ratio's 95% interval, paired and unpaired, against the exact ratio.

On a Gaussian problem the total variances of the score function and of the pathwise estimator are known exactly
(the engine's exact mode: Gauss-Hermite quadrature over the one normal draw an estimate consumes, in float64), so
their ratio is too. Each seed measures the ratio twice with ``--samples`` estimates per estimator:

- paired: :func:`varbench.engine.paired.measure_ratio` (one draw of noise per sample, both estimators evaluated);
- unpaired: two independent :func:`varbench.engine.harness.measure` runs (seeds ``2s`` and ``2s + 1``), combined by
  :func:`varbench.reports.ratios.unpaired_ratio` with each total variance's standard error from its coordinates'
  kurtosis-aware intervals (:func:`varbench.reports.ratios.total_variance_se`),

and counts how often the interval covers the exact ratio. With 1000 seeds a coverage's standard error is 0.7
points. Usage (the table is printed as Markdown; ``--cases`` picks costs and k, e.g. ``cos:1 exp_square:1``):

    python benchmarks/ratio_coverage.py --seeds 1000 --samples 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import varbench
from varbench.engine import harness
from varbench.engine.paired import measure_ratio
from varbench.estimators import Pathwise, ScoreFunction
from varbench.problems import Gaussian
from varbench.reports import ratios


def _total_se(result: varbench.Result) -> float:
    variance = np.concatenate([np.ravel(result.variance[k]) for k in result.variance_ci])
    lo, hi = np.concatenate([np.reshape(result.variance_ci[k], (-1, 2)) for k in result.variance_ci]).T
    return ratios.total_variance_se(variance, lo, hi)


def coverage(cost: str, k: float, seeds: int, samples: int) -> dict[str, float]:
    """The exact ratio and each interval's coverage and median width (log scale) over ``seeds`` seeds."""
    problem, sf, pw = Gaussian(cost_name=cost, k=k), ScoreFunction(), Pathwise()
    exact = (harness.measure(problem, sf, method="exact").total_variance
             / harness.measure(problem, pw, method="exact").total_variance)
    hits = {"paired": [], "unpaired": []}
    widths = {"paired": [], "unpaired": []}
    start = time.perf_counter()
    for seed in range(seeds):
        r = measure_ratio(problem, sf, pw, num_samples=samples, seed=seed)
        a = harness.measure(problem, sf, num_samples=samples, seed=2 * seed)
        b = harness.measure(problem, pw, num_samples=samples, seed=2 * seed + 1)
        _, lo, hi = ratios.unpaired_ratio(a.total_variance, _total_se(a), b.total_variance, _total_se(b))
        for name, (low, high) in (("paired", (r.lo, r.hi)), ("unpaired", (lo, hi))):
            hits[name].append(low <= exact <= high)
            widths[name].append(np.log(high / low))
    return dict(exact=exact, seconds=time.perf_counter() - start,
                **{f"{n}_coverage": float(np.mean(hits[n])) for n in hits},
                **{f"{n}_width": float(np.median(widths[n])) for n in widths})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--cases", nargs="+", default=["cos:1", "exp_square:1", "square:1"],
                        help="cost:k of gaussian (dim 1, N(1, 1)), score function ÷ pathwise")
    args = parser.parse_args()
    varbench.configure()
    print(f"score function ÷ pathwise on gaussian (dim 1, mean 1, log_scale 0), {args.samples} estimates per "
          f"measurement, {args.seeds} seeds; coverage of the 95% interval of the exact ratio\n")
    print("| cost | k | exact ratio | paired coverage | unpaired coverage | paired width | unpaired width | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for case in args.cases:
        cost, k = case.split(":")
        c = coverage(cost, float(k), args.seeds, args.samples)
        print(f"| {cost} | {k} | {c['exact']:.5g} | {c['paired_coverage']:.1%} | {c['unpaired_coverage']:.1%} | "
              f"{c['paired_width']:.4f} | {c['unpaired_width']:.4f} | {c['seconds']:.0f} |", flush=True)
    print("\nwidth: median of log(hi / lo) over the seeds")


if __name__ == "__main__":
    main()

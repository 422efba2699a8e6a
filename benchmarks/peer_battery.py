"""``varbench check`` on code nobody here wrote: optax 0.1.8's Monte Carlo estimators, and defects planted in them.

Runs the battery at the quick and standard levels on every estimator of ``benchmarks/peers/optax_plugin.py`` and
prints one markdown table: what each estimator is, the verdict it should get, and the verdict it got at each level
(``pass``, or ``fail`` with the failed checks). A verdict is right when a correct estimator passes and a defective
one fails the check its defect belongs to. Exit status 1 if any verdict is wrong.

It needs optax 0.1.8 (the last release with ``optax.monte_carlo``) beside varbench, which ``benchmarks/compare.py
--setup-peers`` installs in ``.peers/optax``:

    python benchmarks/compare.py --setup-peers                 # once
    .peers/optax/bin/python benchmarks/peer_battery.py         # about 4 minutes on two CPU cores (5 seeds)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: estimator -> (what it is, the check its defect must fail, or None for a correct estimator)
CASES = {
    "optax_score_function": ("score_function_jacobians", None),
    "optax_pathwise": ("pathwise_jacobians", None),
    "optax_measure_valued": ("measure_valued_jacobians, coupled", None),
    "optax_measure_valued_uncoupled": ("measure_valued_jacobians, uncoupled", None),
    "optax_delta_cv": ("control_variates_jacobians + control_delta_method", None),
    "optax_moving_average_fresh": ("moving_avg_baseline, updated from fresh samples", None),
    "optax_moving_average": ("moving_avg_baseline as optax drives it (own sample)", "unbiased"),
    "planted_dropped_scale": ("pathwise, exp(log_scale) dropped", "unbiased"),
    "planted_missing_score_term": ("score function, −1 of the log-scale score missing", "unbiased"),
    "planted_rare_nan": ("pathwise, NaN with probability 1e-3", "runs|unbiased"),
    "planted_miscounted": ("measure-valued declaring 1 evaluation", "evaluations"),
}
LEVELS = ("quick", "standard")


def verdict(report) -> tuple[str, set[str]]:
    """``pass`` or ``fail: checks``, and the set of failed checks (their first word)."""
    failed = {row.check.split(":")[0] for row in report.failures}
    return ("pass" if report.passed else "fail: " + ", ".join(sorted(failed))), failed


def right(expected: str | None, passed: bool, failed: set[str]) -> bool:
    """A correct estimator passes; a defective one fails one of the checks its defect belongs to."""
    if expected is None:
        return passed
    return not passed and bool(failed & set(expected.split("|")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per estimator and level")
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="a subset of the estimators")
    args = parser.parse_args()
    try:
        import optax
    except ImportError:
        sys.exit("optax is not installed here: run `python benchmarks/compare.py --setup-peers`, then this script "
                 "with .peers/optax/bin/python")
    if optax.__version__ != "0.1.8":
        sys.exit(f"needs optax 0.1.8 (the last release with optax.monte_carlo); this environment has "
                 f"{optax.__version__}: run it with .peers/optax/bin/python")
    import varbench

    varbench.load_plugin(str(HERE / "peers" / "optax_plugin.py"))
    seeds = range(args.seed, args.seed + args.seeds)
    wrong = 0
    print(f"optax {optax.__version__}, varbench {varbench.__version__}, seeds {seeds.start}–{seeds.stop - 1}\n")
    print("| estimator | what it is | should | " + " | ".join(args.levels) + " |")
    print("|---|---|---|" + "---|" * len(args.levels))
    for name in args.only or CASES:
        what, expected = CASES[name]
        cells = []
        for level in args.levels:
            verdicts, right_count, start = [], 0, time.perf_counter()
            for seed in seeds:
                report = varbench.check(name, level=level, seed=seed, against=[])
                text, failed = verdict(report)
                ok = right(expected, report.passed, failed)
                right_count += ok
                verdicts.append(text)
                if not ok:
                    print(report.markdown(), file=sys.stderr)
            wrong += len(seeds) - right_count
            seconds = (time.perf_counter() - start) / len(seeds)
            shown = " / ".join(sorted(set(verdicts), key=verdicts.index))
            cells.append(f"{shown}: right in {right_count}/{len(seeds)} ({seconds:.0f} s each)"
                         + ("" if right_count == len(seeds) else " **WRONG**"))
        should = "pass" if expected is None else f"fail: {expected.replace('|', ' or ')}"
        print(f"| `{name}` | {what} | {should} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{wrong} wrong verdict(s)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

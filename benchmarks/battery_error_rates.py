"""The error rates of ``varbench check``, measured: false alarms on correct estimators, power against planted defects.

Each *battery* is one ``varbench.check`` of one estimator on one problem at one level, with its own seed and its
own params point (``varbench.check_points.generic_params`` drawn with the battery's index: special values such as
0 or ±1 moved by a random offset), so that neither the seeds nor the parameter values are chosen in the battery's
favour. Two routes are measured, because the battery judges bias by one or the other:

* ``exact``: ``gaussian:…,dim=2``, where the bias is measured in exact mode (quadrature);
* ``mc``: ``gaussian:…,dim=6`` (more continuous noise than exact mode integrates) and estimators that draw their
  own noise from a key, where the bias is judged by the z-tests (Holm within a point, Bonferroni across the
  battery) sized for the level's relative bias with power 0.9.

Studies (``--study``):

* ``false_alarms``: correct estimators, built-in (``pathwise``, ``score_function``) and plugins written from scratch
  (``benchmarks/battery_subjects.py``: ``user_pathwise``, ``user_keyed_score``); a battery that fails is a false
  alarm.
* ``power``: the planted defects of ``battery_subjects.py`` (relative bias 1%, 3%, 10%; NaN with probability 10⁻³
  and 10⁻⁵; a wrong evaluation count; a chain-rule factor dropped, which vanishes at log_scale = 0); a battery
  detects the defect when it fails the check the defect belongs to.

Every battery's outcome is appended to ``--out`` (JSON lines) as soon as it finishes, and a rerun skips those
already there, so an interrupted study resumes. ``table`` prints both tables (markdown) with 95% Clopper–Pearson
intervals:

    python benchmarks/battery_error_rates.py run --study false_alarms --level quick --batteries 200
    python benchmarks/battery_error_rates.py run --study power --level standard --batteries 20
    python benchmarks/battery_error_rates.py table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / ".benchmarks" / "battery_error_rates.jsonl"
#: Seeds of consecutive batteries are this far apart, beyond every offset the battery adds to its seed (the bias
#: test's pilot is the largest, 1,000,003 + 101), so no two batteries share a noise stream.
SEED_STRIDE = 2_000_011
PROBLEMS = {"exact": "gaussian:cost=cos,k=2,dim=2", "mc": "gaussian:cost=cos,k=2,dim=6"}


class Case(NamedTuple):
    """One estimator on one route; ``detects`` lists the checks whose failure counts as detecting its defect (None:
    a correct estimator, whose every failure is a false alarm)."""

    label: str
    estimator: str
    route: str
    detects: tuple[str, ...] | None = None


FALSE_ALARMS = (
    Case("pathwise (built-in)", "pathwise", "exact"),
    Case("pathwise (built-in)", "pathwise", "mc"),
    Case("score_function (built-in)", "score_function", "exact"),
    Case("score_function (built-in)", "score_function", "mc"),
    Case("user_pathwise (plugin)", "user_pathwise", "exact"),
    Case("user_pathwise (plugin)", "user_pathwise", "mc"),
    Case("user_keyed_score (plugin, draws from a key)", "user_keyed_score", "mc"),
)
POWER = tuple(Case(label, spec, route, detects) for route in ("exact", "mc") for label, spec, detects in (
    ("bias 1%", "defect_bias:bias=0.01", ("unbiased",)),
    ("bias 3%", "defect_bias:bias=0.03", ("unbiased",)),
    ("bias 10%", "defect_bias:bias=0.1", ("unbiased",)),
    ("NaN, probability 1e-3", "defect_nan:rate=0.001", ("runs", "unbiased", "variance", "evaluations")),
    ("NaN, probability 1e-5", "defect_nan:rate=1e-05", ("runs", "unbiased", "variance", "evaluations")),
    ("declares 1 evaluation, makes 2", "defect_miscount", ("evaluations",)),
    ("exp(log_scale) dropped (exact at log_scale = 0)", "defect_dropped_scale", ("unbiased",)),
))
STUDIES = {"false_alarms": FALSE_ALARMS, "power": POWER}


def _key(study: str, case: Case, level: str, index: int) -> str:
    return f"{study}|{case.estimator}|{case.route}|{level}|{index}"


def _done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {json.loads(line)["key"] for line in out.read_text().splitlines() if line.strip()}


def run_battery(case: Case, level: str, index: int) -> dict:
    """One battery: its verdict, the checks that failed, whether that is right, and its seconds."""
    import varbench
    from varbench.check_points import generic_params

    spec = PROBLEMS[case.route]
    params = {k: v.tolist() for k, v in generic_params(varbench.catalog.resolve_problem(spec), index).items()}
    start = time.perf_counter()
    report = varbench.check(case.estimator, problems=[spec], params=params, level=level, against=[],
                            seed=index * SEED_STRIDE)
    failed = sorted({row.check.split(":")[0].split(" after ")[0] for row in report.failures})
    detected = not report.passed and (case.detects is None or bool(set(failed) & set(case.detects)))
    return dict(passed=report.passed, failed=failed, detected=detected, params=params,
                seconds=time.perf_counter() - start,
                details=[f"{r.check}: {r.detail}" for r in report.failures][:3])


def run(args: argparse.Namespace) -> None:
    import varbench

    varbench.load_plugin(str(HERE / "battery_subjects.py"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(args.out)
    cases = [c for c in STUDIES[args.study] if args.only is None or c.estimator in args.only]
    for index in range(args.batteries):  # batteries in rounds, so a short run covers every case
        for case in cases:
            key = _key(args.study, case, args.level, index)
            if key in done:
                continue
            row = dict(key=key, study=args.study, label=case.label, estimator=case.estimator, route=case.route,
                       level=args.level, index=index, **run_battery(case, args.level, index))
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            if row["detected"] if case.detects else not row["passed"]:
                print(f"{key}: {'detected' if case.detects else 'FALSE ALARM'} {row['failed']}", flush=True)
        print(f"round {index} done", flush=True)


def _interval(k: int, n: int) -> str:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"{k}/{n} [{ci.low:.3f}, {ci.high:.3f}]"


def table(args: argparse.Namespace) -> None:
    import pandas as pd

    rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows)
    for study, what, flag in (("false_alarms", "false alarms", "passed"), ("power", "detected", "detected")):
        sub = frame[frame.study == study]
        if sub.empty:
            continue
        print(f"\n### {what} (95% Clopper–Pearson intervals; seconds per battery)\n")
        grouped = sub.groupby(["label", "route", "level"], sort=False)
        cells = {}
        for (label, route, level), g in grouped:
            hits = int((~g[flag]).sum() if flag == "passed" else g[flag].sum())
            cells.setdefault((label, route), {})[level] = f"{_interval(hits, len(g))}, {g.seconds.mean():.1f} s"
        levels = [lv for lv in ("quick", "standard", "thorough") if lv in set(sub.level)]
        print("| estimator | route | " + " | ".join(levels) + " |")
        print("|---|---|" + "---|" * len(levels))
        for (label, route), by_level in cells.items():
            print(f"| {label} | {route} | " + " | ".join(by_level.get(lv, "") for lv in levels) + " |")
        if study == "false_alarms":  # every correct estimator's batteries together: the level's bound
            totals = [_interval(int((~g.passed).sum()), len(g)) for lv in levels for g in [sub[sub.level == lv]]]
            print("| **all correct estimators** | both | " + " | ".join(f"**{t}**" for t in totals) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="run batteries (appending to --out; resumes)")
    go.add_argument("--study", choices=list(STUDIES), required=True)
    go.add_argument("--level", choices=("quick", "standard", "thorough"), required=True)
    go.add_argument("--batteries", type=int, default=200, help="batteries per case")
    go.add_argument("--only", nargs="+", help="estimator specs of a subset of the study's cases")
    show = sub.add_parser("table", help="print the tables of what --out holds")
    for p in (go, show):
        p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    sys.exit(main())

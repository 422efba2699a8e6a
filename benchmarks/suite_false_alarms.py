"""False alarms of a whole suite's report, measured: how often a report of only unbiased estimators shows ANY
"bias detected", with each block × estimator tested alone (Holm within the family at 0.01, the old rule) and with
the report-wide correction (Holm again across the families at ``REPORT_ALPHA``, the rule of the report since), and
how often a planted 3% bias is still found.

Each run is ``varbench suite`` (``run_suite``, no report) of a default-suite-like config, :data:`CONFIG`: the
Monte Carlo blocks of the default suite's families (Gaussian sweeps over two costs, a 6-dimensional Gaussian,
the Bernoulli toy's logit sweep, the sbn, the lgssm) with the default suite's estimators, plus one block of a
planted 3% bias (``defect_bias:bias=0.03`` of ``benchmarks/battery_subjects.py``). Run i uses seed i, so the runs
are independent. Every run's verdicts are appended to ``--out`` (JSON lines) as soon as it finishes, and a rerun
skips the seeds already there. Then:

    python benchmarks/suite_false_alarms.py --runs 200
    python benchmarks/suite_false_alarms.py --table
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / ".benchmarks" / "suite_false_alarms.jsonl"
PLANTED = "defect_bias:bias=0.03"
CONFIG = """
plugins = ["{plugins}"]

[[block]]
name = "gaussian_k_sweep"
problem = "gaussian:dim=1"
estimators = ["score_function", "score_function:baseline=optimal,samples=2", "pathwise", "measure_valued"]
num_samples = 20000
seeds = [{seed}]
grid = {{ cost = ["square", "cos"], k = {{ start = 0.1, stop = 3.0, num = 10 }} }}

[[block]]
name = "gaussian_dim6"
problem = "gaussian:cost=cos,k=2,dim=6"
estimators = ["score_function", "pathwise", "measure_valued"]
num_samples = 20000
seeds = [{seed}]
grid = {{ log_scale = [-0.7, -0.3, 0.4] }}

[[block]]
name = "bernoulli_toy"
problem = "bernoulli:target=0.499"
estimators = ["score_function", "rloo:samples=2", "arm", "disarm"]
num_samples = 20000
seeds = [{seed}]
grid = {{ logits = {{ start = -2.7, stop = 2.3, num = 6 }} }}

[[block]]
name = "sbn_estimators"
problem = "sbn"
estimators = ["score_function", "rloo", "disarm"]
num_samples = 5000
seeds = [{seed}]

[[block]]
name = "lgssm"
problem = "lgssm"
estimators = ["score_function", "pathwise"]
num_samples = 5000
seeds = [{seed}]

[[block]]
name = "planted"
problem = "gaussian:dim=1"
estimators = ["{planted}"]
num_samples = 100000
seeds = [{seed}]
grid = {{ cost = ["square"], k = [0.3, 1.7] }}
"""


def one_run(seed: int, folder: Path) -> dict:
    """The report's verdicts of one suite run at ``seed``: per family, its own p-value and the report-wide one."""
    from varbench.reports import schema, store
    from varbench.reports import verdict as rules
    from varbench.suite import run_suite

    config = folder / f"suite-{seed}.toml"
    config.write_text(CONFIG.format(seed=seed, plugins=HERE / "battery_subjects.py", planted=PLANTED))
    out = folder / f"store-{seed}"
    run_suite(config, out, report=False, resume=False, progress=lambda line: None)
    frame = store.load(out)
    table = schema.summary(frame)
    table = table[table["method"] == "mc"]
    groups = schema.measurements(schema.numeric(frame)).groupby(["block", "estimator_label"], sort=False)
    family_p = {key: rules.family_verdict(rules.coordinate_terms(rows)).p_value for key, rows in groups}
    return dict(seed=seed, estimators=list(table["estimator"]),
                family_p=[family_p[(b, e)] for b, e in zip(table["block"], table["estimator"])],
                report_p=[float(p) for p in table["p_value"]],
                detected=[bool(d) for d in table["bias_detected"]])


def tabulate(rows: list[dict]) -> None:
    """Markdown: the runs with a false alarm under each rule, and the planted bias's detection rate."""
    from scipy.stats import binomtest
    from varbench.reports import verdict as rules

    def interval(k: int, n: int) -> str:
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        return f"{k}/{n} = {k / n:.3f} [{ci.low:.3f}, {ci.high:.3f}]"

    unbiased = [[i for i, e in enumerate(r["estimators"]) if e != PLANTED] for r in rows]
    planted = [r["estimators"].index(PLANTED) for r in rows]
    per_family = sum(any(r["family_p"][i] <= rules.ALPHA for i in idx) for r, idx in zip(rows, unbiased))
    report = sum(any(r["detected"][i] for i in idx) for r, idx in zip(rows, unbiased))
    found = sum(r["detected"][j] for r, j in zip(rows, planted))
    families = len(unbiased[0])
    print(f"{len(rows)} suite runs, {families} unbiased Monte Carlo families each (+ the planted 3% bias)\n")
    print("| rule | runs with any false 'bias detected' (95% interval) | planted 3% bias found |")
    print("|---|---|---|")
    print(f"| each family alone at {rules.ALPHA:g} (before) | {interval(per_family, len(rows))} | |")
    print(f"| report-wide Holm at {rules.REPORT_ALPHA:g} (now) | {interval(report, len(rows))} | "
          f"{interval(found, len(rows))} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--table", action="store_true", help="print the table of what --out holds and exit")
    args = parser.parse_args()
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    if not args.table:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        seen = {r["seed"] for r in done}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.runs):
                if seed in seen:
                    continue
                row = one_run(seed, Path(tmp))
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                done.append(row)
                print(f"seed {seed}: {sum(row['detected'])} detected", flush=True)
    tabulate(done)


if __name__ == "__main__":
    sys.exit(main())

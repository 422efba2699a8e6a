"""Compare the measurements of two result stores: are they the same numbers?

A refactoring of the engine or the application layer must not change any result. Run the same config before and
after (``varbench suite --out BEFORE`` with the old code, ``--out AFTER`` with the new one) and compare:

    python benchmarks/compare_stores.py BEFORE AFTER [--rename OLD NEW ...]

Rows are matched by what they measure (block, problem, estimator label, grid point, seed, parameter coordinate,
and for trace blocks driver, trace seed and step), not by cell key, so a store whose cell keys changed still
compares. ``--rename`` maps an estimator label of BEFORE to its spelling in AFTER (an estimator that was renamed).
Timings, throughput and provenance are left out: they differ from run to run. Prints, per method (``mc``,
``exact``, trace rows), how many rows matched, how many values are bit-identical, and the largest relative
difference; exits 1 if any row is missing on one side or any value differs.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from varbench.reports import store

#: what identifies a row (those of them that a store has)
KEYS = ("block", "problem", "estimator_label", "point", "seed", "param", "coordinate", "driver", "trace_seed",
        "step")
#: what was measured (those of them that a store has)
VALUES = ("grad_mean", "grad_se", "variance", "variance_lo", "variance_hi", "total_variance", "grad_exact",
          "objective_exact", "bias", "bias_z", "snr", "mse", "evaluations_per_estimate", "num_samples",
          "objective", "log_variance", "group_variance", "group_work_normalized_variance",
          "group_variance_encoder", "group_variance_decoder", "group_work_normalized_variance_encoder",
          "group_work_normalized_variance_decoder")


def _indexed(frame: pd.DataFrame, renames: dict[str, str]) -> pd.DataFrame:
    frame = frame.copy()
    frame["estimator_label"] = frame["estimator_label"].replace(renames)
    keys = [k for k in KEYS if k in frame]
    traced = frame["step"].notna() if "step" in frame else False
    frame["kind"] = np.where(traced, "trace", frame["method"].astype(str))
    frame[keys] = frame[keys].astype(str)  # NaN and None alike, so rows without a step or driver still match
    return frame.set_index(keys).sort_index()


def _differences(a: pd.Series, b: pd.Series) -> tuple[int, int, float]:
    """(values compared, values bit-identical, largest relative difference) of two aligned columns."""
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    scale = np.maximum(np.abs(x), np.abs(y))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(same, 0.0, np.abs(x - y) / np.where(scale > 0, scale, 1.0))
    return len(x), int(same.sum()), float(np.nanmax(rel, initial=0.0))


def compare(before: pd.DataFrame, after: pd.DataFrame, renames: dict[str, str]) -> tuple[pd.DataFrame, int]:
    """A table per method (rows matched, values compared, bit-identical, largest relative difference) and the
    number of rows present on one side only."""
    a, b = _indexed(before, renames), _indexed(after, renames)
    common = a.index.intersection(b.index)
    unmatched = len(a.index.difference(b.index)) + len(b.index.difference(a.index))
    a, b = a.loc[common], b.loc[common]
    kind = a["kind"].to_numpy()
    rows = []
    for method in sorted(set(kind)):
        mine = kind == method
        compared = identical = 0
        worst = 0.0
        for column in (c for c in VALUES if c in a and c in b):
            n, same, rel = _differences(a.loc[mine, column], b.loc[mine, column])
            compared, identical, worst = compared + n, identical + same, max(worst, rel)
        rows.append(dict(method=method, rows=int(mine.sum()), values=compared, bit_identical=identical,
                         max_rel_difference=worst))
    return pd.DataFrame(rows), unmatched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rename", action="append", default=[], nargs=2, metavar=("OLD", "NEW"),
                        help="an estimator label of BEFORE and its spelling in AFTER")
    args = parser.parse_args(argv)
    renames = dict(args.rename)
    table, unmatched = compare(store.load(args.before), store.load(args.after), renames)
    print(table.to_string(index=False))
    print(f"rows on one side only: {unmatched}")
    return int(unmatched > 0 or bool((table["values"] != table["bit_identical"]).any()))


if __name__ == "__main__":
    sys.exit(main())

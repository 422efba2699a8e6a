"""Variance ratios against a block's reference estimator, from the rows of a store (NumPy and pandas only).

Each estimator of a block is compared with the block's reference (the config's ``reference``; by default the plain
score function when the block has it, else its first estimator) by ``R = Var_total(estimator) / Var_total(reference)``,
the ratio of the variances of one estimate summed over the gradient's coordinates, at each grid point and seed.

- **Paired**: where the two estimators consume the same noise, the suite measured R on common random numbers
  (:func:`varbench.engine.paired.measure_ratio`) and wrote it into the estimator's rows (:data:`ROW_FIELDS`,
  ``var_ratio_paired`` True). Those values are used as they are.
- **Unpaired**: otherwise R is the ratio of the two cells' independent total variances, with a delta-method
  interval on ``log R``: ``Var(log R̂) = (se_a / V_a)² + (se_b / V_b)²``. Each total variance's standard error comes
  from its coordinates' 95% intervals ``v·exp(±z·h)`` (whose ``h`` accounts for the kurtosis, see
  :func:`varbench.engine.stats.variance_interval`), ``se_c = v_c·h_c``, summed over the coordinates
  (:func:`total_variance_se`): the standard deviation of a sum is at most the sum of the standard deviations, so
  the interval is conservative where the coordinates' variance estimates are not perfectly correlated (rows carry
  no cross-coordinate moments), and exact for one coordinate.

A block's summary row aggregates its points and seeds by the geometric mean of R, whose interval combines the
points' log-scale standard errors as independent (every point and seed draws its own noise). The work-normalised
ratios multiply R by the evaluation ratio (exact) and by the ratio of seconds per estimate (taken as exact: timing
noise is not part of the interval); their intervals are ``var_ratio``'s scaled by the same factor.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pandas as pd

#: The standard normal quantile of a two-sided 95% interval.
Z95 = 1.959963984540054
#: Fields a suite cell writes into each row of a grid point measured paired against the reference (the reference's
#: label is written into every row of a measure cell, so that reports know the configured reference).
ROW_FIELDS = ("var_ratio", "var_ratio_lo", "var_ratio_hi", "var_ratio_paired", "var_ratio_reference")
#: Columns this module adds to the summary table.
RATIO_COLUMNS = ("var_ratio", "var_ratio_lo", "var_ratio_hi", "var_ratio_paired", "var_ratio_reference",
                 "var_ratio_x_evaluations", "var_ratio_x_seconds")
RATIO_LEGEND = {
    "var_ratio": "geometric mean over points and seeds of the total variance divided by the reference's, with its "
                 "95% interval (var_ratio_lo, var_ratio_hi)",
    "var_ratio_paired": "True: measured on common random numbers (the same noise fed both estimators at every "
                        "point); False: two independent measurements (a conservative interval); empty: exact rows",
    "var_ratio_reference": "the estimator the ratios divide by (the block's reference)",
    "var_ratio_x_evaluations": "var_ratio × the ratio of cost evaluations per estimate (exact); interval: "
                               "var_ratio's scaled by the same factor",
    "var_ratio_x_seconds": "var_ratio × the ratio of seconds per estimate (the time ratio taken as exact; Monte "
                           "Carlo rows); interval: var_ratio's scaled by the same factor",
}
#: The plain score function's label: the default reference of a block that has it.
PLAIN_SCORE_FUNCTION = "score_function"


def total_variance_se(variance: Any, lo: Any, hi: Any, z: float = Z95) -> float:
    """Standard error of a total variance from its coordinates' variances and 95% intervals.

    Args:
      variance: each coordinate's variance of one estimate.
      lo: each coordinate's lower interval bound (``v·exp(−z·h)``).
      hi: each coordinate's upper bound (``v·exp(z·h)``).
      z: the normal quantile the intervals were made with.

    Returns:
      ``Σ_c v_c·h_c``, an upper bound on the standard error of ``Σ_c v_c`` whatever the coordinates' correlation
      (0 for exact measurements, whose intervals have no width; NaN where a positive variance has no interval).
    """
    v, a, b = (np.asarray(x, np.float64) for x in (variance, lo, hi))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(v > 0, np.log(b / a) / (2 * z), 0.0)
    return float(np.sum(v * h)) if np.all(np.isfinite(h)) else np.nan


def log_se(lo: float, hi: float, z: float = Z95) -> float:
    """The log-scale standard error of a ratio from its 95% interval ``R·exp(±z·se)``."""
    return float(np.log(hi / lo) / (2 * z)) if lo > 0 and hi > 0 and np.isfinite(hi / lo) else np.nan


def unpaired_ratio(variance: float, se: float, reference_variance: float, reference_se: float,
                   z: float = Z95) -> tuple[float, float, float]:
    """The ratio of two independent total variances with a delta-method 95% interval on its log.

    Args:
      variance: the estimator's total variance.
      se: its standard error (:func:`total_variance_se`).
      reference_variance: the reference's total variance.
      reference_se: its standard error.
      z: the normal quantile of the interval.

    Returns:
      ``(ratio, lo, hi)``; NaN where either variance is not positive.

    Example:
      >>> ratio, lo, hi = unpaired_ratio(4.0, 0.2, 2.0, 0.1)
      >>> round(ratio, 3), round(lo, 3), round(hi, 3)
      (2.0, 1.741, 2.297)
    """
    if not (variance > 0 and reference_variance > 0):
        return np.nan, np.nan, np.nan
    ratio = variance / reference_variance
    half = z * float(np.hypot(se / variance, reference_se / reference_variance))
    return ratio, ratio * float(np.exp(-half)), ratio * float(np.exp(half))


def _grid_key(frame: pd.DataFrame, grid: Sequence[str]) -> pd.Series:
    """A hashable key of each row's grid point (its grid values; NaN where a block has no such axis)."""
    def one(values: Any) -> str:
        return json.dumps([None if isinstance(v, float) and np.isnan(v) else v for v in values], default=str)
    if not grid:
        return frame["point"].astype(str)
    return pd.Series([one(v) for v in frame[list(grid)].itertuples(index=False)], index=frame.index)


def _per_point(rows: pd.DataFrame, grid: Sequence[str]) -> pd.DataFrame:
    """One row per block × estimator label × seed × grid point: the total variance, its standard error, the work per
    estimate and the paired ratio written by the suite (if any)."""
    keyed = rows.assign(_key=_grid_key(rows, grid))
    out = []
    for (block, label, seed, key), d in keyed.groupby(["block", "estimator_label", "seed", "_key"], sort=False):
        first = d.iloc[0]
        mc = first["method"] == "mc"
        out.append(dict(block=block, estimator=label, seed=seed, key=key, method=first["method"],
                        total=float(first["total_variance"]),
                        se=total_variance_se(d["variance"], d["variance_lo"], d["variance_hi"]),
                        evaluations=float(first["evaluations_per_estimate"]),
                        seconds=1.0 / float(first["estimates_per_second"]) if mc else np.nan,
                        **{f: first.get(f, np.nan) for f in ROW_FIELDS}))
    return pd.DataFrame(out)


def _reference_of(points: pd.DataFrame, block: str, order: Sequence[str]) -> str:
    """The configured reference of a block: as its rows say, else the plain score function, else its first label."""
    named = points["var_ratio_reference"].dropna()
    if not named.empty:
        return str(named.iloc[0])
    labels = list(dict.fromkeys([*(x for x in order if x in set(points["estimator"])), *points["estimator"]]))
    return PLAIN_SCORE_FUNCTION if PLAIN_SCORE_FUNCTION in labels else labels[0]


def _point_ratio(mine: Any, theirs: Any, reference: str) -> tuple[float, float, bool]:
    """``(log R, its standard error, paired)`` at one point: the suite's paired value when it was measured against
    ``reference``, else the unpaired ratio of the two rows (NaN without the reference's row)."""
    paired = mine["var_ratio_paired"]
    if isinstance(paired, (bool, np.bool_)) and paired and mine["var_ratio_reference"] == reference \
            and mine["var_ratio"] > 0:
        return float(np.log(mine["var_ratio"])), log_se(mine["var_ratio_lo"], mine["var_ratio_hi"]), True
    if theirs is None:
        return np.nan, np.nan, False
    ratio, lo, hi = unpaired_ratio(mine["total"], mine["se"], theirs["total"], theirs["se"])
    return (float(np.log(ratio)) if ratio > 0 else np.nan), log_se(lo, hi) if lo < hi else 0.0, False


def _aggregate(block: str, label: str, reference: str, mine: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, Any]:
    """The ratio columns of one estimator of a block: the geometric mean over its points and seeds."""
    if label == reference:
        return dict(block=block, estimator=label, var_ratio=1.0, var_ratio_lo=1.0, var_ratio_hi=1.0,
                    var_ratio_paired=None, var_ratio_reference=reference, var_ratio_x_evaluations=1.0,
                    var_ratio_x_seconds=1.0 if mine["seconds"].notna().all() else np.nan)
    logs, ses, paired, evaluations, seconds = [], [], [], [], []
    for _, point in mine.iterrows():
        other = theirs.get((point["seed"], point["key"]))
        log_r, se, was_paired = _point_ratio(point, other, reference)
        logs.append(log_r), ses.append(se), paired.append(was_paired)
        evaluations.append(point["evaluations"] / other["evaluations"] if other is not None else np.nan)
        seconds.append(point["seconds"] / other["seconds"] if other is not None else np.nan)
    logs, ses = np.asarray(logs), np.asarray(ses)
    if not len(logs) or not np.all(np.isfinite(logs)) or not np.all(np.isfinite(ses)):
        return dict(block=block, estimator=label, var_ratio_reference=reference)
    mean, half = logs.mean(), Z95 * np.sqrt(np.sum(ses ** 2)) / len(logs)
    ratio = float(np.exp(mean))
    return dict(block=block, estimator=label, var_ratio=ratio, var_ratio_lo=float(np.exp(mean - half)),
                var_ratio_hi=float(np.exp(mean + half)),
                var_ratio_paired=None if (mine["method"] == "exact").all() else bool(all(paired)),
                var_ratio_reference=reference,
                var_ratio_x_evaluations=float(np.exp(np.mean(logs + np.log(evaluations)))),
                var_ratio_x_seconds=float(np.exp(np.mean(logs + np.log(seconds)))))


def estimator_labels(rows: pd.DataFrame) -> list[str]:
    """The estimator labels of a store's measurement rows, in order of appearance (the valid ``--reference``\\ s)."""
    return list(dict.fromkeys(rows["estimator_label"])) if "estimator_label" in rows else []


def ratio_table(rows: pd.DataFrame, grid: Sequence[str], reference: str | None = None,
                estimator_order: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The ratio columns of the summary: one row per block × estimator label.

    Args:
      rows: numeric measurement rows (one per coordinate), as the summary reads them.
      grid: the ``grid_<name>`` columns, which identify a grid point across cells.
      reference: the label to divide by in every block that has it (paired values are used only where the suite
        measured them against this label); None: each block's configured reference.
      estimator_order: per block, its labels in config order (to find a default reference in old stores).

    Returns:
      Columns ``block``, ``estimator`` and :data:`RATIO_COLUMNS`; NaN where no ratio applies (a block without the
      reference, a point the reference did not measure).
    """
    columns = ["block", "estimator", *RATIO_COLUMNS]
    numbers = {c: float for c in RATIO_COLUMNS if c not in ("var_ratio_paired", "var_ratio_reference")}
    if rows.empty:
        return pd.DataFrame(columns=columns).astype(numbers)
    needed = (*ROW_FIELDS, "variance_lo", "variance_hi", "estimates_per_second", "evaluations_per_estimate")
    rows = rows.assign(**{f: rows[f] if f in rows else np.nan for f in needed})  # stores of older versions
    points = _per_point(rows, grid)
    out = []
    for block, d in points.groupby("block", sort=False):
        labels = list(dict.fromkeys(d["estimator"]))
        chosen = reference if reference is not None else _reference_of(d, block, (estimator_order or {}).get(block, ()))
        if chosen not in labels:
            out += [dict(block=block, estimator=label) for label in labels]
            continue
        theirs = {(r["seed"], r["key"]): r for _, r in d[d["estimator"] == chosen].iterrows()}
        out += [_aggregate(block, label, chosen, m, theirs) for label, m in d.groupby("estimator", sort=False)]
    return pd.DataFrame(out, columns=columns).astype(numbers)

"""The record schema, shared by the suite (which writes rows) and the reports (which read them).

One module says what a row is: a measurement becomes one row per result × parameter coordinate (:func:`records`),
tagged with its block, cell, grid point, estimator and grid values (:func:`measurement_rows`); a trace checkpoint
becomes one row per measured estimator (:func:`trace_rows`); and rows become the summary table
(:func:`summary`). Column names that carry a variable part are built and parsed only here: ``grid_<name>`` (a grid
axis: problem option or param), ``opt_<name>`` (an estimator option given in its spec) and
``group_variance_<group>`` (a trace row's variance per parameter group).

It works on ``Result.to_dict()`` dictionaries (or objects with ``to_dict``), so it needs neither JAX nor varbench's
engine: results can come back from JSON lines or Parquet.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from varbench.reports import ratios, verdict

#: Result fields that are one value per parameter coordinate.
PER_COORDINATE = ("grad_mean", "grad_se", "variance", "grad_exact", "bias", "bias_z", "snr", "mse")
#: Result fields that are one value per result.
PER_RESULT = ("problem", "estimator", "num_samples", "seed", "method", "evaluations_per_estimate",
              "total_variance", "objective_exact", "compile_seconds", "run_seconds", "estimates_per_second",
              "backend", "dtype", "version")
#: Result fields and columns renamed since older stores were written: old name -> current name. Records and frames
#: are read under the current names (an old store's cells keep theirs on disk).
RENAMED = {"samples_per_second": "estimates_per_second"}
#: Result fields that measure time (they differ between two runs of the same measurement).
TIMING = ("compile_seconds", "run_seconds", "estimates_per_second")
#: Columns that say where, when and by what code a row was computed (one value per cell, added by the suite).
PROVENANCE_PREFIX = "prov_"
PROVENANCE = tuple(PROVENANCE_PREFIX + name for name in (
    "git_commit", "varbench_version", "jax_version", "backend", "devices", "host", "pid", "worker", "executor",
    "started", "finished", "attempts", "run"))

GRID_PREFIX = "grid_"
OPTION_PREFIX = "opt_"
GROUP_VARIANCE_PREFIX = "group_variance_"
#: Per-group fields of a trace record, flattened to ``<field>_<group>`` columns.
GROUP_FIELDS = ("group_variance", "group_work_normalized_variance", "group_ci_lo", "group_ci_hi")


def grid_column(name: str) -> str:
    """The column of a grid axis.

    Args:
      name: the axis (a problem option or a param).

    Returns:
      ``grid_<name>``.
    """
    return GRID_PREFIX + name


def option_column(name: str) -> str:
    """The column of an estimator option given in a spec.

    Args:
      name: the option.

    Returns:
      ``opt_<name>``.
    """
    return OPTION_PREFIX + name


def trace_groups(frame: pd.DataFrame) -> list[str]:
    """The parameter groups whose variance trace rows carry.

    Args:
      frame: tidy rows, trace rows among them.

    Returns:
      The groups (``encoder``, ``decoder``, ...) with a ``group_variance_<group>`` column holding a number.
    """
    return [c.removeprefix(GROUP_VARIANCE_PREFIX) for c in frame.columns if c.startswith(GROUP_VARIANCE_PREFIX)
            and pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _as_dict(result: Any) -> Mapping[str, Any]:
    """A result's fields under their current names (:data:`RENAMED`)."""
    fields = result.to_dict() if hasattr(result, "to_dict") else result
    return {RENAMED.get(k, k): v for k, v in fields.items()}


def records(results: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per result × parameter coordinate.

    Args:
      results: ``Result`` objects or their ``to_dict()`` dictionaries (from JSON lines, say); a field renamed since
        (:data:`RENAMED`) is read under its current name.

    Returns:
      Rows ``{per-result fields, param, coordinate, param_value, each per-coordinate field, variance_lo,
      variance_hi}``; ``coordinate`` is the index in the parameter's array (``"0,1"``; ``""`` for a scalar).
    """
    rows = []
    for res in map(_as_dict, results):
        base = {k: res.get(k) for k in PER_RESULT}
        for name, values in res["grad_mean"].items():
            shape = np.shape(values)
            for idx in itertools.product(*map(range, shape)) if shape else [()]:
                row = dict(base, param=name, coordinate=",".join(map(str, idx)),
                           param_value=_at(res["params"][name], idx))
                for field in PER_COORDINATE:
                    row[field] = None if res.get(field) is None else _at(res[field][name], idx)
                lo_hi = _at(res["variance_ci"][name], idx)
                row["variance_lo"], row["variance_hi"] = lo_hi
                rows.append(row)
    return rows


def _at(nested: Any, idx: tuple[int, ...]) -> Any:
    for i in idx:
        nested = nested[i]
    return nested


def to_frame(results: Iterable[Any]) -> pd.DataFrame:
    """A tidy pandas DataFrame of results.

    Args:
      results: as for :func:`records`.

    Returns:
      The rows of :func:`records`, with the per-coordinate values, the confidence bounds, ``objective_exact`` and
      ``param_value`` as numbers (NaN where missing).
    """
    frame = pd.DataFrame.from_records(records(results))
    for col in PER_COORDINATE + ("variance_lo", "variance_hi", "objective_exact", "param_value"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def measurement_rows(results: Sequence[Any], points: Sequence[Mapping[str, Any]], *, block: str, cell: str,
                     problem_name: str, estimator_name: str, estimator_label: str,
                     estimator_options: Mapping[str, Any], static: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one suite cell: :func:`records` of each grid point's result, tagged with the cell and the point.

    Args:
      results: one result per grid point.
      points: the grid points, ``points[i]`` being ``{"options": {...}, "params": {...}}``: the problem options and
        params of the point, which become ``grid_<name>`` columns.
      block: the block's name.
      cell: the cell's key (its file name in the store).
      problem_name: the problem's registered name.
      estimator_name: the estimator's registered name.
      estimator_label: the estimator as the config spells it (``name:options``).
      estimator_options: the options given in the estimator's spec, which become ``opt_<name>`` columns.
      static: the block's problem options that are the same at every point (``grid_<name>`` columns too).

    Returns:
      The rows, each tagged with ``block``, ``cell``, ``point`` (the index in ``points``), the names and the grid
      and option columns.
    """
    rows = []
    for index, (point, result) in enumerate(zip(points, results)):
        grid = {**static, **point["options"], **point["params"]}
        for row in records([result]):
            row.update(block=block, cell=cell, point=index, estimator_name=estimator_name,
                       estimator_label=estimator_label, problem_name=problem_name,
                       **{grid_column(k): v for k, v in grid.items()},
                       **{option_column(k): v for k, v in estimator_options.items()})
            rows.append(row)
    return rows


def trace_rows(trace_records: Iterable[Mapping[str, Any]], *, block: str, cell: str, trace_seed: int,
               estimator_name: Callable[[str], str]) -> list[dict[str, Any]]:
    """Rows of one trace cell, flat for Parquet.

    Args:
      trace_records: the records of ``varbench.trace`` (one per checkpoint × measured estimator).
      block: the block's name.
      cell: the cell's key.
      trace_seed: the seed of the run.
      estimator_name: the registered name of an estimator label.

    Returns:
      The rows: per-parameter dicts are dropped (``params`` is kept as ``params_json``), the per-group fields
      become one column per group (``group_variance_encoder``, ...) and ``total_variance_ci`` becomes
      ``total_variance_lo`` and ``total_variance_hi``.
    """
    out = []
    for row in trace_records:
        flat = {k: v for k, v in row.items() if not isinstance(v, dict) and k != "total_variance_ci"}
        if row.get("total_variance_ci") is not None:
            flat["total_variance_lo"], flat["total_variance_hi"] = row["total_variance_ci"]
        flat.update(block=block, cell=cell, estimator_label=row["estimator"],
                    estimator_name=estimator_name(row["estimator"]), trace_seed=trace_seed,
                    params_json=json.dumps(row["params"]))
        flat.update({f"{field}_{group}": value for field in GROUP_FIELDS
                     for group, value in (row.get(field) or {}).items()})
        out.append(flat)
    return out


def provenance_column(name: str) -> str:
    """The column of a provenance field.

    Args:
      name: the field (``git_commit``).

    Returns:
      ``prov_<name>`` (``prov_git_commit``).
    """
    return PROVENANCE_PREFIX + name


def measured_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that two runs of the same measurements must agree on.

    Args:
      frame: tidy rows.

    Returns:
      Its columns except timing (:data:`TIMING`) and provenance (where and when a row was computed).
    """
    return [c for c in frame.columns if c not in TIMING and not c.startswith(PROVENANCE_PREFIX)]


def _current_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column of :data:`RENAMED` under its current name. A store resumed across a rename holds
    cells of both: its rows get the value of whichever column they have."""
    for old, new in RENAMED.items():
        if old in frame and new in frame:
            frame = frame.assign(**{new: frame[new].where(frame[new].notna(), frame[old])}).drop(columns=old)
        elif old in frame:
            frame = frame.rename(columns={old: new})
    return frame


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalize a frame of tidy rows: current column names and numbers as numbers.

    Every frame the reports return goes through here. Parquet keeps a column of ``None`` and floats (an exact
    gradient that some results lack) as objects, where ``frame["bias_z"].abs()`` raises; and a store written before
    a column was renamed has the old name (:data:`RENAMED`: an old store's ``samples_per_second`` is read as
    ``estimates_per_second``).

    Args:
      frame: tidy rows, as read from cell files.

    Returns:
      A copy with renamed columns under their current names and every column whose values are all numbers or
      missing (``None``) as float64 with NaN; provenance columns stay as recorded.
    """
    out = _current_names(frame).copy()
    for column in out.columns:
        if out[column].dtype != object or column.startswith(PROVENANCE_PREFIX):  # provenance stays as recorded
            continue
        values = out[column].dropna()
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


#: Columns of :func:`summary`, shared by ``varbench results`` (table, CSV, JSON) and the report's block tables.
SUMMARY_COLUMNS = ("block", "estimator", "method", "points", "seeds", "num_samples", "evaluations",
                   "median_total_variance", "bias_detected", "p_value", "rel_bias_ub95", "estimates_per_second",
                   *ratios.RATIO_COLUMNS)
#: What each summary column means (the report prints this legend under its tables).
SUMMARY_LEGEND = {
    "method": "mc: Monte Carlo; exact: quadrature or enumeration over the estimator's noise",
    "points": "grid points measured (every combination of the block's grid values)",
    "seeds": "seeds per point",
    "num_samples": "Monte Carlo estimates per point (exact rows have none)",
    "evaluations": "cost evaluations per estimate",
    "median_total_variance": "median over points of the variance of one estimate, summed over parameter coordinates",
    "bias_detected": "Holm-corrected test over every coordinate and point, corrected again across the report's "
                     "blocks × estimators (exact rows: the exact bias beyond float32 rounding); False is 'no bias "
                     f"detected' only where rel_bias_ub95 < {verdict.CONCLUSIVE_BOUND:.0%}, else inconclusive",
    "p_value": "the report-wide Holm-adjusted p-value (Monte Carlo rows)",
    "rel_bias_ub95": "95% upper bound on the largest ‖bias‖ / ‖gradient‖ of a parameter group (exact rows: "
                     "the exact value)",
    "estimates_per_second": "median throughput of the compiled kernel (Monte Carlo rows)",
    **ratios.RATIO_LEGEND,
}


def format_number(value: Any) -> Any:
    """A table cell as the report prints it: every number by one rule, so columns read alike.

    Four significant digits; scientific notation outside [1e-3, 1e4), where four digits cannot be written plainly
    (``0.0001234`` hides its digits behind zeros, ``12345`` has five); missing or infinite values as ``–``.

    Args:
      value: a cell (numbers of any kind; anything else, text and booleans, is returned as is).

    Returns:
      The formatted text (``1.37``, ``4.651e+07``, ``1e+05``, ``0``, ``–``), or ``value`` unchanged.
    """
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return value
    x = float(value)
    if not np.isfinite(x):
        return "–"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        text = f"{x:.4g}"
        if "e" not in text:  # 9999.7 rounds up to 1e+04: then it is written like every larger number
            return text
    mantissa, exponent = f"{x:.3e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """A table for printing (Markdown and HTML alike), every cell through :func:`format_number`.

    Args:
      table: any table.

    Returns:
      A copy with numbers as text.
    """
    return table.astype(object).map(format_number)


def measurements(frame: pd.DataFrame) -> pd.DataFrame:
    """The measurement rows of a frame.

    Args:
      frame: tidy rows.

    Returns:
      Its per-coordinate measurement rows (trace rows, which carry no coordinates, left out).
    """
    return frame[frame["param"].notna()] if "param" in frame else frame.iloc[0:0]


def _rank(values: pd.Series, order: Sequence[str] | None) -> pd.Series:
    """Position of each value in ``order`` (then first appearance for values it does not name)."""
    seen = list(dict.fromkeys(list(order or []) + list(values)))
    return values.map({v: i for i, v in enumerate(seen)})


def _summary_row(block: str, label: str, rows: pd.DataFrame, grid: list[str]) -> dict[str, Any]:
    """The :data:`SUMMARY_COLUMNS` of one block × estimator label from its (numeric) measurement rows."""
    per = rows.drop_duplicates(["cell", "point"])
    axes = [c for c in grid if per[c].notna().any()]
    points = len(per.drop_duplicates(axes)) if axes else int(per["point"].nunique())
    mc = bool((per["method"] == "mc").all())
    v = verdict.family_verdict(verdict.coordinate_terms(rows))
    return dict(block=block, estimator=label, method=per["method"].iloc[0], points=points,
                seeds=int(per["seed"].nunique()), num_samples=float(per["num_samples"].median()) if mc else np.nan,
                evaluations=float(per["evaluations_per_estimate"].median()),
                median_total_variance=float(per["total_variance"].median()), bias_detected=v.bias_detected,
                p_value=v.p_value if mc else np.nan, rel_bias_ub95=v.rel_bias_ub95,
                estimates_per_second=float(per["estimates_per_second"].median()) if mc else np.nan)


def summary(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
            estimator_order: Mapping[str, Sequence[str]] | None = None, *, reference: str | None = None
            ) -> pd.DataFrame:
    """The summary table: one row per block × estimator, with the bias verdict of :mod:`varbench.reports.verdict`.

    ``points`` counts distinct grid values (a static option such as ``cost`` splits a block into cells whose point
    indices restart, so counting indices would undercount); ``median_total_variance`` is over those points and
    seeds. Monte Carlo-only columns (``samples``, ``p_value``, ``estimates_per_second``) are NaN for exact rows.

    Args:
      frame: tidy rows (trace rows are left out).
      block_order: block names in order; other blocks follow in order of appearance.
      estimator_order: per block, its estimator labels in order; others follow in order of appearance.
      reference: the estimator label the variance ratios divide by (:mod:`varbench.reports.ratios`); None: each
        block's configured reference.

    Returns:
      The :data:`SUMMARY_COLUMNS` (legend: :data:`SUMMARY_LEGEND`), rows in block then estimator order.
    """
    rows = numeric(measurements(frame))
    if rows.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    grid = [c for c in rows.columns if c.startswith(GRID_PREFIX)]
    table = pd.DataFrame([_summary_row(block, label, d, grid)
                          for (block, label), d in rows.groupby(["block", "estimator_label"], sort=False)],
                         columns=list(SUMMARY_COLUMNS)).drop(columns=list(ratios.RATIO_COLUMNS))
    table = table.merge(ratios.ratio_table(rows, grid, reference, estimator_order), on=["block", "estimator"],
                        how="left")
    # Holm again across the report's Monte Carlo families: any false "bias detected" in the whole table has
    # probability at most verdict.REPORT_ALPHA, however many blocks the suite has.
    mc = table["method"].eq("mc")
    if mc.any():
        adjusted, detected = verdict.report_corrected(table.loc[mc, "p_value"])
        table["bias_detected"] = table["bias_detected"].astype(object)
        table.loc[mc, "p_value"], table.loc[mc, "bias_detected"] = adjusted, detected
    rank_block = _rank(table["block"], block_order)
    rank_est = pd.Series([_rank(pd.Series([e]), (estimator_order or {}).get(b)).iloc[0]
                          for b, e in zip(table["block"], table["estimator"])])
    first = pd.Series(range(len(table)))
    return (table.assign(_b=rank_block, _e=rank_est, _f=first).sort_values(["_b", "_e", "_f"])
            .drop(columns=["_b", "_e", "_f"]).reset_index(drop=True))

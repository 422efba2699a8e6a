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

#: Result fields that are one value per parameter coordinate.
PER_COORDINATE = ("grad_mean", "grad_se", "variance", "grad_exact", "bias", "bias_z", "snr", "mse")
#: Result fields that are one value per result.
PER_RESULT = ("problem", "estimator", "num_samples", "seed", "method", "evaluations_per_estimate",
              "total_variance", "objective_exact", "compile_seconds", "run_seconds", "samples_per_second",
              "backend", "dtype", "version")


GRID_PREFIX = "grid_"
OPTION_PREFIX = "opt_"
GROUP_VARIANCE_PREFIX = "group_variance_"
#: Per-group fields of a trace record, flattened to ``<field>_<group>`` columns.
GROUP_FIELDS = ("group_variance", "group_work_normalized_variance")


def grid_column(name: str) -> str:
    """The column of grid axis ``name`` (a problem option or a param)."""
    return GRID_PREFIX + name


def option_column(name: str) -> str:
    """The column of estimator option ``name``."""
    return OPTION_PREFIX + name


def trace_groups(frame: pd.DataFrame) -> list[str]:
    """Parameter groups (``encoder``, ``decoder``, ...) whose variance the trace rows of ``frame`` carry."""
    return [c.removeprefix(GROUP_VARIANCE_PREFIX) for c in frame.columns if c.startswith(GROUP_VARIANCE_PREFIX)
            and pd.to_numeric(frame[c], errors="coerce").notna().any()]


def _as_dict(result: Any) -> Mapping[str, Any]:
    return result.to_dict() if hasattr(result, "to_dict") else result


def records(results: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows ``{per-result fields, param, coordinate, value of each per-coordinate field, variance_lo/hi}``."""
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
    """A tidy pandas DataFrame of results (see :func:`records`)."""
    frame = pd.DataFrame.from_records(records(results))
    for col in PER_COORDINATE + ("variance_lo", "variance_hi", "objective_exact", "param_value"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def measurement_rows(results: Sequence[Any], points: Sequence[Mapping[str, Any]], *, block: str, cell: str,
                     problem_name: str, estimator_name: str, estimator_label: str,
                     estimator_options: Mapping[str, Any], static: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one suite cell: :func:`records` of each grid point's result, tagged with the cell and the point's
    grid values (``points[i]`` is ``{"options": {...}, "params": {...}}``)."""
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
    """Rows of one trace cell, flat for Parquet: per-parameter dicts are dropped (``params`` is kept as
    ``params_json``) and the per-group fields become one column per group (``group_variance_encoder``, ...)."""
    out = []
    for row in trace_records:
        flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
        flat.update(block=block, cell=cell, estimator_label=row["estimator"],
                    estimator_name=estimator_name(row["estimator"]), trace_seed=trace_seed,
                    params_json=json.dumps(row["params"]))
        flat.update({f"{field}_{group}": value for field in GROUP_FIELDS
                     for group, value in (row.get(field) or {}).items()})
        out.append(flat)
    return out


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per block × estimator: points measured, median variance, worst |bias z|, and throughput."""
    if frame.empty:
        return frame
    grouped = frame.groupby(["block", "estimator_label"], sort=False)
    out = grouped.agg(points=("point", "nunique"), median_variance=("variance", "median"),
                      max_abs_bias_z=("bias_z", lambda z: pd.to_numeric(z, errors="coerce").abs().max()),
                      samples_per_second=("samples_per_second", "median"), method=("method", "first"))
    return out.reset_index()

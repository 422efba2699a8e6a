"""Tidy long-format records: one row per result × parameter coordinate.

Works on ``Result.to_dict()`` dictionaries (or objects with ``to_dict``), so it needs neither JAX nor varbench's
engine: results can come back from JSON lines or Parquet.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

#: Result fields that are one value per parameter coordinate.
PER_COORDINATE = ("grad_mean", "grad_se", "variance", "grad_exact", "bias", "bias_z", "snr", "mse")
#: Result fields that are one value per result.
PER_RESULT = ("problem", "estimator", "num_samples", "seed", "method", "evaluations_per_estimate",
              "total_variance", "objective_exact", "compile_seconds", "run_seconds", "samples_per_second",
              "backend", "dtype", "version")


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

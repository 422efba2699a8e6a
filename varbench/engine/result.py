"""The Result of a measurement: every field of the public contract (docs/explanation/design.md)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

#: Field order of ``Result.to_dict()`` and the CLI's JSON, fixed by the public contract.
RESULT_FIELDS = (
    "problem", "estimator", "params", "num_samples", "seed", "method", "evaluations_per_estimate",
    "grad_mean", "grad_se", "variance", "variance_ci", "total_variance", "grad_exact", "objective_exact",
    "bias", "bias_z", "snr", "mse", "compile_seconds", "run_seconds", "estimates_per_second", "backend",
    "dtype", "version",
)

PerParam = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Result:
    """Statistics of a single gradient estimate at ``params``.

    Per-parameter fields map a parameter name to an array shaped like the parameter (``variance_ci`` has a
    trailing axis ``(lo, hi)``). ``variance`` is the variance of ONE estimate (not of the mean of
    ``num_samples``); ``grad_se`` is the standard error of ``grad_mean``; ``bias_z = bias / grad_se``;
    ``mse = variance + bias²`` is the mean squared error of one estimate; ``snr = |grad_mean| / √variance``.
    Fields that need an exact answer are ``None`` where the problem has none. With ``method="exact"`` the
    moments are computed by quadrature, ``grad_se`` is 0, ``variance_ci`` collapses to the variance,
    ``bias_z`` is ``None`` (there is no sampling error to compare with) and ``num_samples`` counts quadrature
    nodes. ``estimates_per_second`` is ``num_samples / run_seconds``: the compiled kernel's throughput (quadrature
    points per second in exact mode); ``compile_seconds`` is the time spent compiling, measured apart.
    """

    problem: str
    estimator: str
    params: PerParam
    num_samples: int
    seed: int
    method: str
    evaluations_per_estimate: int
    grad_mean: PerParam
    grad_se: PerParam
    variance: PerParam
    variance_ci: PerParam
    total_variance: float
    grad_exact: PerParam | None
    objective_exact: float | None
    bias: PerParam | None
    bias_z: PerParam | None
    snr: PerParam
    mse: PerParam | None
    compile_seconds: float
    run_seconds: float
    estimates_per_second: float
    backend: str
    dtype: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data, the CLI's JSON.

        Returns:
          ``{field: value}`` in :data:`RESULT_FIELDS` order: arrays become (nested) lists, NaN and ±inf ``None``.
        """
        return {name: _plain(getattr(self, name)) for name in RESULT_FIELDS}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value

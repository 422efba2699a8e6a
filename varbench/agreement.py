"""Does a measured gradient agree with a reference? Per-coordinate z-tests with Holm's correction.

Where the exact gradient is out of reach (``sbn`` on MNIST at 200 latent bits: 2^200 configurations), an
estimator's bias is judged against a reference gradient that is itself an estimate
(:func:`varbench.reference_gradient` with a trusted unbiased estimator): coordinate ``i`` gets

    z_i = (mean_i − ref_i) / sqrt(se_i² + ref_se_i²),

standard normal under "no bias" when the two are independent (different seeds) and their means are normal. The
two-sided p-values are combined with Holm's step-down procedure (:func:`varbench.unbiasedness.holm_reject_per_param`), so
the family-wise false-alarm rate over all coordinates is at most ``alpha``. As in the unbiasedness test, a
difference within float32 rounding (:data:`varbench.unbiasedness.ROUNDING_RTOL` of the reference's gradient scale)
is not counted: coordinates that no estimate moves (pixels constant over the data) then give z = 0.
The same function judges a reference against an exact gradient (``se = 0``), which validates the reference where
enumeration still works.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np
from scipy import stats as sps

from varbench.api import measure
from varbench.core.errors import VarbenchError
from varbench.unbiasedness import ROUNDING_RTOL, gradient_scale, holm_reject_per_param

PerParam = dict[str, np.ndarray]


class Agreement(NamedTuple):
    """Outcome of :func:`compare_gradients`: per-coordinate arrays keyed by parameter name, and their summary."""

    z: PerParam
    p_values: PerParam
    rejected: PerParam
    alpha: float

    @property
    def coordinates(self) -> int:
        """Number of coordinates tested (the size of the family Holm corrects for)."""
        return int(sum(np.size(v) for v in self.z.values()))

    @property
    def max_abs_z(self) -> float:
        """Largest |z| over every coordinate."""
        return max((float(np.max(np.abs(v))) for v in self.z.values() if np.size(v)), default=0.0)

    @property
    def p_value(self) -> float:
        """Family-wise p-value: the smallest Holm-adjusted p-value, ``min(1, m · min_i p_i)``; the family is
        rejected at level ``alpha`` exactly when this is at most ``alpha``."""
        smallest = min((float(np.min(v)) for v in self.p_values.values() if np.size(v)), default=1.0)
        return min(1.0, self.coordinates * smallest)

    @property
    def passed(self) -> bool:
        """True when Holm's procedure rejected no coordinate (no disagreement at family-wise level ``alpha``)."""
        return not any(np.any(r) for r in self.rejected.values())


def compare_gradients(mean: Mapping[str, Any], se: Mapping[str, Any], ref_mean: Mapping[str, Any],
                      ref_se: Mapping[str, Any], *, alpha: float = 1e-3) -> Agreement:
    """Per-coordinate z-tests of ``mean`` against ``ref_mean``, Holm-corrected over all coordinates.

    Args:
      mean: the gradient tested, ``{name: array}``.
      se: its standard errors (0 where exact).
      ref_mean: the reference gradient, same names and shapes.
      ref_se: the reference's standard errors (0 for an exact gradient).
      alpha: the family-wise level.

    Returns:
      The :class:`Agreement`: z (0 within float32 rounding; ±inf where both errors are 0 and the difference is
      beyond rounding), two-sided p-values, Holm's rejections.

    Raises:
      VarbenchError: ``alpha`` outside (0, 1), or the names or shapes of the four mappings differ.
    """
    if not 0 < alpha < 1:
        raise VarbenchError(f"need 0 < alpha < 1, got {alpha!r}")
    names = sorted(ref_mean)
    arrays = [{k: np.asarray(m[k], np.float64) for k in names} if set(m) == set(names) else None
              for m in (mean, se, ref_mean, ref_se)]
    if any(a is None for a in arrays) or any(a[k].shape != arrays[2][k].shape for a in arrays for k in names):
        raise VarbenchError(f"gradient and reference must have the same parameters and shapes: {names}")
    mean64, se64, ref64, ref_se64 = arrays
    rounding = {k: ROUNDING_RTOL * v for k, v in gradient_scale(ref64).items()}
    z, p = {}, {}
    for k in names:
        diff = mean64[k] - ref64[k]
        excess = np.maximum(np.abs(np.nan_to_num(diff, nan=np.inf)) - rounding[k], 0.0)
        scale = np.sqrt(se64[k] ** 2 + ref_se64[k] ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(scale > 0, excess / scale, np.where(excess == 0, 0.0, np.inf))
        size = np.where(np.isnan(scale), np.inf, size)  # an undefined error is a disagreement, not a pass
        z[k] = np.sign(np.nan_to_num(diff, nan=1.0)) * size
        p[k] = 2 * sps.norm.sf(size)
    return Agreement(z, p, holm_reject_per_param(p, alpha), alpha)


def bias_against_reference(problem: Any, estimator: Any, reference: tuple[Mapping[str, Any], Mapping[str, Any]], *,
                           params: Mapping[str, Any] | None = None, num_samples: int, seed: int = 1,
                           alpha: float = 1e-3, **measure_kwargs: Any) -> tuple[Agreement, Any]:
    """Measure ``estimator`` and test its mean against a reference gradient (:func:`compare_gradients`).

    Args:
      problem: a spec string or a problem (its minibatch size may differ from the reference's: both estimate
        the same objective's gradient).
      estimator: a spec string or an estimator.
      reference: ``(mean, se)`` from :func:`varbench.reference_gradient` at the same params.
      params: ``{name: value}``, the point.
      num_samples: estimates of ``estimator``.
      seed: the PRNG seed; it must differ from the reference's so that the two errors are independent.
      alpha: the family-wise level.
      **measure_kwargs: passed to :func:`varbench.measure` (``warmup``, ``chunk_size``, …).

    Returns:
      ``(agreement, result)``: the test and the :class:`varbench.Result` measured.
    """
    result = measure(problem, estimator, params=params, num_samples=num_samples, seed=seed, **measure_kwargs)
    ref_mean, ref_se = reference
    return compare_gradients(result.grad_mean, result.grad_se, ref_mean, ref_se, alpha=alpha), result

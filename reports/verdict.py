"""Bias verdicts for the report: one Holm-corrected test per block × estimator. Pure NumPy/SciPy (never JAX).

The question a reader asks of a table row is "is this estimator biased here, and by how much at most?". A maximum
of per-coordinate |z| over many coordinates and grid points answers it badly: with m unbiased coordinates the
maximum exceeds 3 with probability ≈ 1 − 0.9973^m (5% at m = 20, 42% at m = 200). So the report treats every
coordinate of every grid point (and seed) of one block × estimator as one family and applies Holm's step-down
procedure (Holm 1979, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:65–70), the
test :func:`varbench.testing.bias_test` uses; the family-wise false-alarm rate is at most :data:`ALPHA`. Holm's
procedure rejects at least one hypothesis exactly when Bonferroni's does, so the family's adjusted p-value is
``min(1, m · min_i p_i)``.

How large a bias the data still allow is the other half, measured per parameter group G (one param at one
measurement) as ``‖bias_G‖ / ‖∇_G‖``: a uniform 5% bias reads 5% however many coordinates the group has, and a
coordinate whose gradient crosses zero does not make it explode (a per-coordinate ratio read 2.3–2.6 for an
unbiased pathwise estimator there). Its simultaneous upper confidence bound uses the Bonferroni bounds of the m
coordinates, ``u_i = |bias_i| + z_{1 − (1 − CONFIDENCE)/(2m)} se_i``, which hold together, so
``‖u_G‖ / ‖∇_G‖`` bounds every group's ratio at once; a group whose gradient norm is below a tenth of the
measurement's largest is judged against that tenth.

Floating-point rounding is not bias. Estimates are computed in float32 while exact gradients are float64, so an
estimate whose noise is degenerate (variance exactly 0, such as DisARM at logit 0) differs from the exact gradient by
float32 ulps, and a z-score against a (near) zero standard error turns that into |z| ≈ 10³. The ulps are those of
the estimate's intermediate values, which can be much larger than the estimate (DisARM subtracts two costs of
about 0.25 to get a gradient of 5·10⁻⁴: about 80 ulps of the gradient at logit 0). So a coordinate's |bias| up to
:data:`ROUNDING_ULPS` float32 ulps (≈ 1.2·10⁻⁴ relative) of the estimate's magnitude (|∇_i| floored as above, plus
its standard deviation) is treated as rounding and subtracted before testing: the verdict's resolution, stated in
:data:`RULE`. Exact-mode measurements have no sampling noise:
their verdict is the exact bias, again beyond rounding.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri  # the normal's tails; scipy.stats would cost half a second to import

#: Family-wise false-alarm rate of the report's bias verdict (per block × estimator).
ALPHA = 0.01
#: Family-wise false-alarm rate of a whole report (every Monte Carlo block × estimator of a store together): the
#: families' p-values are corrected again by Holm's procedure across the report (:func:`report_corrected`), so a
#: report of unbiased estimators shows any "bias detected" with probability at most this, however many blocks.
REPORT_ALPHA = 0.05
#: Confidence of the upper bound on the relative bias (simultaneous over the family's coordinates).
CONFIDENCE = 0.95
#: A |bias| up to this many float32 ulps of an estimate's magnitude is float rounding, not bias (2¹⁰: room for the
#: cancellation inside an estimate; relative biases below ≈ 1.2e-4 are beyond what a float32 estimate resolves).
ROUNDING_ULPS = 1024
FLOAT32_EPS = float(np.finfo(np.float32).eps)
#: Columns that identify one measurement (one Result) in a tidy frame.
MEASUREMENT = ("cell", "point")
#: The relative bias that matters: a Monte Carlo row reads "no bias detected" only when its ``rel_bias_ub95`` is
#: below this (the test could have seen a bias this large); above it the row reads "inconclusive", since a test
#: whose bound is 127% of the gradient could not have seen the biases a reader cares about.
CONCLUSIVE_BOUND = 0.10

RULE = (f"Bias verdict: every coordinate of every grid point of a block × estimator is one family (Holm's "
        f"correction within it), and the families of the whole report are corrected again by Holm at family-wise "
        f"level {REPORT_ALPHA:g}: a report of unbiased estimators shows any 'bias detected' with probability at most "
        f"{REPORT_ALPHA:g} (p: the report-wide Holm-adjusted p-value); "
        f"rel_bias_ub95: a simultaneous {CONFIDENCE:.0%} upper bound on the largest ‖bias‖ / ‖gradient‖ of a "
        f"parameter group (one param at one point); differences "
        f"within {ROUNDING_ULPS} float32 ulps ({ROUNDING_ULPS * FLOAT32_EPS:.1e} relative) of an estimate are "
        "rounding, not bias; exact-mode rows give the exact bias. "
        f"A Monte Carlo row reads 'no bias detected' only when rel_bias_ub95 is below {CONCLUSIVE_BOUND:.0%} (the "
        f"test could have seen a bias that large); otherwise it reads 'inconclusive', with n: the estimates per grid "
        f"point that would bring the bound below {CONCLUSIVE_BOUND:.0%} (the bound shrinks as 1/√n).")


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def coordinate_terms(frame: pd.DataFrame) -> pd.DataFrame:
    """The test terms of each parameter coordinate of each measurement.

    Args:
      frame: tidy measurement rows (one per parameter coordinate).

    Returns:
      Per row: ``scale`` (gradient scale), ``tolerance`` (rounding), ``abs_bias``, ``beyond_rounding`` (the |bias|
      beyond rounding), ``se``, ``z`` and the two-sided ``p`` (exact rows get p = 0 or 1), and ``exact``.
    """
    grad = _numeric(frame, "grad_exact").abs()
    keys = [frame[k] for k in MEASUREMENT if k in frame]
    largest = grad.groupby(keys, dropna=False).transform("max") if keys else pd.Series(grad.max(), index=grad.index)
    floor = (0.1 * largest).where(largest > 0, 1.0)
    scale = np.maximum(grad, floor)
    sd = np.sqrt(_numeric(frame, "variance").clip(lower=0))
    tolerance = ROUNDING_ULPS * FLOAT32_EPS * (scale + sd.fillna(0))
    bias = _numeric(frame, "bias").abs()
    beyond = (bias - tolerance).clip(lower=0)
    se = _numeric(frame, "grad_se")
    exact = frame["method"].eq("exact") if "method" in frame else pd.Series(False, index=frame.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(beyond == 0, 0.0, beyond / se)
    z = pd.Series(z, index=frame.index).where(bias.notna() & (exact | se.notna()))
    p = pd.Series(2 * ndtr(-np.abs(z.to_numpy())), index=frame.index).where(z.notna())
    p = p.where(~exact, (beyond > 0).map({True: 0.0, False: 1.0}).where(bias.notna()))
    measurement = _ids(frame, [k for k in MEASUREMENT if k in frame])
    group = _ids(frame, [k for k in (*MEASUREMENT, "param") if k in frame])
    return pd.DataFrame(dict(scale=scale, tolerance=tolerance, abs_bias=bias, beyond_rounding=beyond, se=se, z=z,
                             p=p, exact=exact, grad=grad, measurement=measurement, group=group), index=frame.index)


def _ids(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One integer per distinct combination of ``columns`` (0 everywhere without columns)."""
    if not columns:
        return pd.Series(0, index=frame.index)
    return pd.Series(frame.groupby(columns, dropna=False, sort=False).ngroup(), index=frame.index)


def holm_adjusted(p_values: np.ndarray) -> np.ndarray:
    """Holm's adjusted p-values.

    Args:
      p_values: the family's p-values (any shape).

    Returns:
      The adjusted p-values, shaped like ``p_values``: hypothesis i is rejected at family-wise level α exactly when
      adjusted p_i ≤ α.
    """
    p = np.asarray(p_values, np.float64).ravel()
    m = p.size
    order = np.argsort(p)
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out.reshape(np.shape(p_values))


def _aggregate(terms: pd.DataFrame, keys: list[pd.Series], alpha: float, confidence: float) -> pd.DataFrame:
    """Verdicts of every family at once (vectorized: a report or a calibration study has thousands of families).

    Holm's smallest adjusted p-value is ``min(1, m · min_i p_i)``, and the family rejects exactly when it is at
    most ``alpha``; the upper bound uses the Bonferroni quantile for the family's own m."""
    usable = terms["p"].notna()
    t = terms[usable]
    keys = [k[usable] for k in keys]
    m = t["p"].groupby(keys, sort=False).transform("size")
    c = ndtri(1 - (1 - confidence) / (2 * m.to_numpy()))
    upper = t["abs_bias"].where(t["exact"], t["abs_bias"] + c * t["se"].fillna(np.inf))
    rel, bound = _group_relative(t, keys, upper)
    out = pd.DataFrame(dict(exact=t["exact"], p=t["p"], m=m, rel=rel, upper=bound)).groupby(keys, sort=False).agg(
        exact=("exact", "all"), coordinates=("m", "first"), p_min=("p", "min"), rel_bias=("rel", "max"),
        rel_bias_ub95=("upper", "max"))
    out["p_value"] = np.minimum(1.0, out["coordinates"] * out["p_min"])
    out["bias_detected"] = out["p_value"] <= alpha
    out["method"] = np.where(out["exact"], "exact", "mc")
    return out[["method", "coordinates", "bias_detected", "p_value", "rel_bias", "rel_bias_ub95"]]


def _group_relative(t: pd.DataFrame, keys: list[pd.Series], upper: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Per coordinate, its parameter group's relative bias ``‖bias_G‖ / ‖∇_G‖`` and the bound ``‖u_G‖ / ‖∇_G‖``
    from the coordinates' simultaneous bounds ``u_i`` (all hold together with the stated confidence, so the norm
    bound does too). A group is one param at one measurement; a group whose gradient norm is below a tenth of the
    measurement's largest group norm is judged against that tenth (1 if the whole gradient is 0), so a coordinate
    or group whose gradient crosses zero does not make the ratio explode."""
    group = [*keys, t["group"]]
    frame = pd.DataFrame(dict(b2=t["abs_bias"] ** 2, u2=upper ** 2, g2=t["grad"] ** 2))
    sums = frame.groupby(group, sort=False).transform("sum")
    norm = np.sqrt(sums["g2"])
    largest = norm.groupby([*keys, t["measurement"]], sort=False).transform("max")
    scale = np.maximum(norm, (0.1 * largest).where(largest > 0, 1.0))
    return np.sqrt(sums["b2"]) / scale, np.sqrt(sums["u2"]) / scale


class Verdict(NamedTuple):
    """The bias verdict on one family (one block × estimator): the columns of :func:`verdicts`."""

    #: ``mc`` or ``exact``; None when no coordinate could be tested.
    method: str | None
    #: The family's size m (coordinates × grid points × seeds).
    coordinates: int
    #: Whether a bias was detected; NaN without an exact gradient.
    bias_detected: bool | float
    #: The family's Holm-adjusted p-value.
    p_value: float
    #: The largest |bias| / gradient scale.
    rel_bias: float
    #: Its simultaneous upper confidence bound (in exact mode, the exact value).
    rel_bias_ub95: float


#: The verdict on a family with no testable coordinate (no exact gradient).
UNTESTED = Verdict(method=None, coordinates=0, bias_detected=np.nan, p_value=np.nan, rel_bias=np.nan,
                   rel_bias_ub95=np.nan)


def family_verdict(terms: pd.DataFrame, alpha: float = ALPHA, confidence: float = CONFIDENCE) -> Verdict:
    """The verdict on one family.

    Args:
      terms: the :func:`coordinate_terms` rows of one block × estimator.
      alpha: the family-wise false-alarm rate.
      confidence: the confidence of the upper bound on the relative bias.

    Returns:
      The verdict (:data:`UNTESTED` when no row has a p-value).
    """
    out = _aggregate(terms, [pd.Series(0, index=terms.index)], alpha, confidence)
    if out.empty:
        return UNTESTED
    row = out.iloc[0]
    return Verdict(method=row["method"], coordinates=int(row["coordinates"]), bias_detected=bool(row["bias_detected"]),
                   p_value=float(row["p_value"]), rel_bias=float(row["rel_bias"]),
                   rel_bias_ub95=float(row["rel_bias_ub95"]))


def verdicts(frame: pd.DataFrame, by: tuple[str, ...] = ("block", "estimator_label"), alpha: float = ALPHA,
             confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One verdict per family, in the frame's order of first appearance.

    Args:
      frame: tidy rows (trace rows, without coordinates, are left out).
      by: the columns whose values make a family (default: block × estimator).
      alpha: the family-wise false-alarm rate.
      confidence: the confidence of the upper bound on the relative bias.

    Returns:
      The ``by`` columns, ``method``, ``coordinates`` (family size m), ``bias_detected`` (bool; NaN without an
      exact gradient), ``p_value`` (Holm-adjusted, family-wise), ``rel_bias`` (largest ``|bias|`` / gradient scale:
      exact in exact mode, noise-inflated in Monte Carlo) and ``rel_bias_ub95`` (its simultaneous upper confidence
      bound; in exact mode the exact value): the fields of :class:`Verdict`.
    """
    columns = [*by, "method", "coordinates", "bias_detected", "p_value", "rel_bias", "rel_bias_ub95"]
    rows = frame[frame["param"].notna()] if "param" in frame else frame
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keys = [rows[k] for k in by]
    found = _aggregate(coordinate_terms(rows), keys, alpha, confidence)
    groups = rows[list(by)].drop_duplicates()
    out = groups.merge(found.reset_index().rename(columns={f"level_{i}": k for i, k in enumerate(by)}),
                       on=list(by), how="left")
    out["coordinates"] = out["coordinates"].fillna(0).astype(int)
    out["bias_detected"] = out["bias_detected"].astype(object).where(out["bias_detected"].notna(), np.nan)
    return out[columns].reset_index(drop=True)


def report_corrected(p_values: pd.Series, alpha: float = REPORT_ALPHA
                     ) -> tuple[pd.Series, pd.Series]:
    """Monte Carlo families' verdicts corrected across a whole report (Holm 1979 again, over their p-values).

    A family's p-value (Holm within it: ``min(1, m · min_i p_i)``) controls false alarms within one block ×
    estimator; a suite of 30 blocks would still flag an unbiased estimator about a quarter of the time at 0.01
    each. Holm's step-down over the F families' p-values bounds the probability of ANY false "bias detected" in
    the report by ``alpha``. Exact-mode families are not random (their p is 0 or 1): they keep their verdict and
    are not passed here.

    Args:
      p_values: one p-value per Monte Carlo family (NaN where untested).
      alpha: the report's family-wise false-alarm rate.

    Returns:
      ``(report-wide Holm-adjusted p-values, adjusted p ≤ alpha)``, NaN where untested.
    """
    p = pd.to_numeric(p_values, errors="coerce").astype(float)
    tested = p.notna()
    adjusted = p.copy()
    adjusted[tested] = holm_adjusted(p[tested].to_numpy())
    detected = pd.Series(np.nan, index=p.index, dtype=object)
    detected[tested] = adjusted[tested] <= alpha
    return adjusted, detected


class Conclusion(enum.Enum):
    """What a verdict lets a reader conclude about one block × estimator: a bias was DETECTED; NONE_DETECTED where
    the test could have seen one of :data:`CONCLUSIVE_BOUND` (exact rows: no bias); INCONCLUSIVE where none was
    detected but the bound is not below it (or unknown); UNTESTED without an exact gradient."""

    DETECTED = "detected"
    NONE_DETECTED = "none detected"
    INCONCLUSIVE = "inconclusive"
    UNTESTED = "untested"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value))


def conclusion(row: pd.Series | Mapping[str, Any], threshold: float = CONCLUSIVE_BOUND) -> Conclusion:
    """What a verdict row lets a reader conclude.

    Args:
      row: a row of :func:`verdicts` or of the summary table (``bias_detected``, ``method``, ``rel_bias_ub95``).
      threshold: the relative bias that matters (:data:`CONCLUSIVE_BOUND`).

    Returns:
      :attr:`Conclusion.NONE_DETECTED` for a Monte Carlo row only when no bias was detected and ``rel_bias_ub95``
      is below ``threshold``; :attr:`Conclusion.INCONCLUSIVE` when no bias was detected with a larger or unknown
      bound.
    """
    detected = row.get("bias_detected")
    if _missing(detected):
        return Conclusion.UNTESTED
    if detected:
        return Conclusion.DETECTED
    bound = row.get("rel_bias_ub95")
    if row.get("method") == "exact" or (not _missing(bound) and float(bound) < threshold):
        return Conclusion.NONE_DETECTED
    return Conclusion.INCONCLUSIVE


def samples_needed(num_samples: float, bound: float, threshold: float = CONCLUSIVE_BOUND) -> int | None:
    """The estimates per grid point that would bring a bound of ``bound`` below ``threshold``.

    The bound is a multiple of the standard errors, which shrink as 1/√n: ``n · (bound / threshold)²``, rounded up
    to two significant digits (a figure to plan a run with, not a promise).

    Args:
      num_samples: the estimates per grid point behind ``bound``.
      bound: the upper bound on the relative bias (``rel_bias_ub95``).
      threshold: the bound wanted.

    Returns:
      The sample count, or None when ``num_samples`` or ``bound`` is not a positive finite number.
    """
    need = float(num_samples) * (float(bound) / threshold) ** 2
    if not np.isfinite(need) or need <= 0:
        return None
    step = 10.0 ** (np.floor(np.log10(need)) - 1)
    # the tolerance keeps a product that lands on a round figure up to float error from going one step up
    return int(np.ceil(need / step - 1e-9) * step)


def readable_count(count: float) -> str:
    """A large count as people write it: ``8400``, ``17k``, ``1.7M``, ``2.3e9``.

    Args:
      count: a count (already rounded to the digits worth showing, as :func:`samples_needed` does).

    Returns:
      The text.
    """
    count = float(count)
    if count >= 1e9:
        mantissa, exponent = f"{count:.2g}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if count >= 1e6:
        return f"{count / 1e6:.3g}M"
    return f"{count / 1e3:.3g}k" if count >= 1e4 else f"{count:.0f}"


def percent(fraction: float) -> str:
    """A relative bias (bound) as a percentage: two significant digits, whole percents from 10% on.

    Args:
      fraction: the relative value (1.27 for 127%).

    Returns:
      ``127%``, ``3.2%``, ``0.041%``, or ``–`` when not finite.
    """
    pct = 100 * float(fraction)
    if not np.isfinite(pct):
        return "–"
    return f"{pct:.0f}%" if abs(pct) >= 10 else f"{pct:.2g}%"


def _p_text(p: float) -> str:
    # a normal tail beyond |z| ≈ 38 underflows to 0 in double precision: say so rather than "p = 0"
    return "p < 1e-300" if p == 0 else f"p = {p:.2g}"


def describe(row: pd.Series | Mapping[str, Any], threshold: float = CONCLUSIVE_BOUND) -> str:
    """A verdict in words, for a table cell: "no bias detected" only where the test could have seen the bias that
    matters (:func:`conclusion`).

    Args:
      row: a row of :func:`verdicts` or of the summary table (``bias_detected``, ``method``, ``p_value``,
        ``rel_bias_ub95`` and, for the samples that would settle an inconclusive row, ``num_samples``).
      threshold: the relative bias that matters (:data:`CONCLUSIVE_BOUND`).

    Returns:
      ``yes (p = 3e-12)`` / ``no bias detected (p = 0.41, bound 3.2%)`` / ``inconclusive (bound 127%, p = 0.93;
      n ≈ 1.7M for 10%)`` / ``yes (exact)`` / ``no (exact)`` / ``– (no exact gradient)``; a row without a bound
      reads ``not detected (p = 0.41)``.
    """
    found = conclusion(row, threshold)
    if found is Conclusion.UNTESTED:
        return "– (no exact gradient)"
    if row.get("method") == "exact":
        return "yes (exact)" if found is Conclusion.DETECTED else "no (exact)"
    p = _p_text(row["p_value"])
    if found is Conclusion.DETECTED:
        return f"yes ({p})"
    if "rel_bias_ub95" not in row:  # a caller that passes no bound (a re-test's p-value alone)
        return f"not detected ({p})"
    bound = row["rel_bias_ub95"]
    if found is Conclusion.NONE_DETECTED:
        return f"no bias detected ({p}, bound {percent(bound)})"
    if _missing(bound) or not np.isfinite(float(bound)):
        return f"inconclusive (no finite bound, {p})"
    need = None if _missing(row.get("num_samples")) else samples_needed(row["num_samples"], bound, threshold)
    plan = "" if need is None else f"; n ≈ {readable_count(need)} for {percent(threshold)}"
    return f"inconclusive (bound {percent(bound)}, {p}{plan})"

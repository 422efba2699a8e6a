"""Streaming moments on device, and the statistics reported from them.

Chunk moments are merged with the pairwise update of Chan, Golub & LeVeque (1979) extended to third and fourth
central moments by Pébay (2008), "Formulas for robust, one-pass parallel computation of covariances and
arbitrary-order statistical moments" (Sandia report SAND2008-6212), eqs. (3.1)–(3.3). The fourth moment gives a
variance confidence interval that accounts for the estimate's kurtosis.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as sps


class Moments(NamedTuple):
    """Count, mean and summed central powers ``M_p = Σ (g − mean)^p`` of one coordinate array."""

    count: jax.Array
    mean: jax.Array
    m2: jax.Array
    m3: jax.Array
    m4: jax.Array
    nonfinite: jax.Array  # number of non-finite estimates seen (they are excluded from the moments)


def empty_moments(like: jax.Array) -> Moments:
    z = jnp.zeros(like.shape, like.dtype)
    return Moments(jnp.zeros((), like.dtype), z, z, z, z, jnp.zeros(like.shape, jnp.int32))


def chunk_moments(values: jax.Array, valid: jax.Array) -> Moments:
    """Two-pass moments of ``values`` (leading axis = samples) over the rows where ``valid`` is True."""
    finite = jnp.isfinite(values)
    valid = valid.reshape((-1,) + (1,) * (values.ndim - 1))
    mask = valid & finite
    w = mask.astype(values.dtype)
    count = jnp.sum(w, 0)
    clean = jnp.where(mask, values, 0)
    mean = jnp.sum(clean, 0) / jnp.maximum(count, 1)
    d = jnp.where(mask, values - mean, 0)
    d2 = d * d
    nonfinite = jnp.sum(valid & ~finite, 0).astype(jnp.int32)
    # Non-finite estimates are counted separately; with none, count is the same for every coordinate.
    return Moments(jnp.min(count), mean, jnp.sum(d2, 0), jnp.sum(d2 * d, 0), jnp.sum(d2 * d2, 0), nonfinite)


def merge(a: Moments, b: Moments) -> Moments:
    """Exact merge of the moments of two disjoint sets of samples (Pébay 2008)."""
    n = a.count + b.count
    safe_n = jnp.maximum(n, 1)
    delta = b.mean - a.mean
    fa, fb = a.count / safe_n, b.count / safe_n
    mean = a.mean + delta * fb
    m2 = a.m2 + b.m2 + delta * delta * a.count * fb
    m3 = (a.m3 + b.m3 + delta ** 3 * a.count * fb * (fa - fb)
          + 3 * delta * (fa * b.m2 - fb * a.m2))
    m4 = (a.m4 + b.m4 + delta ** 4 * a.count * fb * (fa * fa - fa * fb + fb * fb)
          + 6 * delta * delta * (fa * fa * b.m2 + fb * fb * a.m2)
          + 4 * delta * (fa * b.m3 - fb * a.m3))
    return Moments(n, mean, m2, m3, m4, a.nonfinite + b.nonfinite)


class Summary(NamedTuple):
    """Per-coordinate statistics of a single estimate, as numpy arrays."""

    mean: np.ndarray
    se: np.ndarray
    variance: np.ndarray
    variance_lo: np.ndarray
    variance_hi: np.ndarray
    kurtosis: np.ndarray


def variance_interval(variance: np.ndarray, kurtosis: np.ndarray, n: int, level: float = 0.95
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Confidence interval for a variance that holds for non-normal data.

    Uses the delta method on ``log s²``: ``Var(log s²) ≈ (κ − (n − 3)/(n − 1)) / n`` with κ the kurtosis
    ``m4 / m2²`` (Bonett 2006, "Approximate confidence interval for standard deviation of nonnormal
    distributions", CSDA 50(3)). For normal data κ = 3 and this is the usual ``2/(n − 1)``; heavy-tailed
    estimates (large κ) get wider intervals. The log scale keeps the interval positive.
    """
    z = sps.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_var_var = np.maximum(kurtosis - (n - 3) / (n - 1), 0.0) / n
        half = z * np.sqrt(log_var_var)
        lo = np.where(variance > 0, variance * np.exp(-half), 0.0)
        hi = np.where(variance > 0, variance * np.exp(half), 0.0)
    return lo, hi


def summarize(m: Moments) -> Summary:
    """Mean, standard error, unbiased variance and its 95% interval, per coordinate."""
    n = float(np.asarray(m.count))
    mean = np.asarray(m.mean, np.float64)
    m2, m4 = np.asarray(m.m2, np.float64), np.asarray(m.m4, np.float64)
    variance = m2 / max(n - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurtosis = np.where(m2 > 0, n * m4 / (m2 * m2), 3.0)
    lo, hi = variance_interval(variance, kurtosis, max(int(n), 2))
    se = np.sqrt(variance / max(n, 1.0))
    return Summary(mean, se, variance, lo, hi, kurtosis)

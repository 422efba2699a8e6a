"""Streaming moments on device, and the statistics reported from them.

The kernel carries power sums of shifted, scaled estimates (:class:`PowerSums`, compensated float32) and forms
central moments once, on the host in float64 (:func:`to_moments`). Moments of disjoint sample sets (devices) are
merged with the pairwise update of Chan, Golub & LeVeque (1979) extended to third and fourth
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
    """Count, mean and summed central powers ``M_p = Σ (g − mean)^p`` of one coordinate array (on the host, in
    float64 once formed by :func:`to_moments`)."""

    count: jax.Array
    mean: jax.Array
    m2: jax.Array
    m3: jax.Array
    m4: jax.Array
    nonfinite: jax.Array  # number of estimates with a non-finite coordinate (they are excluded from the moments)


class PowerSums(NamedTuple):
    """The kernel's loop carry for one parameter: running sums ``S_p = Σ u^p`` (p = 0…4) of the shifted, scaled
    estimates ``u = (g − shift) / scale``, each kept as an unevaluated float32 sum ``hi + lo``.

    Why this form: (1) one pass per chunk, with no per-chunk mean to subtract first and no division in the carry;
    (2) ``shift`` is the first chunk's mean, so ``u`` is centred and the central moments formed at the end
    (:func:`to_moments`, in float64) lose nothing to cancellation; (3) ``scale`` is a power of two near the first
    chunk's largest deviation, so ``u⁴`` stays far from float32's overflow even when the estimates are ~1e11
    (``g⁴`` overflows at ~4e9), and scaling by it is exact; (4) ``hi + lo`` is Neumaier's compensated sum, so
    adding the 10⁴–10⁶ chunk sums of a 10⁹–10¹⁰-sample run keeps ~48 bits, not float32's 24: the float32 carry
    this replaces drifted to |bias_z| = 4.8 at 10⁹ samples of an unbiased estimator.
    """

    shift: jax.Array
    scale: jax.Array
    hi: jax.Array  # (5, *shape)
    lo: jax.Array  # (5, *shape)
    nonfinite: jax.Array  # () int32: estimates with a non-finite coordinate (excluded from the sums)


POWERS = 5


def empty_power_sums(like: jax.Array) -> PowerSums:
    """The loop carry before the first chunk: zero sums, shift 0, scale 1.

    Args:
      like: an array shaped and typed as one estimate's coordinates, ``(coordinates,)``.

    Returns:
      Empty :class:`PowerSums` (the first chunk fixes the shift and scale).
    """
    z = jnp.zeros((POWERS,) + like.shape, like.dtype)
    return PowerSums(jnp.zeros(like.shape, like.dtype), jnp.ones(like.shape, like.dtype), z, z,
                     jnp.zeros((), jnp.int32))


def _coordinates(values: jax.Array, axis: int) -> tuple[int, ...]:
    """Shape of one estimate's coordinates: ``values`` without its samples ``axis`` (0: the first, -1: the last)."""
    return values.shape[1:] if axis == 0 else values.shape[:-1]


def _along(x: jax.Array, values: jax.Array, axis: int) -> jax.Array:
    """A per-sample vector ``x`` shaped to broadcast against ``values`` along its samples ``axis``."""
    return x.reshape((-1,) + (1,) * (values.ndim - 1)) if axis == 0 else x


def _per_coordinate(x: jax.Array, axis: int) -> jax.Array:
    """A per-coordinate array shaped to broadcast against values whose samples lie along ``axis``."""
    return x if axis == 0 else x[..., None]


def _rows(values: jax.Array, valid: jax.Array, axis: int = 0) -> tuple[jax.Array, jax.Array]:
    """Rows (estimates) to use: valid and finite in every coordinate; and the count of valid non-finite ones."""
    if axis == 0:
        finite = jnp.all(jnp.isfinite(values.reshape(values.shape[0], -1)), axis=1)
    else:
        finite = jnp.all(jnp.isfinite(values.reshape(-1, values.shape[-1])), axis=0)
    return valid & finite, jnp.sum(valid & ~finite).astype(jnp.int32)


def _pilot(values: jax.Array, rows: jax.Array, axis: int = 0) -> tuple[jax.Array, jax.Array]:
    """Shift (mean of the used rows) and scale (a power of two ≥ their largest deviation, 1 if none)."""
    r = _along(rows, values, axis)
    shift = jnp.sum(jnp.where(r, values, 0), axis) / jnp.maximum(jnp.sum(rows), 1).astype(values.dtype)
    spread = jnp.max(jnp.where(r, jnp.abs(values - _per_coordinate(shift, axis)), 0), axis)
    ok = jnp.isfinite(spread) & (spread > 0)
    _, exponent = jnp.frexp(jnp.where(ok, spread, 1))  # spread = m · 2^exponent with m in [0.5, 1)
    scale = jnp.where(ok, jnp.ldexp(jnp.ones_like(spread), exponent), 1).astype(values.dtype)
    return jnp.where(jnp.isfinite(shift), shift, 0), scale


#: Samples summed sequentially before the sums of those blocks are added (``chunk_power_sums(block=...)``): XLA's
#: CPU back end sums a long axis as a tree whose first level is windows of 32.
SUM_BLOCK = 32


def _sums_of_powers(u: jax.Array, axis: int, block: int) -> list[jax.Array]:
    """``[Σ u, Σ u², Σ u³, Σ u⁴]`` along ``axis`` (0 or -1), first over consecutive blocks of ``block`` samples in
    one variadic reduce, if ``block`` divides a longer axis.

    Why blocks: XLA's CPU back end sums a long axis as a tree of 32-element windows (for accuracy), and to do so it
    writes each power out as a chunk-sized array first, four passes over memory. One variadic reduce over short
    blocks computes all four powers in registers, reading the chunk once; the blocks' sums then go to XLA's tree.
    Its error against float64 equals the tree's (1.5e-7 to 2.8e-7 relative in tests/varbench/test_stats.py's
    layouts), and it runs 2.2-2.7x as fast on a materialized chunk (benchmarks/RESULTS.md). A variadic reduce over
    the whole axis would be about as fast and 5-270x less accurate: it sums sequentially.
    """
    n = u.shape[axis]
    if not block or n <= block or n % block:
        u2 = u * u
        return [jnp.sum(u, axis), jnp.sum(u2, axis), jnp.sum(u2 * u, axis), jnp.sum(u2 * u2, axis)]
    if axis == 0:
        blocks, inner = u.reshape((n // block, block) + u.shape[1:]), 1
    else:
        blocks = u.reshape(u.shape[:-1] + (n // block, block))
        inner = blocks.ndim - 1
    b2 = blocks * blocks
    zero = jnp.zeros((), u.dtype)
    parts = jax.lax.reduce((blocks, b2, b2 * blocks, b2 * b2), (zero,) * 4,
                           lambda x, y: tuple(p + q for p, q in zip(x, y)), (inner,))
    return [jnp.sum(part, axis) for part in parts]


def chunk_power_sums(values: jax.Array, rows: jax.Array | None, shift: jax.Array, scale: jax.Array,
                     axis: int = 0, block: int = 0) -> jax.Array:
    """``[Σ 1, Σ u, Σ u², Σ u³, Σ u⁴]`` over one chunk's rows (only the ``rows`` marked True, unless None), shape
    ``(5, *coords)``. The samples lie along ``axis`` of ``values`` (0 or -1); ``block`` (the CPU kernel's
    :data:`SUM_BLOCK`) sums blocks of that many samples first, in one pass (:func:`_sums_of_powers`)."""
    u = (values - _per_coordinate(shift, axis)) * (1 / _per_coordinate(scale, axis))
    coords = _coordinates(values, axis)
    count = jnp.full(coords, values.shape[axis], values.dtype)
    if rows is not None:
        u = jnp.where(_along(rows, values, axis), u, 0)
        count = jnp.broadcast_to(jnp.sum(rows).astype(values.dtype), coords)
    return jnp.stack([count, *_sums_of_powers(u, axis, block)])


def _compensated_add(hi: jax.Array, lo: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Neumaier's improved Kahan–Babuška summation step (Neumaier 1974, ZAMM 54(1)): ``hi + lo`` gains ``x``."""
    t = hi + x
    err = jnp.where(jnp.abs(hi) >= jnp.abs(x), (hi - t) + x, (x - t) + hi)
    return t, lo + err


def accumulate(acc: PowerSums, values: jax.Array, valid: jax.Array, first: jax.Array,
               full: jax.Array | bool = False, *, fallback: bool = True, axis: int = 0, block: int = 0) -> PowerSums:
    """Add one chunk (``valid`` marks real rows) to the running sums; the chunk with ``first`` True also fixes the
    shift and scale.

    The estimates lie along ``axis`` of ``values``: 0 (``(chunk, *coords)``, rows of coordinates) or -1
    (``(*coords, chunk)``, each coordinate's samples contiguous). On CPU the sums reduce along contiguous memory
    only in the second layout, which is what few coordinates need (see :func:`varbench.engine.columns.samples_axis`).
    Masks cost as much as the reduction itself on CPU, so a chunk the caller marks ``full`` (every row valid) is
    summed unmasked, and only summed again with masks if that gave a non-finite sum (a NaN/inf estimate, which
    the masked pass excludes and counts). Under ``vmap`` with a batched predicate both passes run (a select).
    ``fallback=False`` always sums once, masked: on a GPU the masks fuse into the reduction and the fallback's
    ``cond`` (a wait for the predicate on the host every chunk) cost more (1.3x on an H100, RESULTS.md).
    ``first`` given as a Python bool picks the pilot when tracing, with no ``cond`` at all: a kernel that adds its
    first chunk before its loop (as the Monte Carlo kernel does off CPU) never waits for the host on it. ``block``
    is :func:`chunk_power_sums`'s.
    """
    if axis not in (0, -1):
        raise ValueError(f"axis must be 0 or -1; got {axis!r}")
    pilot = lambda: _pilot(values, _rows(values, valid, axis)[0], axis)
    if isinstance(first, bool):
        shift, scale = pilot() if first else (acc.shift, acc.scale)
    else:
        shift, scale = jax.lax.cond(first, pilot, lambda: (acc.shift, acc.scale))

    def masked() -> tuple[jax.Array, jax.Array]:
        rows, nonfinite = _rows(values, valid, axis)
        return chunk_power_sums(values, rows, shift, scale, axis, block), nonfinite

    if fallback:
        plain = chunk_power_sums(values, None, shift, scale, axis, block)
        clean = jnp.logical_and(full, jnp.all(jnp.isfinite(plain)))
        sums, nonfinite = jax.lax.cond(clean, lambda: (plain, jnp.zeros((), jnp.int32)), masked)
    else:
        sums, nonfinite = masked()
    hi, lo = _compensated_add(acc.hi, acc.lo, sums)
    return PowerSums(shift, scale, hi, lo, acc.nonfinite + nonfinite)


_accumulate = jax.jit(accumulate, static_argnames=("fallback", "axis", "block"))


def to_moments(ps: PowerSums) -> Moments:
    """Central moments, in float64 on the host, from power sums (of one set of samples).

    Args:
      ps: the kernel's power sums of one parameter.

    Returns:
      The :class:`Moments`.
    """
    f = lambda x: np.asarray(x, np.float64)
    sums = f(ps.hi) + f(ps.lo)
    n, s1, s2, s3, s4 = sums
    safe_n = np.maximum(n, 1.0)
    a = s1 / safe_n  # mean of u; |a| is small because the shift is a pilot mean
    m2 = s2 - n * a * a
    m3 = s3 - 3 * a * s2 + 2 * n * a ** 3
    m4 = s4 - 4 * a * s3 + 6 * a * a * s2 - 3 * n * a ** 4
    c = f(ps.scale)
    count = n.reshape(-1)[0] if n.size else np.float64(0)
    return Moments(np.float64(count), f(ps.shift) + c * a, np.maximum(m2, 0) * c ** 2, m3 * c ** 3,
                   np.maximum(m4, 0) * c ** 4, np.asarray(ps.nonfinite, np.int64))


def chunk_moments(values: jax.Array, valid: jax.Array) -> Moments:
    """Moments of ``values`` (leading axis = samples) over the ``valid`` rows whose every coordinate is finite."""
    return to_moments(_accumulate(empty_power_sums(values[0]), values, valid, jnp.asarray(True)))


def merge(a: Moments, b: Moments) -> Moments:
    """Exact merge of the moments of two disjoint sets of samples (Pébay 2008), in float64 on the host.

    Args:
      a: the moments of one set.
      b: the moments of the other.

    Returns:
      The moments of their union.
    """
    a, b = (Moments(*(np.asarray(x, np.float64) for x in m[:5]), np.asarray(m.nonfinite)) for m in (a, b))
    n = a.count + b.count
    safe_n = np.maximum(n, 1)
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
    """Mean, standard error, unbiased variance and its 95% interval, per coordinate.

    Args:
      m: the moments of the estimates.

    Returns:
      The :class:`Summary`.
    """
    n = float(np.asarray(m.count))
    mean = np.asarray(m.mean, np.float64)
    m2, m4 = np.asarray(m.m2, np.float64), np.asarray(m.m4, np.float64)
    variance = m2 / max(n - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurtosis = np.where(m2 > 0, n * m4 / (m2 * m2), 3.0)
    lo, hi = variance_interval(variance, kurtosis, max(int(n), 2))
    se = np.sqrt(variance / max(n, 1.0))
    return Summary(mean, se, variance, lo, hi, kurtosis)

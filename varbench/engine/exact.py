"""Exact mean and variance of a single estimate: quadrature over continuous noise, enumeration of discrete noise.

An estimate is a deterministic function ``g(ε)`` of the noise it consumes (see :mod:`varbench.core.noise`). Each
noise block supplies a table of values and weights: a tensor grid of one-dimensional Gauss rules for continuous
blocks (Gauss–Hermite for normals, Gauss–Legendre — piecewise at declared breakpoints — for uniforms, Gauss rules
of the Rayleigh and Maxwell densities), and every configuration with its probability for discrete blocks. The
tensor product of the tables integrates ``g`` and ``(g − E g)²`` against ε's law. When continuous noise is
present the product is evaluated at two resolutions and the answer is refused unless they agree, so a non-smooth
or badly resolved integrand never passes silently as "exact".
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NotApplicableError, QuadratureNotConvergedError
from varbench.core.noise import is_noise

#: Largest number of continuous noise scalars integrated by a tensor grid.
# 5 covers lgssm with T = 5 (the default): its estimates are polynomials of degree <= 4 in the noise, so 12 Gauss–
# Hermite nodes per dimension (2^18 points) are exact and the two-resolution check (9 vs 12 nodes) still applies.
MAX_DIMS = 5
#: Largest number of grid points of the continuous part at the finer resolution.
MAX_POINTS = 2 ** 18
#: Default limit on discrete configurations enumerated.
MAX_CONFIGURATIONS = 2 ** 20
#: Limit on all points evaluated (discrete configurations × continuous grid).
MAX_TOTAL_POINTS = 2 ** 22
#: Most nodes of a one-dimensional rule; fewest accepted when the budget is shared with discrete configurations.
MAX_NODES_PER_DIM, MIN_NODES_PER_DIM = 200, 8


class ExactMoments(NamedTuple):
    mean: Any          # pytree like params, float64 numpy
    variance: Any      # pytree like params, float64 numpy
    num_points: int    # points evaluated at the finer resolution
    discrepancy: float  # largest relative change between the two resolutions (0 without continuous noise)


def to_float64(x: Any) -> Any:
    """A floating-point leaf in float64; other leaves (integer counts, PRNG keys) are returned as they are."""
    dtype = getattr(x, "dtype", None) or np.asarray(x).dtype  # typed PRNG keys have a dtype but no NumPy form
    return np.asarray(x, np.float64) if jnp.issubdtype(dtype, jnp.floating) else x


def compile_count() -> int:
    """Exact-mode kernels compiled so far in this process."""
    return _moments_kernel._cache_size()


def nodes_per_dim(dims: int, max_points: int = MAX_POINTS) -> int:
    if dims == 0:
        return 1
    return int(min(MAX_NODES_PER_DIM, math.floor(max_points ** (1.0 / dims) + 1e-9)))


@functools.partial(jax.jit, static_argnames=("treedef", "batch_size"))
def _moments_kernel(problem, estimator, params, state, tables, index, weights, *, treedef, batch_size):
    """Weighted mean and central second moment of the estimate over the product grid (cached per shapes)."""
    def estimate_at(rows: tuple) -> Any:
        noise = jax.tree_util.tree_unflatten(treedef, [v[r] for v, r in zip(tables, rows)])
        return estimator.estimate_from_noise(problem, params, state, noise)

    estimates = jax.lax.map(estimate_at, index, batch_size=batch_size)

    def leaf_moments(v):
        w = weights.reshape((-1,) + (1,) * (v.ndim - 1))
        mean = jnp.sum(w * v, 0)
        return mean, jnp.sum(w * (v - mean) ** 2, 0)

    return jax.tree_util.tree_map(leaf_moments, estimates)


def _integrate(problem, estimator, params, state, leaves, treedef, n: int):
    tables = [leaf.table(n) for leaf in leaves]
    sizes = [len(w) for _, w in tables]
    total = int(np.prod(sizes, dtype=np.int64))
    # Row p of the product uses row index[i][p] of block i's table; values are gathered inside the kernel so
    # memory holds the small per-block tables, not a (points × noise) matrix.
    index = np.unravel_index(np.arange(total), sizes)
    weights = np.ones(total)
    for (_, w), idx in zip(tables, index):
        weights = weights * w[idx]
    out = jax.device_get(_moments_kernel(
        problem, estimator, params, state, tuple(jnp.asarray(v) for v, _ in tables),
        tuple(jnp.asarray(i, jnp.int32) for i in index), jnp.asarray(weights), treedef=treedef,
        batch_size=min(4096, total)))
    is_pair = lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.ndarray)
    mean = jax.tree_util.tree_map(lambda mv: np.asarray(mv[0]), out, is_leaf=is_pair)
    var = jax.tree_util.tree_map(lambda mv: np.asarray(mv[1]), out, is_leaf=is_pair)
    return mean, var, total


def exact_moments(problem, estimator, params, state, *, rtol: float = 1e-5,
                  max_configurations: int = MAX_CONFIGURATIONS) -> ExactMoments:
    """Exact per-coordinate mean and variance of ``estimator``'s single estimate, in float64.

    Raises :class:`NotApplicableError` when the continuous noise has more than :data:`MAX_DIMS` scalars, when the
    discrete noise has more than ``max_configurations`` configurations, or when the two quadrature resolutions
    disagree by more than ``rtol`` (relative to the estimate's scale).
    """
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        state64 = jax.tree_util.tree_map(to_float64, state)
        spec = estimator.noise(problem, params64)
        leaves, treedef = jax.tree_util.tree_flatten(spec, is_leaf=is_noise)
        dims = sum(leaf.continuous_size for leaf in leaves)
        where = f"estimator {estimator.name!r} on problem {problem.name!r}"
        if dims > MAX_DIMS:
            raise NotApplicableError(
                f"method=exact integrates at most {MAX_DIMS} continuous noise dimensions by quadrature; {where} "
                f"uses {dims} (use method=mc, or fewer dims/samples)")
        configurations = int(np.prod([leaf.num_points(1) for leaf in leaves if leaf.continuous_size == 0],
                                     dtype=np.float64))
        if configurations > max_configurations:
            raise NotApplicableError(
                f"method=exact would enumerate {configurations:.3g} discrete configurations for {where}, over the "
                f"limit of {max_configurations}; use method=mc or a smaller problem")
        n = nodes_per_dim(dims, min(MAX_POINTS, MAX_TOTAL_POINTS // max(configurations, 1)))
        if dims and n < MIN_NODES_PER_DIM:
            raise NotApplicableError(
                f"method=exact: {configurations} discrete configurations leave too few quadrature nodes for {dims} "
                f"continuous noise dimensions for {where}; use method=mc")
        mean, var, points = _integrate(problem, estimator, params64, state64, leaves, treedef, n)
        if dims == 0:
            return ExactMoments(mean, var, points, 0.0)
        n_coarse = max(2, math.ceil(0.75 * n))
        mean_c, var_c, _ = _integrate(problem, estimator, params64, state64, leaves, treedef, n_coarse)
    discrepancy = 0.0
    leaves4 = list(zip(*(jax.tree_util.tree_leaves(t) for t in (mean, var, mean_c, var_c))))
    # Changes are judged relative to each coordinate's scale, floored at 1e-10 of the estimate's largest scale, so
    # a coordinate whose estimate is exactly zero (mean and variance 0) does not turn rounding noise into failure.
    overall = max((float(np.max(np.abs(m) + np.sqrt(v))) for m, v, _, _ in leaves4), default=0.0)
    floor = 1e-10 * overall + 1e-300
    for m, v, mc, vc in leaves4:
        scale = np.maximum(np.abs(m) + np.sqrt(v), floor)
        discrepancy = max(discrepancy, float(np.max(np.abs(m - mc) / scale)),
                          float(np.max(np.abs(v - vc) / np.maximum(v, floor ** 2))))
    if not discrepancy <= rtol:
        raise QuadratureNotConvergedError(
            f"method=exact: quadrature did not converge for {where} (relative change {discrepancy:.2e} between "
            f"{n_coarse} and {n} nodes per dimension); use method=mc")
    return ExactMoments(mean, var, points, discrepancy)

"""Exact mean and variance of a single estimate: quadrature over continuous noise, enumeration of discrete noise.

An estimate is a deterministic function ``g(ε)`` of the noise it consumes (see :mod:`varbench.core.noise`). Each
noise block supplies a table of values and weights: a tensor grid of one-dimensional Gauss rules for continuous
blocks (Gauss–Hermite for normals, Gauss–Legendre — piecewise at declared breakpoints — for uniforms, Gauss rules
of the Rayleigh and Maxwell densities), and every configuration with its probability for discrete blocks. The
tensor product of the tables integrates ``g`` and ``(g − E g)²`` against ε's law (the compiled kernel:
:mod:`varbench.engine._grid`). When continuous noise is present the product is evaluated at two resolutions and the
answer is accepted only when they agree, so a non-smooth or badly resolved integrand never passes silently as
"exact". Where the Gauss rules disagree, exact mode refines adaptively within a stated budget
(:mod:`varbench.engine._adaptive`) before it refuses.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NotApplicableError
from varbench.core.estimator import Estimator
from varbench.core.noise import is_noise
from varbench.engine._adaptive import MAX_NODES_PER_DIM, adaptive_moments
from varbench.engine._grid import (
    ExactMoments,
    Integral,
    Integrand,
    clear_cache,
    compile_count,
    integrate_tables,
    relative_change,
)
from varbench.engine.subject import Subject

__all__ = ["MAX_CONFIGURATIONS", "MAX_DIMS", "MAX_NODES_PER_DIM", "MAX_POINTS", "MAX_TOTAL_POINTS",
           "MIN_NODES_PER_DIM", "ExactMoments", "check_exact", "clear_cache", "compile_count", "exact_moments",
           "nodes_per_dim", "relative_change", "to_float64"]

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
#: Fewest nodes of a one-dimensional rule accepted when the budget is shared with discrete configurations.
MIN_NODES_PER_DIM = 8


def to_float64(x: Any) -> Any:
    """A floating-point leaf in float64; other leaves (integer counts, PRNG keys) are returned as they are.

    Args:
      x: a pytree leaf.

    Returns:
      ``x`` as a float64 NumPy array if it is floating point, else ``x``.
    """
    dtype = getattr(x, "dtype", None) or np.asarray(x).dtype  # typed PRNG keys have a dtype but no NumPy form
    return np.asarray(x, np.float64) if jnp.issubdtype(dtype, jnp.floating) else x


def nodes_per_dim(dims: int, max_points: int = MAX_POINTS) -> int:
    """Nodes per dimension of a tensor Gauss grid of ``dims`` continuous scalars within ``max_points`` points.

    Args:
      dims: continuous noise scalars.
      max_points: most points of the grid.

    Returns:
      The nodes per dimension, at most :data:`MAX_NODES_PER_DIM` (1 without continuous noise).
    """
    if dims == 0:
        return 1
    return int(min(MAX_NODES_PER_DIM, math.floor(max_points ** (1.0 / dims) + 1e-9)))


def _integrate(integrand: Integrand, n: int, rows: tuple | None = None) -> Integral:
    tables = [leaf.table(n) for leaf in integrand.leaves]
    return integrate_tables(integrand.subject, tables, integrand.treedef, rows)


def _nodes(integrand: Integrand, max_configurations: int) -> tuple[int, int]:
    """``(continuous noise scalars, Gauss nodes per dimension)`` of the integrand's grid, or a one-line refusal when
    it cannot be integrated by a tensor grid."""
    leaves, where = integrand.leaves, integrand.where
    dims = sum(leaf.continuous_size for leaf in leaves)
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
    return dims, n


def _refuse_own_noise(estimator: Estimator) -> None:
    if type(estimator).estimate is not Estimator.estimate:
        raise NotApplicableError(
            f"estimator {estimator.name!r} draws its own noise from a PRNG key: exact mode integrates over the noise "
            "an estimate declares (noise + estimate_from_noise); use method=mc")


def check_exact(problem: Any, estimator: Estimator, params: Any, max_configurations: int = MAX_CONFIGURATIONS
                ) -> None:
    """Refuse, without evaluating any estimate, what :func:`exact_moments` refuses before it integrates (a plan
    checks its exact-mode cells with it before anything runs).

    Args:
      problem: the problem measured.
      estimator: the estimator measured.
      params: the params measured at (their shapes are what matters).
      max_configurations: most discrete configurations enumerated.

    Raises:
      NotApplicableError: the estimator draws its own noise, or its noise has more continuous scalars or discrete
        configurations than exact mode integrates (the messages of :func:`exact_moments`).
    """
    _refuse_own_noise(estimator)
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        leaves, treedef = jax.tree_util.tree_flatten(estimator.noise(problem, params64), is_leaf=is_noise)
        where = f"estimator {estimator.name!r} on problem {problem.name!r}"
        _nodes(Integrand(None, leaves, treedef, where), max_configurations)  # only the noise's sizes are read


def exact_moments(subject: Subject, *, rtol: float = 1e-5, max_configurations: int = MAX_CONFIGURATIONS,
                  max_points: int | None = None) -> ExactMoments:
    """Exact per-coordinate mean and variance of the estimator's single estimate, in float64.

    Args:
      subject: what is measured (its params and state are used in float64).
      rtol: the agreement required between two resolutions, relative to the estimate's scale.
      max_configurations: most discrete configurations enumerated.
      max_points: most points the adaptive refinement evaluates when the Gauss rules disagree (None: its full
        budget, ``sum(ADAPTIVE_BUDGET.values())``); a caller with a fallback (the check battery) passes less.

    Returns:
      The :class:`ExactMoments`.

    Raises:
      NotApplicableError: the estimator draws its own noise (it overrides ``estimate``), the continuous noise has
        more than :data:`MAX_DIMS` scalars, the discrete noise more than ``max_configurations`` configurations, or
        neither the Gauss rules (two resolutions) nor the adaptive refinement within its budget agree to ``rtol``.
    """
    problem, estimator, params, state = subject
    _refuse_own_noise(estimator)
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        subject64 = Subject(problem, estimator, params64, jax.tree_util.tree_map(to_float64, state))
        leaves, treedef = jax.tree_util.tree_flatten(estimator.noise(problem, params64), is_leaf=is_noise)
        integrand = Integrand(subject64, leaves, treedef, f"estimator {estimator.name!r} on problem {problem.name!r}")
        dims, n = _nodes(integrand, max_configurations)
        fine = _integrate(integrand, n)
        if dims == 0:
            return ExactMoments(fine.mean, fine.var, fine.points, 0.0, fine.compile_seconds)
        n_coarse = max(2, math.ceil(0.75 * n))
        # Padded to the fine grid's table sizes: the coarse grid reuses the fine grid's compiled kernel.
        coarse = _integrate(integrand, n_coarse, rows=fine.rows)
        compile_seconds = fine.compile_seconds + coarse.compile_seconds
        discrepancy = relative_change((fine.mean, fine.var), (coarse.mean, coarse.var))
        if discrepancy <= rtol:
            return ExactMoments(fine.mean, fine.var, fine.points, discrepancy, compile_seconds)
        # The Gauss rules disagree: refine adaptively (values that converged above are returned unchanged).
        result = adaptive_moments(integrand, rtol, gauss_discrepancy=(discrepancy, n_coarse, n), max_points=max_points)
        return result._replace(compile_seconds=result.compile_seconds + compile_seconds)

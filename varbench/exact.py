"""Exact mean and variance of a single estimate by Gauss quadrature over the estimator's noise.

An estimate is a deterministic function ``g(ε)`` of the noise it consumes (see :mod:`varbench.noise`). When ε
has few scalar components, a tensor grid of one-dimensional Gauss rules (Gauss–Hermite for normals,
Gauss–Legendre for uniforms, Gauss rules of the Rayleigh and Maxwell densities) integrates ``g`` and ``g²``
against ε's law. The grid is evaluated at two resolutions and the answer is refused unless they agree, so a
non-smooth or badly resolved integrand never passes silently as "exact".
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbench.errors import NotApplicableError
from varbench.noise import is_noise

#: Largest number of continuous noise scalars integrated by a tensor grid.
MAX_DIMS = 4
#: Largest number of grid points at the finer resolution.
MAX_POINTS = 2 ** 18
#: Most nodes of a one-dimensional rule.
MAX_NODES_PER_DIM = 200


class ExactMoments(NamedTuple):
    mean: Any          # pytree like params, float64 numpy
    variance: Any      # pytree like params, float64 numpy
    num_points: int    # grid points of the finer resolution
    discrepancy: float  # largest relative change between the two resolutions


def nodes_per_dim(dims: int, max_points: int = MAX_POINTS) -> int:
    if dims == 0:
        return 1
    return int(min(MAX_NODES_PER_DIM, math.floor(max_points ** (1.0 / dims) + 1e-9)))


def _grid(leaves: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product nodes (P, D) and weights (P,) for the scalars of every noise leaf, in flatten order."""
    rules = [leaf.rule(n) for leaf in leaves for _ in range(leaf.size)]
    if not rules:
        return np.zeros((1, 0)), np.ones(1)
    nodes = np.stack([g.ravel() for g in np.meshgrid(*[r[0] for r in rules], indexing="ij")], axis=-1)
    weights = np.ones(nodes.shape[0])
    for g in np.meshgrid(*[r[1] for r in rules], indexing="ij"):
        weights = weights * g.ravel()
    return nodes, weights


def _integrate(problem, estimator, params, state, leaves, treedef, n: int):
    nodes, weights = _grid(leaves, n)
    sizes = [leaf.size for leaf in leaves]
    offsets = np.cumsum([0] + sizes)

    def estimate_at(vector: jax.Array) -> Any:
        parts = [vector[offsets[i]:offsets[i + 1]].reshape(leaf.shape) for i, leaf in enumerate(leaves)]
        noise = jax.tree_util.tree_unflatten(treedef, parts)
        return estimator.estimate_from_noise(problem, params, state, noise)

    @jax.jit
    def moments(nodes, weights):
        values = jax.lax.map(estimate_at, nodes, batch_size=min(4096, nodes.shape[0]))

        def leaf_moments(v):
            w = weights.reshape((-1,) + (1,) * (v.ndim - 1))
            mean = jnp.sum(w * v, 0)
            return mean, jnp.sum(w * (v - mean) ** 2, 0)

        return jax.tree_util.tree_map(leaf_moments, values)

    out = jax.device_get(moments(jnp.asarray(nodes), jnp.asarray(weights)))
    is_pair = lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], np.ndarray)
    mean = jax.tree_util.tree_map(lambda mv: np.asarray(mv[0]), out, is_leaf=is_pair)
    var = jax.tree_util.tree_map(lambda mv: np.asarray(mv[1]), out, is_leaf=is_pair)
    return mean, var, nodes.shape[0]


def exact_moments(problem, estimator, params, state, *, rtol: float = 1e-6) -> ExactMoments:
    """Exact per-coordinate mean and variance of ``estimator``'s single estimate, in float64.

    Raises :class:`NotApplicableError` when the noise has more than :data:`MAX_DIMS` scalars or when the two
    quadrature resolutions disagree by more than ``rtol`` (relative to the estimate's scale).
    """
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
        state64 = jax.tree_util.tree_map(
            lambda s: jnp.asarray(s, jnp.float64) if jnp.issubdtype(jnp.asarray(s).dtype, jnp.floating) else s,
            state)
        spec = estimator.noise(problem, params64)
        leaves, treedef = jax.tree_util.tree_flatten(spec, is_leaf=is_noise)
        dims = sum(leaf.size for leaf in leaves)
        if dims > MAX_DIMS:
            raise NotApplicableError(
                f"method=exact integrates at most {MAX_DIMS} continuous noise dimensions by quadrature; estimator "
                f"{estimator.name!r} on problem {problem.name!r} uses {dims} (use method=mc, or fewer dims/samples)")
        n = nodes_per_dim(dims)
        mean, var, points = _integrate(problem, estimator, params64, state64, leaves, treedef, n)
        if dims == 0:
            return ExactMoments(mean, var, points, 0.0)
        n_coarse = max(2, math.ceil(0.75 * n))
        mean_c, var_c, _ = _integrate(problem, estimator, params64, state64, leaves, treedef, n_coarse)
    discrepancy = 0.0
    for m, v, mc, vc in zip(*(jax.tree_util.tree_leaves(t) for t in (mean, var, mean_c, var_c))):
        scale = np.abs(m) + np.sqrt(v) + 1e-300
        discrepancy = max(discrepancy, float(np.max(np.abs(m - mc) / scale)),
                          float(np.max(np.abs(v - vc) / (v + 1e-300 + 1e-12 * scale ** 2))))
    if not discrepancy <= rtol:
        raise NotApplicableError(
            f"method=exact: quadrature did not converge for estimator {estimator.name!r} on problem "
            f"{problem.name!r} (relative change {discrepancy:.2e} between {n_coarse} and {n} nodes per dimension); "
            "use method=mc")
    return ExactMoments(mean, var, points, discrepancy)

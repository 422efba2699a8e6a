"""Exact mean and variance of a single estimate: quadrature over continuous noise, enumeration of discrete noise.

An estimate is a deterministic function ``g(ε)`` of the noise it consumes (see :mod:`varbench.core.noise`). Each
noise block supplies a table of values and weights: a tensor grid of one-dimensional Gauss rules for continuous
blocks (Gauss–Hermite for normals, Gauss–Legendre — piecewise at declared breakpoints — for uniforms, Gauss rules
of the Rayleigh and Maxwell densities), and every configuration with its probability for discrete blocks. The
tensor product of the tables integrates ``g`` and ``(g − E g)²`` against ε's law. When continuous noise is
present the product is evaluated at two resolutions and the answer is accepted only when they agree, so a
non-smooth or badly resolved integrand never passes silently as "exact".

Where the Gauss rules disagree (a cost with a narrow peak, such as ``exp(−k x²)`` at large k, an oscillating one
such as ``cos(k x)``, or a relaxation steep near a threshold), exact mode refines adaptively instead of refusing
(:func:`adaptive_moments`): a greedy, dimension-adaptive tensor refinement (in the spirit of Gerstner & Griebel
2003, "Dimension-adaptive tensor-product quadrature", Computing 71) raises the resolution of one continuous noise
scalar at a time, keeping a raise when it changes the mean or variance by more than ``rtol``, until raising ANY
one scalar changes nothing beyond ``rtol`` (two resolutions agree). Two families of one-dimensional rules are
tried in turn (:data:`FAMILIES`): the scalar's own Gauss rule with its order raised by 1.5× (exponentially
convergent for smooth integrands), then composite Gauss–Legendre panels on the density's truncated support,
1.5× more panels per step (for peaks and kinks). The budget is stated: at most :data:`ADAPTIVE_MAX_POINTS` points
in one tensor grid and :data:`ADAPTIVE_BUDGET` points evaluated per family; only when both families exhaust it is
the cell refused, naming the cell, the scalar that would not settle and its last relative change.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NotApplicableError, QuadratureNotConvergedError
from varbench.core.noise import (
    Noise,
    gauss_rule,
    is_noise,
    piecewise_uniform_rule,
    tensor_table,
)
from varbench.engine import columns, compile_tier, kernel_cache

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
#: Adaptive refinement: most points in one tensor grid (discrete configurations included), and most points
#: evaluated over all refinement steps of one cell by each family of rules (FAMILIES: Gauss orders, then composite
#: panels): at most about a minute on two CPU cores for a cheap cost.
ADAPTIVE_MAX_POINTS = 2 ** 24
ADAPTIVE_BUDGET = {"gauss": 2 ** 25, "composite": 2 ** 27}
#: Gauss–Legendre nodes per panel of the composite rules. Each continuous kind has a core interval that is cut
#: into equal panels (refined adaptively) and tails with fixed panels (mass beyond the core below 1e-8, beyond
#: the tails below 1e-31): the standard normal and double-sided Maxwell core [−6, 6] and tails out to ±12, the
#: Rayleigh core [0, 6] and tail to 12. Uniforms are cut geometrically towards 0 and 1 (at 16^-j, j <= 6), where
#: the Gumbel and logistic transforms of the relaxation estimators put logarithmic singularities.
PANEL_NODES = 8
#: Panels grow by this factor per refinement of one scalar.
GROWTH = 1.5
CORE = {"normal": (-6.0, 6.0), "double_sided_maxwell": (-6.0, 6.0), "rayleigh": (0.0, 6.0), "uniform": (0.0, 1.0)}
TAILS = {"normal": (-12.0, -9.0, 9.0, 12.0), "double_sided_maxwell": (-12.0, -9.0, 9.0, 12.0),
         "rayleigh": (9.0, 12.0), "uniform": tuple(16.0 ** -np.arange(1, 7)) + tuple(1 - 16.0 ** -np.arange(1, 7))}
DENSITY = {"normal": lambda x: np.exp(-0.5 * x * x), "double_sided_maxwell": lambda x: x * x * np.exp(-0.5 * x * x),
           "rayleigh": lambda x: x * np.exp(-0.5 * x * x), "uniform": np.ones_like}

class ExactMoments(NamedTuple):
    mean: Any          # pytree like params, float64 numpy
    variance: Any      # pytree like params, float64 numpy
    num_points: int    # points evaluated at the finer resolution
    discrepancy: float  # largest relative change between the two resolutions (0 without continuous noise)
    compile_seconds: float = 0.0  # spent compiling grid kernels (not evaluating them)


def to_float64(x: Any) -> Any:
    """A floating-point leaf in float64; other leaves (integer counts, PRNG keys) are returned as they are."""
    dtype = getattr(x, "dtype", None) or np.asarray(x).dtype  # typed PRNG keys have a dtype but no NumPy form
    return np.asarray(x, np.float64) if jnp.issubdtype(dtype, jnp.floating) else x


def compile_count() -> int:
    """Exact-mode kernels compiled so far in this process."""
    return _COMPILED.compiled


def nodes_per_dim(dims: int, max_points: int = MAX_POINTS) -> int:
    if dims == 0:
        return 1
    return int(min(MAX_NODES_PER_DIM, math.floor(max_points ** (1.0 / dims) + 1e-9)))


#: Grid points evaluated per loop iteration of the exact-mode kernel (fewer when the whole grid is smaller).
BATCH = 4096


class WeightedSums(NamedTuple):
    """The exact-mode kernel's loop carry: ``Σ w``, ``Σ w u`` and ``Σ w u²`` (float64) of ``u = g − shift``, where
    ``shift`` is the estimate at the grid's heaviest point (near the mean, so the sums lose nothing to
    cancellation)."""

    shift: jax.Array
    s0: jax.Array
    s1: jax.Array
    s2: jax.Array


def _grid_kernel(problem, estimator, params, state, tables, strides, sizes, total, first_batch, pilot_row, *,
                 treedef, batch_size):
    """Weighted sums of the estimate over the tensor product of the blocks' ``tables``, streamed in batches.

    Point ``p`` of the product takes row ``(p // strides[b]) % sizes[b]`` of block ``b``'s table; its weight is
    the product of those rows' weights. The loop's trip count, the tables' true sizes and the point count are
    runtime values and the tables are padded to powers of two, so the two resolutions of the convergence check and
    the grids of adaptive refinement reuse one compiled kernel, and memory holds one batch of estimates, never the
    whole grid. The batch holding the heaviest point is evaluated first; that point's estimate is the shift.
    """
    num_batches = (total + batch_size - 1) // batch_size
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves)

    def body(i, acc):
        batch = (first_batch + i) % num_batches
        points = batch * batch_size + jnp.arange(batch_size, dtype=total.dtype)
        valid = points < total
        rows = [(points // strides[b]) % sizes[b] for b in range(len(tables))]
        weight = jnp.where(valid, 1.0, 0.0).astype(dtype)
        for (_, w), r in zip(tables, rows):
            weight = weight * w[r]
        noise = jax.tree_util.tree_unflatten(treedef, [v[r] for (v, _), r in zip(tables, rows)])
        estimates = jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, state, n))(noise)
        flat = columns.as_columns(estimates, batch_size, dtype)
        shift = jnp.where(i == 0, flat[pilot_row], acc.shift)
        # Points past ``total`` repeat real points (rows wrap around), so they are finite wherever the grid is; their
        # weight is 0.
        u = flat - shift
        wu = weight[:, None] * u
        return WeightedSums(shift, acc.s0 + jnp.sum(weight), acc.s1 + jnp.sum(wu, 0), acc.s2 + jnp.sum(wu * u, 0))

    zeros = jnp.zeros(columns.count(leaves), dtype)
    sums = jax.lax.fori_loop(0, num_batches, body, WeightedSums(zeros, jnp.zeros((), dtype), zeros, zeros))
    # Σ w g and Σ w (g − mean)² (the weights sum to 1 up to rounding, as the tables' do).
    offset = sums.shift * (sums.s0 - 1) + sums.s1  # mean − shift
    mean = sums.shift + offset
    var = jnp.maximum(sums.s2 - 2 * offset * sums.s1 + offset * offset * sums.s0, 0)
    return columns.split_columns(mean, params), columns.split_columns(var, params)


_jitted_grid_kernel = jax.jit(_grid_kernel, static_argnames=("treedef", "batch_size"))
_COMPILED = kernel_cache.KernelCache()


def _compiled(args: tuple, treedef, batch_size: int, work: int) -> tuple[Any, float]:
    """The grid kernel compiled for these argument shapes and a run of ``work`` scalar evaluations (its tier:
    :mod:`varbench.engine.compile_tier`), and the seconds spent compiling it (0 if cached)."""
    leaves, structure = jax.tree_util.tree_flatten(args)
    signature = (structure, tuple(jax.typeof(x) for x in leaves), treedef, batch_size, jax.default_backend())
    return compile_tier.compile_cached(
        _COMPILED, signature, lambda: _jitted_grid_kernel.lower(*args, treedef=treedef, batch_size=batch_size), work)


def clear_cache() -> None:
    _COMPILED.reset()


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((size - len(x),) + x.shape[1:], x.dtype)]) if size > len(x) else x


def _bucket(n: int, base_bits: int = 1) -> int:
    """The smallest power of ``2 ** base_bits`` that is at least ``n``."""
    bits = max(0, int(n - 1).bit_length())
    return 1 << (-(-bits // base_bits) * base_bits)


class _Integral(NamedTuple):
    mean: Any
    var: Any
    points: int
    rows: tuple  # padded length of each block's table (pass to a coarser grid to reuse the kernel)
    compile_seconds: float


def _integrate_tables(problem, estimator, params, state, tables, treedef, rows: tuple | None = None,
                      base_bits: int = 1) -> _Integral:
    """Weighted mean and variance of the estimate over the product of ``tables``. Each table is padded (never
    read) to a power of ``2 ** base_bits``, or to ``rows`` if larger, so grids of similar sizes share one compiled
    kernel."""
    sizes = [len(w) for _, w in tables]
    total = int(np.prod(sizes, dtype=np.int64))
    if total >= 2 ** 31:
        raise NotApplicableError(f"method=exact: a grid of {total} points is too large; use method=mc")
    # Coarser buckets only for small tables: a large one padded 4x would cost memory for nothing.
    padded = tuple(max(_bucket(n, base_bits if n <= 2 ** 16 else 1), r)
                   for n, r in zip(sizes, rows or (0,) * len(sizes)))
    strides = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int32) if sizes else \
        np.zeros(0, np.int32)
    # The heaviest point (the product of each table's heaviest row) seeds the shift: it sits near the mean.
    heaviest = sum(int(np.argmax(w)) * int(s) for (_, w), s in zip(tables, strides))
    batch_size = min(BATCH, int(np.prod(padded, dtype=np.int64)))  # from the padded sizes: shared by coarser grids
    device_tables = tuple((jnp.asarray(_pad(np.asarray(v), n)), jnp.asarray(_pad(np.asarray(w, np.float64), n)))
                          for (v, w), n in zip(tables, padded))
    args = (problem, estimator, params, state, device_tables, jnp.asarray(strides), np.asarray(sizes, np.int32),
            np.int32(total), np.int32(heaviest // batch_size), np.int32(heaviest % batch_size))
    # The run's work for its compile tier: grid points × (noise tables + gradient coordinates) of one estimate.
    work = int(np.prod(padded, dtype=np.int64)) * (len(tables) + columns.count(params))
    compiled, compile_seconds = _compiled(args, treedef, batch_size, work)
    mean, var = jax.device_get(compiled(*args))
    return _Integral(jax.tree_util.tree_map(np.asarray, mean), jax.tree_util.tree_map(np.asarray, var), total,
                     padded, compile_seconds)


def _integrate(problem, estimator, params, state, leaves, treedef, n: int, rows: tuple | None = None) -> _Integral:
    return _integrate_tables(problem, estimator, params, state, [leaf.table(n) for leaf in leaves], treedef, rows)


def exact_moments(problem, estimator, params, state, *, rtol: float = 1e-5,
                  max_configurations: int = MAX_CONFIGURATIONS) -> ExactMoments:
    """Exact per-coordinate mean and variance of ``estimator``'s single estimate, in float64.

    Raises :class:`NotApplicableError` when the continuous noise has more than :data:`MAX_DIMS` scalars, when the
    discrete noise has more than ``max_configurations`` configurations, or when neither the Gauss rules (two
    resolutions) nor the adaptive refinement within its budget agree to ``rtol`` (relative to the estimate's scale).
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
        fine = _integrate(problem, estimator, params64, state64, leaves, treedef, n)
        if dims == 0:
            return ExactMoments(fine.mean, fine.var, fine.points, 0.0, fine.compile_seconds)
        n_coarse = max(2, math.ceil(0.75 * n))
        # Padded to the fine grid's table sizes: the coarse grid reuses the fine grid's compiled kernel.
        coarse = _integrate(problem, estimator, params64, state64, leaves, treedef, n_coarse, rows=fine.rows)
        compile_seconds = fine.compile_seconds + coarse.compile_seconds
        discrepancy = relative_change((fine.mean, fine.var), (coarse.mean, coarse.var))
        if discrepancy <= rtol:
            return ExactMoments(fine.mean, fine.var, fine.points, discrepancy, compile_seconds)
        # The Gauss rules disagree: refine adaptively (values that converged above are returned unchanged).
        result = adaptive_moments(problem, estimator, params64, state64, leaves, treedef, where, rtol,
                                  gauss_discrepancy=(discrepancy, n_coarse, n))
        return result._replace(compile_seconds=result.compile_seconds + compile_seconds)


def relative_change(fine: tuple, coarse: tuple) -> float:
    """Largest change of the (mean, variance) pytrees between two resolutions, relative to each coordinate's scale.

    Changes are judged relative to each coordinate's scale, floored at 1e-10 of the estimate's largest scale, so
    a coordinate whose estimate is exactly zero (mean and variance 0) does not turn rounding noise into failure.
    """
    (mean, var), (mean_c, var_c) = fine, coarse
    discrepancy = 0.0
    leaves4 = list(zip(*(jax.tree_util.tree_leaves(t) for t in (mean, var, mean_c, var_c))))
    overall = max((float(np.max(np.abs(m) + np.sqrt(v))) for m, v, _, _ in leaves4), default=0.0)
    floor = 1e-10 * overall + 1e-300
    for m, v, mc, vc in leaves4:
        scale = np.maximum(np.abs(m) + np.sqrt(v), floor)
        discrepancy = max(discrepancy, float(np.max(np.abs(m - mc) / scale)),
                          float(np.max(np.abs(v - vc) / np.maximum(v, floor ** 2))))
    return discrepancy if np.isfinite(discrepancy) else math.inf


def composite_rule(kind: str, panels: int, breakpoints: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``panels`` equal panels on the kind's core, its fixed tail panels, cut also at ``breakpoints``, with
    :data:`PANEL_NODES` Gauss–Legendre nodes each, weighted by the density and normalised to sum to 1."""
    lo, hi = CORE[kind]
    edges = np.unique(np.concatenate([np.linspace(lo, hi, panels + 1), TAILS[kind]]))
    if breakpoints is not None:
        edges = np.unique(np.concatenate([edges, np.clip(np.ravel(breakpoints), edges[0], edges[-1])]))
    x, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = (a + (b - a) * (x + 1) / 2).ravel()
    weights = ((b - a) * w / 2).ravel() * DENSITY[kind](nodes)
    return nodes, weights / weights.sum()


class _OverBudget(Exception):
    """The next refinement would exceed the grid or the family's share of the budget."""


class Family(NamedTuple):
    """A sequence of one-dimensional rules for one noise scalar, refined by raising ``level``."""

    name: str
    rule: Any     # (kind, level, start, breakpoints or None) -> (nodes, weights summing to 1)
    size: Any     # (kind, level, start, number of breakpoints) -> number of nodes
    start: Any    # number of continuous scalars -> the starting parameter


def _gauss_order(level: int, start: int) -> int:
    return int(round(start * GROWTH ** level))


def _gauss_rule(kind: str, level: int, start: int, cuts) -> tuple[np.ndarray, np.ndarray]:
    n = _gauss_order(level, start)
    return gauss_rule(kind, n) if cuts is None else piecewise_uniform_rule(cuts, n)


def _gauss_size(kind: str, level: int, start: int, num_cuts: int) -> int:
    n = _gauss_order(level, start)
    # The rules of the Rayleigh and Maxwell densities come from a 6000-point discretization: trusted to 200 nodes.
    return n if n <= MAX_NODES_PER_DIM else ADAPTIVE_MAX_POINTS + 1


def _composite_rule(kind: str, level: int, start: int, cuts) -> tuple[np.ndarray, np.ndarray]:
    return composite_rule(kind, _gauss_order(level, start), cuts)


def _composite_size(kind: str, level: int, start: int, num_cuts: int) -> int:
    return (_gauss_order(level, start) + len(TAILS[kind]) + num_cuts) * PANEL_NODES


#: Refinement families, tried in order: raising the Gauss order per scalar (fast for smooth integrands, whose
#: Gauss rules converge exponentially), then composite rules with more panels (for narrow peaks and kinks).
FAMILIES = (
    Family("gauss", _gauss_rule, _gauss_size, lambda scalars: 8),
    # Core panels 0.75 standard units wide in one dimension, coarser with more (the grid is a product).
    Family("composite", _composite_rule, _composite_size, lambda scalars: {1: 16, 2: 8}.get(scalars, 4)),
)


def _leaf_table(leaf, rules: list) -> tuple[np.ndarray, np.ndarray]:
    """The tensor table of a continuous :class:`Noise` leaf from one rule per scalar."""
    return tensor_table(leaf.shape, rules)


def _cuts(leaf) -> list:
    if leaf.breakpoints is None:
        return [None] * leaf.size
    bp = np.asarray(leaf.breakpoints, np.float64)
    return list(np.broadcast_to(bp, leaf.shape + (bp.shape[-1],)).reshape(leaf.size, -1))


def adaptive_moments(problem, estimator, params, state, leaves, treedef, where: str, rtol: float,
                     gauss_discrepancy: tuple) -> ExactMoments:
    """Greedy dimension-adaptive refinement (see the module docstring) by each family in turn, within the budget."""
    adaptive = [isinstance(leaf, Noise) and leaf.size > 0 for leaf in leaves]
    if any(leaf.continuous_size and not a for leaf, a in zip(leaves, adaptive)):
        change, n_coarse, n = gauss_discrepancy
        raise QuadratureNotConvergedError(
            f"method=exact: quadrature did not converge for {where} (relative change {change:.2e} between "
            f"{n_coarse} and {n} nodes per dimension; a noise block has no adaptive rule); use method=mc")
    scalars = [(b, j) for b, leaf in enumerate(leaves) if adaptive[b] for j in range(leaf.size)]
    cuts = {b: _cuts(leaf) for b, leaf in enumerate(leaves) if adaptive[b]}
    fixed = {b: leaf.table(1) for b, leaf in enumerate(leaves) if not adaptive[b]}
    configurations = int(np.prod([len(t[1]) for t in fixed.values()], dtype=np.float64))
    spent, failures = 0, []
    compiling = [0.0]  # seconds spent compiling grid kernels, over every family
    for family in FAMILIES:
        if family.name == "gauss" and gauss_discrepancy[2] >= MAX_NODES_PER_DIM:
            continue  # the Gauss rules already failed at their largest trusted order
        start = family.start(len(scalars))

        def grid_points(lv: list[int]) -> float:
            sizes = [family.size(leaves[b].kind, l, start, 0 if cuts[b][j] is None else len(cuts[b][j]))
                     for (b, j), l in zip(scalars, lv)]
            return float(np.prod(sizes, dtype=np.float64)) * configurations

        def integrate(lv: list[int]):
            tables = [fixed[b] if not adaptive[b] else _leaf_table(leaf, [
                family.rule(leaf.kind, l, start, cuts[b][j]) for (bb, j), l in zip(scalars, lv) if bb == b])
                for b, leaf in enumerate(leaves)]
            # Powers of 4: refinement grows one table by 1.5x at a time, so most steps reuse a compiled kernel.
            out = _integrate_tables(problem, estimator, params, state, tables, treedef, base_bits=2)
            compiling[0] += out.compile_seconds
            return (out.mean, out.var), out.points

        levels = [0] * len(scalars)
        # The last change that made each scalar refine: the one reported if the budget runs out.
        changes = [math.inf] * len(scalars)
        budget = ADAPTIVE_BUDGET[family.name]
        family_spent = 0
        # A family must be able to evaluate its first grid and refine it once, or it cannot judge convergence.
        if min(grid_points(levels[:i] + [1] + levels[i + 1:]) for i in range(len(scalars))) > ADAPTIVE_MAX_POINTS:
            failures.append(f"{family.name} rules: {len(scalars)} scalars make the refined grid larger than "
                            f"{ADAPTIVE_MAX_POINTS} points")
            continue
        current, points = integrate(levels)
        family_spent += points
        try:
            while True:
                refined = False
                for i in range(len(scalars)):
                    trial = levels.copy()
                    trial[i] += 1
                    size = grid_points(trial)
                    if size > ADAPTIVE_MAX_POINTS or family_spent + size > budget:
                        raise _OverBudget
                    candidate, used = integrate(trial)
                    family_spent += used
                    change = relative_change(candidate, current)
                    if change > rtol:
                        levels, current, points, refined = trial, candidate, used, True
                        changes[i] = change
                    else:
                        changes[i] = min(changes[i], change)
                if not refined:
                    # Refining any one scalar changed nothing beyond rtol: two resolutions agree.
                    return ExactMoments(current[0], current[1], points, max(changes), compiling[0])
        except _OverBudget:
            worst = int(np.argmax(changes))
            b, j = scalars[worst]
            what = (f"still changed the result by {changes[worst]:.2e}" if np.isfinite(changes[worst]) else
                    "could not be refined within the budget")
            failures.append(f"{family.name} rules: scalar {j} of its {leaves[b].kind} noise {list(leaves[b].shape)} "
                            f"{what}")
        finally:
            spent += family_spent
    raise QuadratureNotConvergedError(
        f"method=exact: adaptive quadrature for {where} exhausted its budget ({ADAPTIVE_MAX_POINTS} points per grid, "
        f"{sum(ADAPTIVE_BUDGET.values())} in all, {spent} spent) without two resolutions agreeing to rtol {rtol:g} "
        f"({'; '.join(failures)}); the integrand is too rough for tensor quadrature: use method=mc")

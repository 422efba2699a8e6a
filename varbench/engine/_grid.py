"""Exact mode's compiled kernel: the weighted mean and variance of an estimate over a tensor grid of its noise.

Each noise block supplies a table of values and weights; point ``p`` of the tensor product takes one row of every
table and the product of their weights. The kernel streams the product in batches (memory holds one batch of
estimates, never the whole grid) and accumulates weighted sums about a shift, the estimate at the grid's heaviest
point, so nothing is lost to cancellation. Tables are padded to powers of two and their true sizes passed at run
time, so grids of similar sizes (the two resolutions of the convergence check, the steps of adaptive refinement)
reuse one compiled kernel.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NotApplicableError
from varbench.engine import columns, exported_kernels, kernel_cache
from varbench.engine.subject import Subject

#: Grid points evaluated per loop iteration of the exact-mode kernel (fewer when the whole grid is smaller).
BATCH = 4096
COMPILED = kernel_cache.KernelCache()


class ExactMoments(NamedTuple):
    """Exact mean and variance of one estimate.

    Attributes:
      mean: pytree like the params, float64 NumPy arrays.
      variance: pytree like the params, float64 NumPy arrays.
      num_points: points evaluated at the finer resolution.
      discrepancy: largest relative change between the two resolutions (0 without continuous noise).
      compile_seconds: seconds spent compiling grid kernels (not evaluating them).
    """

    mean: Any
    variance: Any
    num_points: int
    discrepancy: float
    compile_seconds: float = 0.0


class Integrand(NamedTuple):
    """What exact mode integrates: the estimate of ``subject`` as a function of its noise.

    Attributes:
      subject: what is measured, params and state in float64.
      leaves: the leaves of the estimator's noise spec (:class:`varbench.core.noise.Noise` or discrete blocks).
      treedef: the spec's structure.
      where: ``estimator '...' on problem '...'``, for messages.
    """

    subject: Subject
    leaves: list
    treedef: Any
    where: str


class WeightedSums(NamedTuple):
    """The exact-mode kernel's loop carry: ``Σ w``, ``Σ w u`` and ``Σ w u²`` (float64) of ``u = g − shift``, where
    ``shift`` is the estimate at the grid's heaviest point (near the mean, so the sums lose nothing to
    cancellation)."""

    shift: jax.Array
    s0: jax.Array
    s1: jax.Array
    s2: jax.Array


class Grid(NamedTuple):
    """A tensor grid as the kernel reads it (every field a runtime value).

    Attributes:
      tables: per noise block, ``(values, weights)`` padded to a power of two rows.
      strides: per block, the stride of its row index in the flat point index.
      sizes: per block, the true number of rows of its table.
      total: points in the grid.
      first_batch: the batch holding the heaviest point, evaluated first.
      pilot_row: the heaviest point's row within that batch.
    """

    tables: tuple
    strides: jax.Array
    sizes: np.ndarray
    total: np.int32
    first_batch: np.int32
    pilot_row: np.int32


def _grid_kernel(subject: Subject, grid: Grid, *, treedef: Any, batch_size: int) -> tuple[Any, Any]:
    """Weighted sums of the estimate over the tensor product of the blocks' tables, streamed in batches.

    Point ``p`` of the product takes row ``(p // strides[b]) % sizes[b]`` of block ``b``'s table; its weight is
    the product of those rows' weights. The loop's trip count, the tables' true sizes and the point count are
    runtime values and the tables are padded to powers of two, so the two resolutions of the convergence check and
    the grids of adaptive refinement reuse one compiled kernel, and memory holds one batch of estimates, never the
    whole grid. The batch holding the heaviest point is evaluated first; that point's estimate is the shift.
    """
    problem, estimator, params, state = subject
    tables, strides, sizes, total, first_batch, pilot_row = grid
    num_batches = (total + batch_size - 1) // batch_size
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves)

    def body(i: jax.Array, acc: WeightedSums) -> WeightedSums:
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


def _compiled(args: tuple, treedef: Any, batch_size: int, work: int) -> tuple[Any, float]:
    """The grid kernel compiled for these argument shapes and a run of ``work`` scalar evaluations (its tier:
    :mod:`varbench.engine.compile_tier`), and the seconds spent compiling it (0 if cached)."""
    params = args[0].params
    out_tree = jax.tree_util.tree_structure((params, params))  # (mean, variance), each shaped like the params
    return exported_kernels.compile_cached(COMPILED, "grid_kernel", _jitted_grid_kernel, args,
                                           {"treedef": treedef, "batch_size": batch_size}, out_tree, work)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((size - len(x),) + x.shape[1:], x.dtype)]) if size > len(x) else x


def _bucket(n: int, base_bits: int = 1) -> int:
    """The smallest power of ``2 ** base_bits`` that is at least ``n``."""
    bits = max(0, int(n - 1).bit_length())
    return 1 << (-(-bits // base_bits) * base_bits)


class Integral(NamedTuple):
    """Weighted mean and variance of the estimate over one grid."""

    mean: Any
    var: Any
    points: int
    rows: tuple  # padded length of each block's table (pass to a coarser grid to reuse the kernel)
    compile_seconds: float


def _grid(tables: Sequence[tuple], padded: tuple) -> tuple[Grid, int]:
    """The kernel's :class:`Grid` for ``tables`` padded to ``padded`` rows, and its batch size."""
    sizes = [len(w) for _, w in tables]
    total = int(np.prod(sizes, dtype=np.int64))
    strides = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int32) if sizes else \
        np.zeros(0, np.int32)
    # The heaviest point (the product of each table's heaviest row) seeds the shift: it sits near the mean.
    heaviest = sum(int(np.argmax(w)) * int(s) for (_, w), s in zip(tables, strides))
    batch_size = min(BATCH, int(np.prod(padded, dtype=np.int64)))  # from the padded sizes: shared by coarser grids
    device_tables = tuple((jnp.asarray(_pad(np.asarray(v), n)), jnp.asarray(_pad(np.asarray(w, np.float64), n)))
                          for (v, w), n in zip(tables, padded))
    return Grid(device_tables, jnp.asarray(strides), np.asarray(sizes, np.int32), np.int32(total),
                np.int32(heaviest // batch_size), np.int32(heaviest % batch_size)), batch_size


def integrate_tables(subject: Subject, tables: Sequence[tuple], treedef: Any, rows: tuple | None = None,
                     base_bits: int = 1) -> Integral:
    """Weighted mean and variance of the estimate over the product of ``tables``.

    Args:
      subject: what is measured, params and state in float64.
      tables: per noise leaf, ``(values, weights)``: its points and their weights (summing to 1).
      treedef: the structure of the estimator's noise spec (its leaves are the tables' blocks).
      rows: padded table lengths of a finer grid, so a coarser one reuses its kernel.
      base_bits: each table is padded (never read) to a power of ``2 ** base_bits``, or to ``rows`` if larger, so
        grids of similar sizes share one compiled kernel.

    Returns:
      The :class:`Integral`.
    """
    sizes = [len(w) for _, w in tables]
    total = int(np.prod(sizes, dtype=np.int64))
    if total >= 2 ** 31:
        raise NotApplicableError(f"method=exact: a grid of {total} points is too large; use method=mc")
    # Coarser buckets only for small tables: a large one padded 4x would cost memory for nothing.
    padded = tuple(max(_bucket(n, base_bits if n <= 2 ** 16 else 1), r)
                   for n, r in zip(sizes, rows or (0,) * len(sizes)))
    grid, batch_size = _grid(tables, padded)
    # The run's work for its compile tier: grid points × (noise tables + gradient coordinates) of one estimate.
    work = int(np.prod(padded, dtype=np.int64)) * (len(tables) + columns.count(subject.params))
    compiled, compile_seconds = _compiled((subject, grid), treedef, batch_size, work)
    mean, var = jax.device_get(compiled(subject, grid))
    return Integral(jax.tree_util.tree_map(np.asarray, mean), jax.tree_util.tree_map(np.asarray, var), total,
                    padded, compile_seconds)


def relative_change(fine: tuple, coarse: tuple) -> float:
    """Largest change of the (mean, variance) pytrees between two resolutions, relative to each coordinate's scale.

    Changes are judged relative to each coordinate's scale, floored at 1e-10 of the estimate's largest scale, so
    a coordinate whose estimate is exactly zero (mean and variance 0) does not turn rounding noise into failure.

    Args:
      fine: ``(mean, variance)`` pytrees at the finer resolution.
      coarse: the same at the coarser one.

    Returns:
      The largest relative change (inf if it is not finite).
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


def compile_count() -> int:
    """Exact-mode kernels compiled so far in this process.

    Returns:
      Their number (evicted ones included).
    """
    return COMPILED.compiled


def clear_cache() -> None:
    """Forget compiled exact-mode kernels."""
    COMPILED.reset()

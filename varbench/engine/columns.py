"""A pytree of per-parameter arrays as one block of coordinate columns, and back.

The Monte Carlo and exact-mode kernels accumulate an estimate's parameter leaves side by side as one
``(rows, coordinates)`` array (one reduction per batch however many parameter arrays there are) and cut the sums
back into the parameters' shapes at the end. With few coordinates the Monte Carlo kernel transposes the block to
``(coordinates, rows)`` on CPU (:func:`samples_axis`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

#: On CPU, estimates with at most this many coordinates are accumulated as ``(coordinates, rows)``.
SAMPLES_LAST_UP_TO = 32


def count(tree: Any) -> int:
    """The scalars in ``tree``: how many columns its leaves make side by side."""
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree))


def samples_axis(coordinates: int, backend: str) -> int:
    """Where a kernel's block of estimates keeps its samples: 0 for ``(rows, coordinates)``, -1 for
    ``(coordinates, rows)``.

    XLA's CPU back end vectorizes a reduction along contiguous memory. In the row layout the power sums reduce
    down columns, each row only ``coordinates`` floats wide. Measured on 2 CPU cores (benchmarks/RESULTS.md), the
    transposed layout ran at 0.97-3.3x the row layout's rate with 1-32 coordinates (3.3x for the dim-10 Gaussian's
    pathwise estimate, 20 coordinates), and at 0.58-1.2x with 40 or more (score function at dim 20: 0.65x; dims
    50-1000: 0.58-0.84x), where the transpose costs more than it saves. On accelerators the row layout is the one
    measured.
    """
    return -1 if backend == "cpu" and coordinates <= SAMPLES_LAST_UP_TO else 0


def as_columns(tree: Any, rows: int, dtype: Any, axis: int = 0, samples_last: bool = False) -> jax.Array:
    """The leaves of ``tree`` (each with a leading axis of ``rows``) flattened and laid side by side as one
    ``(rows, coordinates)`` array of ``dtype``, or, with ``axis=-1``, stacked as one ``(coordinates, rows)``
    array. With ``samples_last`` the leaves carry their ``rows`` axis last instead (``axis`` must be -1), and are
    stacked without a transpose."""
    if samples_last:
        if axis != -1:
            raise ValueError("samples_last needs axis=-1")
        return jnp.concatenate([v.reshape(-1, rows).astype(dtype) for v in jax.tree_util.tree_leaves(tree)], axis=0)
    leaves = [v.reshape(rows, -1).astype(dtype) for v in jax.tree_util.tree_leaves(tree)]
    return jnp.concatenate(leaves, axis=1) if axis == 0 else jnp.concatenate([v.T for v in leaves], axis=0)


def split_columns(flat: jax.Array, like: Any) -> Any:
    """``flat``'s last axis (the coordinates) cut into the leaves of ``like``: a pytree like ``like`` whose leaves
    have shape ``flat.shape[:-1] + leaf.shape``."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    bounds = np.cumsum([0] + [int(np.size(x)) for x in leaves])
    return jax.tree_util.tree_unflatten(treedef, [flat[..., a:b].reshape(flat.shape[:-1] + np.shape(x))
                                                  for a, b, x in zip(bounds[:-1], bounds[1:], leaves)])

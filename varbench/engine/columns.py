"""A pytree of per-parameter arrays as one block of coordinate columns, and back.

The Monte Carlo and exact-mode kernels accumulate an estimate's parameter leaves side by side as one
``(rows, coordinates)`` array (one reduction per batch however many parameter arrays there are) and cut the sums
back into the parameters' shapes at the end.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def as_columns(tree: Any, rows: int, dtype: Any) -> jax.Array:
    """The leaves of ``tree`` (each with a leading axis of ``rows``) flattened and laid side by side as one
    ``(rows, coordinates)`` array of ``dtype``."""
    return jnp.concatenate([v.reshape(rows, -1).astype(dtype) for v in jax.tree_util.tree_leaves(tree)], axis=1)


def split_columns(flat: jax.Array, like: Any) -> Any:
    """``flat``'s last axis (the coordinates) cut into the leaves of ``like``: a pytree like ``like`` whose leaves
    have shape ``flat.shape[:-1] + leaf.shape``."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    bounds = np.cumsum([0] + [int(np.size(x)) for x in leaves])
    return jax.tree_util.tree_unflatten(treedef, [flat[..., a:b].reshape(flat.shape[:-1] + np.shape(x))
                                                  for a, b, x in zip(bounds[:-1], bounds[1:], leaves)])

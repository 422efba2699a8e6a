"""Small numerical helpers shared by problems and estimators."""

from __future__ import annotations

import math

import jax


def logmeanexp(a: jax.Array, axis: int = -1) -> jax.Array:
    """``log mean exp(a)`` along ``axis``, stably: the log of an importance-weighted average."""
    return jax.nn.logsumexp(a, axis=axis) - math.log(a.shape[axis])

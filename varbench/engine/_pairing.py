"""Whether two estimators consume the same noise, so that one draw can feed both (:mod:`varbench.engine.paired`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import numpy as np

from varbench.core.estimator import Estimator
from varbench.core.noise import Noise, is_noise
from varbench.core.problem import Problem
from varbench.engine import _checks


def keyed(estimator: Estimator) -> bool:
    """Whether the estimator draws its own noise from a key (it overrides ``estimate``)."""
    return type(estimator).estimate is not Estimator.estimate


def _same_value(x: Any, y: Any) -> bool:
    """Equal noise parameters: noise leaves recursively, arrays by shape, dtype and values."""
    if is_noise(x) or is_noise(y):
        return is_noise(x) and is_noise(y) and _same_leaf(x, y)
    try:
        u, v = np.asarray(x), np.asarray(y)
    except Exception:  # noqa: BLE001 - a parameter NumPy cannot hold compares by equality
        return x == y
    return u.shape == v.shape and u.dtype == v.dtype and bool(np.array_equal(u, v))


def _same_leaf(x: Any, y: Any) -> bool:
    """Whether two noise leaves draw the same values from the same key."""
    if type(x) is not type(y) or tuple(x.shape) != tuple(y.shape):
        return False
    if isinstance(x, Noise):  # breakpoints only guide exact mode's quadrature; Monte Carlo draws ignore them
        return x.kind == y.kind
    if not dataclasses.is_dataclass(x):
        return False
    return all(_same_value(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))


def same_noise(problem: Problem, estimator: Estimator, reference: Estimator, params: Mapping[str, Any]) -> bool:
    """Whether two estimators consume the same noise at ``params``, so that a paired measurement applies.

    The noise specs must be equal: the same pytree structure, and leaf by leaf the same kind of block, shape and
    distribution (parameters such as Bernoulli probabilities equal in dtype and value); the draw's dtype is the
    params' for both. Two estimators that draw their own noise from a key (:class:`KeyedEstimator`) consume the
    same key; one of each consumes different noise.

    Args:
      problem: the problem measured.
      estimator: one estimator.
      reference: the other.
      params: ``{name: array}`` as the kernels see them.

    Returns:
      True when one draw of noise can feed both.
    """
    if keyed(estimator) or keyed(reference):
        return keyed(estimator) and keyed(reference)
    with _checks.estimator_code(estimator, "in noise"):
        mine = estimator.noise(problem, params)
    with _checks.estimator_code(reference, "in noise"):
        theirs = reference.noise(problem, params)
    a, tree_a = jax.tree_util.tree_flatten(mine, is_leaf=is_noise)
    b, tree_b = jax.tree_util.tree_flatten(theirs, is_leaf=is_noise)
    return tree_a == tree_b and all(_same_value(x, y) for x, y in zip(a, b))

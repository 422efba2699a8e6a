"""Generic points: params away from the special values at which a defect can hide.

A defect can vanish at a special value: a pathwise estimator that drops the chain-rule factor exp(log_scale) is
exact at log_scale = 0, DisARM has zero variance at a Bernoulli logit of 0, and a learned critic looks unbiased
where uniform transition logits make every state alike. The built-in problems' default params and the generic
points of ``varbench check`` (:func:`varbench.check_points.generic_params`) are therefore moved off such values by
seeded offsets of 0.15 to 0.45 in either direction per coordinate (:func:`generic_offsets`), the same in every run.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

#: Seed of the built-in problems' default params (stated in each problem's docstring).
DEFAULT_SEED = 0
#: Each coordinate of a generic point is moved by an offset of this size, in either direction.
GENERIC_OFFSET = (0.15, 0.45)


def is_special(values: Any) -> bool:
    """Whether ``values`` sit where a defect can hide: a 0 or ±1 anywhere, or all coordinates equal.

    Args:
      values: a number or an array.

    Returns:
      True for special values.
    """
    flat = np.ravel(np.asarray(values, np.float64))
    return bool(np.any(np.isin(flat, (0.0, 1.0, -1.0))) or (flat.size > 1 and np.all(flat == flat[0])))


def generic_offsets(rng: Any, shape: tuple[int, ...] | int, scale: float = 1.0) -> np.ndarray:
    """Offsets of size ``scale`` × 0.15 to 0.45 with random signs, drawn from ``rng``.

    Args:
      rng: a ``np.random.Generator`` or ``np.random.RandomState`` (the draw advances it).
      shape: the shape of the offsets.
      scale: multiplies the offsets' size (smaller for a coordinate the problem is sensitive to).

    Returns:
      float64 offsets of ``shape``.
    """
    size = rng.uniform(*GENERIC_OFFSET, shape)
    return scale * size * rng.choice((-1.0, 1.0), shape)


def generic_defaults(base: Mapping[str, Any], seed: int, scales: Mapping[str, float] | None = None,
                     only_special: bool = False, dtype: Any = np.float64) -> dict[str, np.ndarray]:
    """``base`` with every array moved by :func:`generic_offsets`, drawn from ``np.random.default_rng(seed)`` in
    sorted order of the names (a draw is made for every name, so which arrays move does not change the others); the
    result keeps the names in ``base``'s order (sums over params, such as a total variance, keep their order).

    Args:
      base: ``{name: array}``, the symmetric starting point (zeros for logits and biases, and so on).
      seed: the draw's seed (stated in the docstring of the problem that uses it).
      scales: per-name multipliers of the offsets' size (default 1).
      only_special: move only arrays that :func:`is_special` flags; the others are returned as given.
      dtype: the dtype of the result (problems' default params are float32).

    Returns:
      ``{name: array}`` with the shapes of ``base``.
    """
    rng = np.random.default_rng(seed)
    moved = {}
    for name, value in sorted(base.items()):
        value = np.asarray(value, np.float64)
        offset = generic_offsets(rng, value.shape, (scales or {}).get(name, 1.0))
        moved[name] = (value + offset if not only_special or is_special(value) else value).astype(dtype)
    return {name: moved[name] for name in base}

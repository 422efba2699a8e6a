"""The point at which gradients are measured: defaults of a problem, overridden and broadcast by the user."""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np

from varbench.core.errors import VarbenchError


def prepare_params(problem: Any, overrides: Mapping[str, Any] | None = None, dtype: Any = np.float32
                   ) -> dict[str, np.ndarray]:
    """The problem's default params with ``overrides`` applied; a scalar broadcasts to the parameter's shape."""
    params = {k: np.asarray(v, dtype) for k, v in problem.default_params().items()}
    for name, value in (overrides or {}).items():
        if name not in params:
            raise VarbenchError(f"unknown parameter {name!r} for problem {problem.name!r}; "
                                f"valid parameters: {', '.join(params)}")
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and any(
                isinstance(v, (str, bool)) or not _is_number_tree(v) for v in value)):
            raise VarbenchError(f"parameter {name!r} must be a number or a list of numbers; got {value!r}")
        array = np.asarray(value, dtype)
        shape = params[name].shape
        try:
            array = np.broadcast_to(array, shape).copy()
        except ValueError:
            raise VarbenchError(f"parameter {name!r} has shape {shape}; got a value of shape {array.shape}") from None
        if not np.all(np.isfinite(array)):
            raise VarbenchError(f"parameter {name!r} must be finite; got {value!r}")
        params[name] = array
    return params


def _is_number_tree(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_is_number_tree(x) for x in v)
    return isinstance(v, numbers.Real) and not isinstance(v, bool)

"""The point at which gradients are measured: defaults of a problem, overridden and broadcast by the user."""

from __future__ import annotations

import math
import numbers
import os
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from varbench.core.errors import OutOfMemoryError, VarbenchError
from varbench.core.options import check_nesting

if TYPE_CHECKING:  # annotations only: this module needs neither JAX nor the problem classes
    from varbench.core.problem import Problem

#: Bytes held per parameter scalar while measuring: the defaults, the override, device copies, the gradient and
#: its streamed moments (mean and three central moments) -- about eight float32 copies.
BYTES_PER_PARAM_SCALAR = 32


def prepare_params(problem: Problem, overrides: Mapping[str, Any] | None = None, dtype: Any = np.float32
                   ) -> dict[str, np.ndarray]:
    """The problem's default params with ``overrides`` applied; a scalar broadcasts to the parameter's shape.

    Args:
      problem: the problem whose params these are.
      overrides: ``{name: value}``; a value is a real number, a rectangular (nested) list of real numbers or a
        real-valued array. Anything else (strings, booleans, complex numbers, dicts, ragged lists) is a one-line
        :class:`VarbenchError`: booleans in particular are refused rather than read as 0.0 and 1.0.
      dtype: the NumPy dtype of the params (float32 for Monte Carlo, float64 for exact mode).

    Returns:
      ``{name: array}`` in the problem's parameter order, each shaped as its default.
    """
    _check_param_memory(problem)
    params = _defaults(problem, dtype)
    if overrides is None:
        return params
    if not isinstance(overrides, Mapping):
        raise VarbenchError(f"params must be a mapping {{name: value}} such as {{{next(iter(params))!r}: 1.0}}; got "
                            f"{type(overrides).__name__} {_short(overrides)}")
    for name, value in overrides.items():
        if name not in params:
            raise VarbenchError(f"unknown parameter {name!r} for problem {problem.name!r}; "
                                f"valid parameters: {', '.join(params)}")
        array = _real_array(name, value, dtype)
        shape = params[name].shape
        try:
            array = np.broadcast_to(array, shape).copy()
        except ValueError:
            raise VarbenchError(f"parameter {name!r} has shape {shape}; got a value of shape {array.shape}") from None
        if not np.all(np.isfinite(array)):
            raise VarbenchError(f"parameter {name!r} must be finite in {np.dtype(dtype).name} (|x| <= "
                                f"{np.finfo(dtype).max:.4g}); got {_short(value)}")
        params[name] = array
    return params


def _defaults(problem: Problem, dtype: Any) -> dict[str, np.ndarray]:
    """The problem's default params in ``dtype``, refused in one line where one is not finite there (a plugin's
    defaults, or a problem whose options put them beyond float32: the problem is at fault, not an estimator)."""
    params = {}
    for name, value in problem.default_params().items():
        with np.errstate(over="ignore", invalid="ignore"):  # out of the dtype's range: inf, refused below
            params[name] = np.asarray(value, dtype)
        if not np.all(np.isfinite(params[name])):
            raise VarbenchError(f"the default value of parameter {name!r} of problem {problem.name!r} is not finite "
                                f"in {np.dtype(dtype).name}; choose options that keep it within "
                                f"|x| <= {np.finfo(dtype).max:.4g}, or give the parameter with --param")
    return params


def host_memory_bytes() -> int | None:
    """Physical memory of this machine.

    Returns:
      Its bytes, or None where the operating system does not say.
    """
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_param_memory(problem: Any) -> None:
    """Refuse, from the declared shapes and before allocating anything, params too large for this machine (a
    problem of dim 10^12 would otherwise fail deep inside NumPy, or swap the host)."""
    scalars = sum(math.prod(shape) for shape in problem.param_shapes().values())
    memory = host_memory_bytes()
    if memory is not None and scalars * BYTES_PER_PARAM_SCALAR > memory:
        raise OutOfMemoryError(
            f"out of memory: problem {problem.name!r} has {scalars:.3g} parameter scalars, which need about "
            f"{scalars * BYTES_PER_PARAM_SCALAR / 2 ** 30:.3g} GiB while measuring, more than the host's "
            f"{memory / 2 ** 30:.3g} GiB; lower the problem's size (such as dim, latent or hidden)")


def _real_array(name: str, value: Any, dtype: Any) -> np.ndarray:
    """``value`` as an array of ``dtype`` if it is real-valued numbers, else a one-line error."""
    check_nesting(f"parameter {name!r}", value)  # before anything recurses into it or prints it
    what = f"parameter {name!r} must be a number, a rectangular list of numbers or a real array; got {_short(value)}"
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # NumPy and JAX arrays and scalars
        kind = np.dtype(value.dtype).kind
        if kind not in "iuf":
            raise VarbenchError(f"{what} (dtype {value.dtype})")
        with np.errstate(over="ignore", invalid="ignore"):  # out of the dtype's range: inf, refused later
            return np.asarray(value).astype(dtype)
    if not _is_number_tree(value):
        raise VarbenchError(what)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(value, dtype)
    except (ValueError, OverflowError):  # a ragged nesting of lists, or an int too large for any float
        raise VarbenchError(what) from None


def _is_number_tree(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return all(_is_number_tree(x) for x in v)
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."

"""Checking values against an ``option()``'s rules: the one validation helper of problems, estimators and the layers
above them.

Every problem and estimator option is checked here when the object is built, whether from a spec string
(``pathwise:samples=0``) or in Python (``Pathwise(samples=0)``): both raise the same one-line
:class:`~varbench.core.errors.VarbenchError`. The small predicates (an integer that is not a bool, a finite real
number) are the ones the rest of varbench uses for counts, seeds and sizes, so a boolean is never taken for 1.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

from varbench.core.errors import VarbenchError

#: Largest integer option: sizes and counts are 32-bit, as XLA indexes them.
MAX_INT_OPTION = 2 ** 31 - 1
#: Largest magnitude of a real option or parameter: Monte Carlo computes in float32, where a larger number is inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Deepest nesting of lists (or tables) accepted in any value. Params have a few axes and NumPy stops at 64;
#: the limit keeps hostile input (``[[[[...]]]]`` thousands deep) from exhausting Python's recursion.
MAX_NESTING = 32


def is_integer(value: Any) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_real(value: Any) -> bool:
    """A real number (not a bool) that is finite as a float (``10**400`` is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def is_float32_real(value: Any) -> bool:
    """A finite real number (not a bool) whose magnitude float32 can hold (``1e39`` is not: it would be inf)."""
    return is_finite_real(value) and abs(float(value)) <= FLOAT32_MAX


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """How deep lists, tuples and dicts nest in ``value`` (a number: 0, ``[1]``: 1), counted without recursion.

    Args:
      value: any Python value.
      limit: stop counting once the depth exceeds this (so a hostile value costs no more than a legal one).

    Returns:
      The depth, or ``limit + 1`` if it is deeper than ``limit``.
    """
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth + 1 > limit:
                return limit + 1
            deepest = max(deepest, depth + 1)
            stack.extend((x, depth + 1) for x in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_nesting(where: str, value: Any) -> None:
    """Refuse a value nested deeper than :data:`MAX_NESTING` (before anything recurses into it or prints it).

    Args:
      where: what the value is, for the message (``"parameter 'mean'"``).
      value: the value.

    Raises:
      VarbenchError: one line naming ``where`` and the limit.
    """
    if nesting_depth(value) > MAX_NESTING:
        raise VarbenchError(f"{where} nests lists or tables more than {MAX_NESTING} deep, the limit for any value")


def _checked_kind(where: str, kind: type | None, value: Any) -> Any:
    if kind is int:
        if not is_integer(value) or abs(value) > MAX_INT_OPTION:
            raise VarbenchError(f"{where} must be an integer up to {MAX_INT_OPTION}; got {value!r}")
        return int(value)
    if kind is float:
        if not is_float32_real(value):
            raise VarbenchError(f"{where} must be a number, and finite in float32 (|x| <= {FLOAT32_MAX:.4g}); got "
                                f"{value!r}")
        return float(value)
    if kind is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(is_float32_real(v) for v in items):
            raise VarbenchError(f"{where} must be a number or a list of numbers, all finite in float32 "
                                f"(|x| <= {FLOAT32_MAX:.4g}); got {_short(value)}")
        return list(items)  # a scalar is a list of one, so converters see one form
    if kind is str and not isinstance(value, str):
        raise VarbenchError(f"{where} must be a string; got {value!r}")
    return value


def check_option(owner: str, key: str, field: dataclasses.Field, value: Any) -> Any:
    """``value`` checked against the rules of the option ``field`` and converted to its stored form.

    Args:
      owner: what the option belongs to, for the message (``"estimator 'pathwise'"``).
      key: the option's name as users write it.
      field: the dataclass field made by :func:`varbench.core.pytree.option`.
      value: the value given.

    Returns:
      The value as stored (an ``int`` for an integer option, a float, or what the option's ``convert`` makes).

    Raises:
      VarbenchError: one line naming the option, its owner, the rule and the value.
    """
    meta = field.metadata
    where = f"option {key!r} of {owner}"
    check_nesting(where, value)  # before the rules below compare or print it
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise VarbenchError(f"{where} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
    kind = meta.get("kind")
    value = _checked_kind(where, kind, value)
    minimum = meta.get("minimum")
    if minimum is not None and kind in (int, float) and value < minimum:
        raise VarbenchError(f"{where} must be >= {minimum}; got {value!r}")
    convert = meta.get("convert")
    return convert(value) if convert else value


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a list of a million numbers stays one readable line)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."

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

from varbench.core.errors import VarbenchError

#: Largest integer option: sizes and counts are 32-bit, as XLA indexes them.
MAX_INT_OPTION = 2 ** 31 - 1


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


def _checked_kind(where: str, kind: type | None, value: Any) -> Any:
    if kind is int:
        if not is_integer(value) or abs(value) > MAX_INT_OPTION:
            raise VarbenchError(f"{where} must be an integer up to {MAX_INT_OPTION}; got {value!r}")
        return int(value)
    if kind is float:
        if not is_finite_real(value):
            raise VarbenchError(f"{where} must be a number, and finite; got {value!r}")
        return float(value)
    if kind is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(is_finite_real(v) for v in items):
            raise VarbenchError(f"{where} must be a number or a list of numbers, all finite; got {value!r}")
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
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise VarbenchError(f"{where} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
    kind = meta.get("kind")
    value = _checked_kind(where, kind, value)
    minimum = meta.get("minimum")
    if minimum is not None and kind in (int, float) and value < minimum:
        raise VarbenchError(f"{where} must be >= {minimum}; got {value!r}")
    convert = meta.get("convert")
    return convert(value) if convert else value

"""Canonical spec strings of problem and estimator objects (``name:key=value,...``), as records show them.

Only formatting lives here; parsing user input is the application edge's job (:mod:`varbench.spec`).
"""

from __future__ import annotations

import json
from typing import Any

from varbench.core.problem import Problem
from varbench.core.pytree import options_of


def format_spec(name: str, options: dict[str, Any]) -> str:
    """Inverse of :func:`varbench.spec.parse_spec` for JSON-representable option values."""
    if not options:
        return name

    def compact(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return int(v)  # "k=0", not "k=0.0": the value parses back to the same number
        if isinstance(v, (list, tuple)):
            return [compact(x) for x in v]
        return v

    def fmt(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(compact(v), separators=(",", ":"))
    return name + ":" + ",".join(f"{k}={fmt(v)}" for k, v in options.items())


def plain(value: Any) -> Any:
    """An option value as plain Python (tuples and arrays become lists)."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def spec_of(obj: Any) -> str:
    """The canonical spec string of a problem or estimator.

    A problem lists every option (the point of comparison should be explicit in every record); an estimator
    lists only options that differ from their defaults (estimators have many options that most uses leave
    alone, such as the critic of sequential variants), so ``"score_function"`` stays ``"score_function"``. A
    wrapper estimator (a class with ``spec_switch = (key, value)`` around its ``base``, such as the delta control
    variate) is written as its base's spec, then ``key=value``, then its own options:
    ``"pathwise:control_variate=delta,order=1"``.

    Args:
      obj: a problem or an estimator.

    Returns:
      ``name`` or ``name:key=value,...``, which :func:`varbench.spec.parse_spec` reads back to an equal object.
    """
    return format_spec(*_spec_parts(obj))


def _spec_parts(obj: Any) -> tuple[str, dict[str, Any]]:
    switch = getattr(type(obj), "spec_switch", None)
    if switch is not None:
        name, values = _spec_parts(obj.base)
        return name, values | {switch[0]: switch[1]} | _options(obj)
    return obj.name, _options(obj)


def _options(obj: Any) -> dict[str, Any]:
    """The options of ``obj`` its spec lists, by key, in field order."""
    values = {}
    for key, f in options_of(type(obj)).items():
        value, default = plain(getattr(obj, f.name)), f.default
        if f.metadata.get("convert") and default is not None:
            default = f.metadata["convert"](default)
        at_default = value == plain(default)
        if not at_default or (isinstance(obj, Problem) and f.metadata.get("listed_at_default", True)):
            values[key] = value
    return values

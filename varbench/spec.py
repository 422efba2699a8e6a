"""Parsing of ``name:key=value,key=value`` specs and ``NAME=VALUE`` assignments.

Values parse as JSON when they can (numbers, booleans, lists such as ``[0.5,-0.3]``), otherwise they are kept as
strings; commas inside brackets do not split.
"""

from __future__ import annotations

import json
from typing import Any

from varbench.errors import VarbenchError


def parse_value(text: str) -> Any:
    """A JSON value if ``text`` is one, else the stripped string."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth < 0:
                raise VarbenchError(f"unbalanced brackets in {text!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise VarbenchError(f"unbalanced brackets in {text!r}")
    parts.append(text[start:])
    return parts


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"k=0.5"`` → ``("k", 0.5)``."""
    key, eq, value = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise VarbenchError(f"expected NAME=VALUE, got {text!r}")
    return key, parse_value(value)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"gaussian:cost=square,k=0"`` → ``("gaussian", {"cost": "square", "k": 0})``."""
    if not isinstance(spec, str) or not spec.strip():
        raise VarbenchError(f"expected a spec 'name' or 'name:key=value,...', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    options: dict[str, Any] = {}
    if rest.strip():
        for part in _split_top_level(rest):
            if not part.strip():
                continue
            key, value = parse_assignment(part)
            if key in options:
                raise VarbenchError(f"option {key!r} given twice in {spec!r}")
            options[key] = value
    return name.strip(), options


def format_spec(name: str, options: dict[str, Any]) -> str:
    """Inverse of :func:`parse_spec` for JSON-representable option values."""
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

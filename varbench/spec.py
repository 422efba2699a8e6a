"""Parsing of ``name:key=value,key=value`` specs and ``NAME=VALUE`` assignments.

Values parse as JSON when they can (numbers, booleans, lists such as ``[0.5,-0.3]``), otherwise they are kept as
strings; commas inside brackets do not split. A value nested deeper than
:data:`~varbench.core.options.MAX_NESTING` is refused before it is parsed.
"""

from __future__ import annotations

import json
from typing import Any

from varbench.core.errors import VarbenchError
from varbench.core.naming import format_spec
from varbench.core.options import MAX_NESTING

__all__ = ["format_spec", "parse_assignment", "parse_assignments", "parse_spec", "parse_value"]


def parse_value(text: str, what: str = "a value") -> Any:
    """A JSON value if ``text`` is one, else the stripped string.

    Args:
      text: the value as written.
      what: what the value is, for the message (``"option 'k'"``).

    Returns:
      The parsed value.

    Raises:
      VarbenchError: brackets nested deeper than :data:`MAX_NESTING` (JSON's parser would recurse that deep).
    """
    text = text.strip()
    if _bracket_depth(text) > MAX_NESTING:
        raise VarbenchError(f"{what} nests brackets more than {MAX_NESTING} deep, the limit for any value")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _bracket_depth(text: str) -> int:
    """The deepest nesting of brackets in ``text``, outside JSON strings (where brackets are characters)."""
    deepest = depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


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
    return key, parse_value(value, f"the value of {key!r}")


def parse_assignments(texts: list[str], flag: str = "--param") -> dict[str, Any]:
    """``["mean=1", "k=2"]`` → ``{"mean": 1, "k": 2}``; a name given twice is refused (as inside a spec)."""
    out: dict[str, Any] = {}
    for text in texts:
        key, value = parse_assignment(text)
        if key in out:
            raise VarbenchError(f"{flag} {key!r} given twice; give each name once")
        out[key] = value
    return out


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"gaussian:cost=square,k=0"`` → ``("gaussian", {"cost": "square", "k": 0})``."""
    if not isinstance(spec, str) or not spec.strip():
        raise VarbenchError(f"expected a spec 'name' or 'name:key=value,...', got {spec!r}")
    name, colon, rest = spec.strip().partition(":")
    options: dict[str, Any] = {}
    if colon and not rest.strip():
        raise VarbenchError(f"spec {spec!r} ends in ':' without options; write {name.strip()!r} or "
                            f"'{name.strip()}:key=value,...'")
    if rest.strip():
        for part in _split_top_level(rest):
            if not part.strip():
                raise VarbenchError(f"empty option in spec {spec!r}; options are key=value separated by single commas")
            key, value = parse_assignment(part)
            if key in options:
                raise VarbenchError(f"option {key!r} given twice in {spec!r}")
            options[key] = value
    return name.strip(), options

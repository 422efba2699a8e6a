"""The schema of ``manifest.json``, checked wherever a manifest is read (:func:`varbench.reports.manifest.read_json`).

A manifest of valid JSON can still be damaged: a field of the wrong type (``"cells": 5``, ``"runs": "x"``) made
``report`` fail with an internal error and ``store verify`` pass. Every reader goes through :func:`check`, which
names the first offending field (``runs[0].pid``) in one line; the store's other modules may then trust the types.

Fields an older varbench did not write may be missing (their defaults apply); fields this module does not know are
allowed (a newer varbench's). Only ``config_hash``, which every store's manifest has had, is required. Needs no JAX.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

from varbench.reports._files import StoreError

__all__ = ["DamagedManifestError", "check", "repair_hint"]


class DamagedManifestError(StoreError):
    """A store's ``manifest.json`` exists but is damaged: not JSON, not an object, or a field of the wrong type.

    A damaged store is a problem ``varbench store verify`` finds (exit 1) and ``varbench store repair`` mends, not
    bad input."""


def repair_hint(root: str | Path) -> str:
    """The advice that ends a damaged manifest's message.

    Args:
      root: the store's directory.

    Returns:
      Text naming ``varbench store repair`` for ``root``.
    """
    return f"'varbench store repair {root}' rebuilds it from the cell files"


# --- value kinds: each a (test, description) pair -------------------------------------------------------------------
Kind = tuple[Callable[[Any], bool], str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TEXT: Kind = (lambda v: isinstance(v, str), "text")
TEXT_OR_NULL: Kind = (lambda v: v is None or isinstance(v, str), "text or null")
FLAG: Kind = (lambda v: isinstance(v, bool), "true or false")
COUNT: Kind = (lambda v: _is_int(v) and v >= 0, "a non-negative integer")
INT_OR_NULL: Kind = (lambda v: v is None or _is_int(v), "an integer or null")
NUMBER: Kind = (lambda v: _is_int(v) or isinstance(v, float), "a number")
OBJECT: Kind = (lambda v: isinstance(v, dict), "an object")
OBJECT_OR_NULL: Kind = (lambda v: v is None or isinstance(v, dict), "an object or null")


def _list_of(kind: Kind) -> tuple[str, Kind]:
    return ("list", kind)


def _map_of(kind: Kind) -> tuple[str, Kind]:
    return ("map", kind)


#: A run record of ``runs`` (:class:`varbench.reports.manifest.Run`).
RUN_FIELDS: Mapping[str, Any] = {
    "run": COUNT, "started": TEXT_OR_NULL, "finished": TEXT_OR_NULL, "status": TEXT, "command": TEXT_OR_NULL,
    "host": TEXT_OR_NULL, "pid": INT_OR_NULL, "executor": OBJECT, "environment": OBJECT, "cells_finished": COUNT,
    "cells_retried": _map_of(_list_of(TEXT)), "cells_moved_aside": _map_of(TEXT), "took_over_lock": OBJECT_OR_NULL,
}
#: The manifest's fields (:class:`varbench.reports.manifest.Manifest`, ``CheckManifest``).
FIELDS: Mapping[str, Any] = {
    "kind": TEXT, "config": OBJECT, "config_hash": TEXT, "quick": FLAG, "started": TEXT_OR_NULL,
    "resumed": _list_of(TEXT), "finished": TEXT_OR_NULL, "environment": OBJECT, "runs": _list_of(RUN_FIELDS),
    "cells": _map_of(TEXT), "cells_total": COUNT, "cells_done": COUNT, "cells_skipped": _map_of(TEXT),
    "cells_failed": _map_of(TEXT), "cells_retried": _map_of(COUNT), "compile_counts": _map_of(COUNT),
    "seconds": _map_of(NUMBER), "check": OBJECT,
}
REQUIRED = ("config_hash",)


def _describe(value: Any) -> str:
    """A value's JSON type, for messages (never the value itself: it may be long or span lines)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {int: "an integer", float: "a number", str: "text", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__)


def _key(name: str) -> str:
    """A map key as a field path shows it (quoted and escaped: keys may hold anything)."""
    return "[" + json.dumps(name, ensure_ascii=True) + "]"


def _first_error(value: Any, spec: Any, where: str) -> str | None:
    """The first field of ``value`` that ``spec`` refuses, as ``'<field>' must be <kind>, not <type>``; None if
    none is."""
    if isinstance(spec, Mapping):  # a record: known fields typed, others free
        if not isinstance(value, dict):
            return f"field '{where}' must be an object, not {_describe(value)}"
        for name, inner in spec.items():
            if name in value:
                found = _first_error(value[name], inner, f"{where}.{name}" if where else name)
                if found:
                    return found
        return None
    if isinstance(spec, tuple) and spec and spec[0] in ("list", "map"):
        container, inner = spec
        if container == "list":
            if not isinstance(value, list):
                return f"field '{where}' must be a list, not {_describe(value)}"
            items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
        else:
            if not isinstance(value, dict):
                return f"field '{where}' must be an object, not {_describe(value)}"
            items = ((f"{where}{_key(k)}", item) for k, item in value.items())
        return next((found for path, item in items if (found := _first_error(item, inner, path))), None)
    test, description = spec
    return None if test(value) else f"field '{where}' must be {description}, not {_describe(value)}"


def _config_error(config: Any) -> str | None:
    """The config's blocks, which reports are organised by: a list of tables, each with a text ``name``."""
    if not isinstance(config, dict) or "block" not in config:
        return None
    blocks = config["block"]
    if not isinstance(blocks, list):
        return f"field 'config.block' must be a list, not {_describe(blocks)}"
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            return f"field 'config.block[{i}]' must be an object, not {_describe(block)}"
        if not isinstance(block.get("name"), str):
            return f"field 'config.block[{i}].name' must be text, not {_describe(block.get('name'))}"
    return None


def check(manifest: Any, path: str | Path) -> dict[str, Any]:
    """``manifest`` (a parsed ``manifest.json``) if it has the manifest's schema, else a one-line error.

    Args:
      manifest: the parsed JSON.
      path: the file, for the message.

    Returns:
      ``manifest``, unchanged.

    Raises:
      DamagedManifestError: it is not an object, lacks the config hash, or a field (the first, in the schema's
        order) has the wrong type; the message names the field and how to repair the store.
    """
    root = Path(path).parent
    if not isinstance(manifest, dict):
        raise DamagedManifestError(f"{str(path)!r} is not a varbench manifest (a JSON object, not "
                                   f"{_describe(manifest)}); {repair_hint(root)}")
    missing = [name for name in REQUIRED if name not in manifest]
    if missing:
        raise DamagedManifestError(f"{str(path)!r} is not the manifest of a varbench result store (it lacks the "
                                   f"config hash, field '{missing[0]}'); {repair_hint(root)}")
    error = _first_error(manifest, FIELDS, "") or _config_error(manifest.get("config"))
    if error:
        raise DamagedManifestError(f"{str(path)!r} is damaged: {error}; {repair_hint(root)}")
    return manifest

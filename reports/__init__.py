"""Tidy results, the result store, figures and report pages. Never imports JAX.

``varbench.reports.load(DIR)`` returns a suite's results as one tidy pandas DataFrame.

The names below are loaded on first use, so that a module of this package that needs none of them (the drawing
workers' :mod:`._workers`, which ``varbench report`` starts first) imports without pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it
_PUBLIC = {"group_table": "groups", "group_variance": "groups", "records": "schema", "summary": "schema",
           "to_frame": "schema", "load": "store", "verdicts": "verdict"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
        globals()[name] = value  # the next access does not come here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

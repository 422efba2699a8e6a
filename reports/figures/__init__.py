"""Seaborn figures of suite results. Every function takes the tidy frame of :func:`varbench.reports.store.load`.

Confidence intervals are drawn as bands (95%, kurtosis-aware, from ``variance_lo``/``variance_hi``); variances
spanning decades use log axes; axes carry units. An estimator has the same colour in every figure
(:func:`estimator_palette`) and its family a marker and dash (:mod:`._families`); a panel names at most
:data:`MAX_PER_PANEL` estimators, at the ends of its lines or in a legend beside it, so a block with more is split
into panels by family. Every figure takes a ``width`` in inches (a paper column is about 3.3) and keeps its text at
7 pt or more. Each figure returns a matplotlib ``Figure``; :func:`work_normalized` also returns its table.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it. Loaded on first use: the colours (:mod:`._colors`), the pages' sizes
# (:mod:`._pages`) and :func:`has_papers_figure` need no pyplot, so a report's own process, whose workers draw,
# never imports it. A drawing module loads :mod:`._style` first: the file-only backend and the theme.
_PUBLIC = {
    "CRITIC_COLORS": "_colors", "ESTIMATOR_COLORS": "_colors", "EXTRA_COLORS": "_colors", "Palette": "_colors",
    "estimator_palette": "_colors",
    "FAMILY": "_families", "MAX_PER_PANEL": "_families", "family_of": "_families", "panel_groups": "_families",
    "short_label": "_families",
    "MIN_FONT": "_labels",
    "bias_vs_variance": "_overview", "bias_vs_variance_pages": "_overview",
    "model_bias": "_sequential", "sequential_panels": "_sequential",
    "series_vs": "_sweeps", "variance_vs": "_sweeps",
    "trace_log_variance": "_traces",
    "has_papers_figure": "_trace_papers", "trace_papers": "_trace_papers",
    "WORK_MAX_HEIGHT": "_pages", "WorkSize": "_pages", "work_height": "_pages", "work_pages": "_pages",
    "work_normalized": "_work", "work_normalized_pages": "_work",
}
_DRAWING = {"_families", "_labels", "_overview", "_sequential", "_sweeps", "_traces", "_trace_papers", "_work"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _PUBLIC[name] in _DRAWING:
        importlib.import_module(f"{__name__}._style")
    value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    globals()[name] = value  # the next access does not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

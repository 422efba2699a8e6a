"""Seaborn figures of suite results. Every function takes the tidy frame of :func:`varbench.reports.store.load`.

Confidence intervals are drawn as bands (95%, kurtosis-aware, from ``variance_lo``/``variance_hi``); variances
spanning decades use log axes; axes carry units. An estimator has the same colour in every figure
(:func:`estimator_palette`) and its family a marker and dash (:mod:`._families`); a panel names at most
:data:`MAX_PER_PANEL` estimators, at the ends of its lines or in a legend beside it, so a block with more is split
into panels by family. Every figure takes a ``width`` in inches (a paper column is about 3.3) and keeps its text at
7 pt or more. Each figure returns a matplotlib ``Figure``; :func:`work_normalized` also returns its table.
"""

# _style first: the file-only backend and the theme are set before anything draws
from varbench.reports.figures._style import CRITIC_COLORS, ESTIMATOR_COLORS, EXTRA_COLORS, Palette, estimator_palette
from varbench.reports.figures._families import FAMILY, MAX_PER_PANEL, family_of, panel_groups, short_label
from varbench.reports.figures._labels import MIN_FONT
from varbench.reports.figures._overview import bias_vs_variance, bias_vs_variance_pages
from varbench.reports.figures._sequential import model_bias, sequential_panels
from varbench.reports.figures._sweeps import series_vs, variance_vs
from varbench.reports.figures._traces import trace_log_variance
from varbench.reports.figures._trace_papers import has_papers_figure, trace_papers
from varbench.reports.figures._work import (WORK_MAX_HEIGHT, WorkSize, work_height, work_normalized,
                                            work_normalized_pages, work_pages)

__all__ = ["CRITIC_COLORS", "ESTIMATOR_COLORS", "EXTRA_COLORS", "FAMILY", "MAX_PER_PANEL", "MIN_FONT", "Palette",
           "WORK_MAX_HEIGHT", "WorkSize", "bias_vs_variance", "bias_vs_variance_pages", "estimator_palette",
           "family_of", "has_papers_figure", "model_bias", "panel_groups", "sequential_panels", "series_vs",
           "short_label", "trace_log_variance", "trace_papers", "variance_vs", "work_height", "work_normalized",
           "work_normalized_pages", "work_pages"]

"""Seaborn figures of suite results. Every function takes the tidy frame of :func:`varbench.reports.store.load`.

Confidence intervals are drawn as bands (95%, kurtosis-aware, from ``variance_lo``/``variance_hi``); variances
spanning decades use log axes; axes carry units. An estimator has the same colour in every figure
(:func:`estimator_palette`). Each figure returns a matplotlib ``Figure``; :func:`work_normalized` also returns
its table.
"""

# _style first: the file-only backend and the theme are set before anything draws
from varbench.reports.figures._style import CRITIC_COLORS, ESTIMATOR_COLORS, EXTRA_COLORS, Palette, estimator_palette
from varbench.reports.figures._overview import (WORK_MAX_HEIGHT, bias_vs_variance, work_height, work_normalized,
                                                 work_normalized_pages, work_pages)
from varbench.reports.figures._sequential import model_bias, sequential_panels
from varbench.reports.figures._sweeps import series_vs, variance_vs
from varbench.reports.figures._traces import trace_log_variance

__all__ = ["CRITIC_COLORS", "ESTIMATOR_COLORS", "EXTRA_COLORS", "Palette", "WORK_MAX_HEIGHT", "bias_vs_variance",
           "estimator_palette", "model_bias", "sequential_panels", "series_vs", "trace_log_variance", "variance_vs",
           "work_height", "work_normalized", "work_normalized_pages", "work_pages"]

"""The figure of a trace block: each estimator's log-variance along an optimisation run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from varbench.reports import schema
from varbench.reports.figures._axes import coincide, estimator_legend
from varbench.reports.figures._style import Palette, estimator_palette


def _trace_panel(ax: plt.Axes, rows: pd.DataFrame, labels: list[str], colors: Palette,
                 legend: bool) -> dict[str, pd.Series]:
    """Draw each estimator's mean ``_y`` per step of ``rows`` (one driver); returns the curves (``legend``: label
    them, once per figure)."""
    curves = {}
    for k, label in enumerate(labels):
        d = rows[rows["estimator_label"] == label].groupby("step", as_index=False)["_y"].mean()
        finite = d[np.isfinite(d["_y"])]
        # later curves drawn thinner and dashed, so one that coincides with an earlier one still shows
        ax.plot(finite["step"], finite["_y"], marker=".", color=colors[label], lw=1.6 - 0.25 * min(k, 3),
                ls="-" if k == 0 else (0, (4, 1.5 + k)), label=label if legend else None)
        curves[label] = pd.Series(finite["_y"].to_numpy(), index=finite["step"].to_numpy())
    return curves


def trace_log_variance(frame: pd.DataFrame, title: str = "", palette: Palette | None = None) -> plt.Figure:
    """Log-variance of each measured estimator over optimisation steps, one row of panels per driver.

    Every estimator is measured at the SAME params at each checkpoint (the driver's), so the curves separate
    estimator noise from parameter drift. For problems with parameter groups (an amortized problem's encoder and
    decoder) a panel per group follows the total, since which group an estimator helps is the question.

    Args:
      frame: the trace rows of one block (:func:`varbench.reports.schema.trace_rows`).
      title: the figure's title; curves that coincide are named under it.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).

    Returns:
      The figure.
    """
    drivers = list(dict.fromkeys(frame["driver"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    hidden: list[str] = []
    panels = [("log_variance", "all parameters")] + [
        (schema.GROUP_VARIANCE_PREFIX + g, g) for g in schema.trace_groups(frame)]
    fig, axes = plt.subplots(len(drivers), len(panels), figsize=(4.2 * len(panels) + 1.8, 3.0 * len(drivers) + 0.4),
                             squeeze=False, sharey="col", sharex=True)
    for j, (column, what) in enumerate(panels):
        values = pd.to_numeric(frame[column], errors="coerce")
        if column != "log_variance":  # a group's variance, on the same natural-log scale as the total
            values = np.log(values.where(values > 0))
        data = frame.assign(_y=values)
        for i, driver in enumerate(drivers):
            ax = axes[i][j]
            curves = _trace_panel(ax, data[data["driver"] == driver], labels, colors, legend=i == 0 and j == 0)
            hidden += [f"{' = '.join(g)} ({what})" for g in coincide(curves)]
            ax.set_title(f"params trained by {driver}" + (f" · {what}" if len(panels) > 1 else ""), fontsize=9)
            if i == len(drivers) - 1:
                ax.set_xlabel("optimisation step")
            if j == 0 or len(panels) > 1:
                ax.set_ylabel(f"ln variance, {what}" if len(panels) > 1 else "ln variance of one estimate")
    estimator_legend(fig, axes.ravel(), fontsize=7)
    if title or hidden:
        fig.suptitle(title + (f"\n(curves that coincide: {'; '.join(dict.fromkeys(hidden))})" if hidden else ""),
                     fontsize=10 if not hidden else 9)
    fig.tight_layout()
    return fig

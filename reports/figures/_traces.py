"""The figure of a trace block: each estimator's log-variance along an optimisation run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from varbench.reports import schema
from varbench.reports.figures._axes import coincide, line_ends, set_ylabel, wrapped_grid
from varbench.reports.figures._families import panel_groups, style_of
from varbench.reports.figures._labels import SIDE, framed, label_lines
from varbench.reports.figures._style import Palette, estimator_palette
from varbench.reports.trace_table import interval_columns, values


def _log_interval(frame: pd.DataFrame, column: str) -> dict[str, pd.Series]:
    """``_lo`` and ``_hi``: the natural log of the ends of the 95% interval of ``column``'s variance (NaN where a
    row has none: a store written before the interval was recorded, or a lower end of 0)."""
    out = {}
    group = None if column == "log_variance" else column.removeprefix(schema.GROUP_VARIANCE_PREFIX)
    for key, name in zip(("_lo", "_hi"), interval_columns(group)):
        ends = values(frame, name)
        out[key] = np.log(ends.where(ends > 0))
    return out


def _trace_panel(ax: plt.Axes, rows: pd.DataFrame, labels: list[str],
                 colors: Palette) -> tuple[dict[str, pd.Series], dict[str, tuple[object, float]]]:
    """Draw each estimator's mean ``_y`` per step of ``rows`` (one driver), with a band from ``_lo`` to ``_hi``
    where they are finite; returns the curves, and per label its line and last value (for the labels at the line
    ends)."""
    curves, ends = {}, {}
    for k, label in enumerate(labels):
        d = rows[rows["estimator_label"] == label].groupby("step", as_index=False)[["_y", "_lo", "_hi"]].mean()
        finite = d[np.isfinite(d["_y"])]
        style = style_of(label)
        band = finite[np.isfinite(finite["_lo"]) & np.isfinite(finite["_hi"])]
        if len(band):  # the 95% interval of the variance, where the store has it (older stores do not)
            ax.fill_between(band["step"], band["_lo"], band["_hi"], color=colors[label], alpha=0.15, lw=0)
        # later curves drawn thinner, so one that coincides with an earlier one still shows
        (line,) = ax.plot(finite["step"], finite["_y"], marker=style.marker, ms=3.5, color=colors[label],
                          lw=max(0.9, 1.8 - 0.25 * k), ls=style.dash)
        curves[label] = pd.Series(finite["_y"].to_numpy(), index=finite["step"].to_numpy())
        ends[label] = (line, float(finite["_y"].iloc[-1]) if len(finite) else np.nan)
    return curves, ends


def trace_log_variance(frame: pd.DataFrame, title: str = "", palette: Palette | None = None,
                       width: float | None = None) -> plt.Figure:
    """Log-variance of each measured estimator over optimisation steps, one row of panels per driver.

    Every estimator is measured at the SAME params at each checkpoint (the driver's), so the curves separate
    estimator noise from parameter drift. For problems with parameter groups (an amortized problem's encoder and
    decoder) a panel per group follows the total, since which group an estimator helps is the question. More than
    :data:`~._families.MAX_PER_PANEL` estimators get a row per group of them. A band around a curve is the 95%
    interval of its variance (the mean over trace seeds of the log of each end), where the rows carry one
    (:func:`varbench.reports.trace_table.interval_columns`); rows of an older store without it get curves alone.

    Args:
      frame: the trace rows of one block (:func:`varbench.reports.schema.trace_rows`).
      title: the figure's title; curves that coincide are named under it.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).
      width: the figure's width in inches (default: 4.2 per panel); panels wrap onto more rows when they do not fit.

    Returns:
      The figure.
    """
    drivers = list(dict.fromkeys(frame["driver"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    hidden: list[str] = []
    panels = [("log_variance", "all parameters")] + [
        (schema.GROUP_VARIANCE_PREFIX + g, g) for g in schema.trace_groups(frame)]
    groups = panel_groups(labels)
    fig, rows = wrapped_grid([len(panels)] * (len(drivers) * len(groups)), width or 4.2 * len(panels) + SIDE, SIDE,
                             height=(1.8, 3.0))
    for r, (driver, (group, members)) in enumerate((d, g) for d in drivers for g in groups):
        for ax, (column, what) in zip(rows[r], panels):
            values = pd.to_numeric(frame[column], errors="coerce")
            if column != "log_variance":  # a group's variance, on the same natural-log scale as the total
                values = np.log(values.where(values > 0))
            data = frame.assign(_y=values, **_log_interval(frame, column))
            curves, ends = _trace_panel(ax, data[data["driver"] == driver], members, colors)
            hidden += [f"{' = '.join(g)} ({what})" for g in coincide(curves)]
            name = f"params trained by {driver}" + (f" · {what}" if len(panels) > 1 else "")
            ax.set_title(f"{group}\n{name}" if group else name, fontsize=8.5)
            ax.set_xlabel("optimisation step")
            if ax.get_subplotspec().is_first_col() or len(panels) > 1:
                set_ylabel(ax, f"ln variance, {what}" if len(panels) > 1 else "ln variance of one estimate",
                           f"ln var., {what}" if len(panels) > 1 else "ln variance")
            if ax in line_ends(rows[r:r + 1]):
                label_lines(ax, ends, colors)
    heading = title + (f"\n(curves that coincide: {'; '.join(dict.fromkeys(hidden))})" if hidden else "")
    if any(np.isfinite(_log_interval(frame, column)["_hi"]).any() for column, _ in panels):
        heading += "\n(bands: the 95% interval of each variance)"
    return framed(fig, heading, [], labels)

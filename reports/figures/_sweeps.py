"""Figures of a sweep: the variance of one estimate against a grid value or an estimator option."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from varbench.reports import schema
from varbench.reports.figures._axes import (coincide, integer_ticks, line_ends, plain_log_ticks, positive, set_ylabel,
                                            wrapped_grid)
from varbench.reports.figures._families import FAMILY_STYLE, MAX_PER_PANEL, OTHER, panel_groups, style_of
from varbench.reports.figures._labels import SIDE, framed, label_lines
from varbench.reports.figures._style import Palette, estimator_palette, value_palette

#: Axis titles of the Gaussian's parameters.
PARAM_LABEL = {"mean": "∂/∂μ", "log_scale": "∂/∂log σ"}
#: What the marks of :func:`variance_vs` mean, per method.
METHOD_KEY = {"mc": "lines and bands: Monte Carlo, 95% CI", "exact": "open circles: exact"}
#: The legend's entry for each kind of mark (drawn in grey: the colour says the estimator).
METHOD_LEGEND = {"mc": dict(color="0.35", lw=1.5, label="Monte Carlo (band: 95% CI)"),
                 "exact": dict(ls="none", marker="o", ms=4.5, mfc="none", mec="0.35", mew=1.2, label="exact")}


def _variance_panel(ax: plt.Axes, sub: pd.DataFrame, x: str, labels: list[str],
                    colors: Palette) -> tuple[dict[str, pd.Series], dict[str, tuple[object, float]]]:
    """Draw one panel of :func:`variance_vs`: each label's Monte Carlo curve (colour: the estimator; marker and dash:
    its family; later curves thinner, so one that coincides with an earlier one still shows) with its band, and its
    exact values as hollow markers on top.

    Returns:
      The Monte Carlo curves (for the note on coinciding ones), and per label its first artist and the last value
      drawn (for the legend or the labels at the line ends).
    """
    scale = float(pd.to_numeric(sub["variance"], errors="coerce").max()) if len(sub) else None
    curves: dict[str, pd.Series] = {}
    ends: dict[str, tuple[object, float]] = {}
    for k, label in enumerate(labels):
        style = style_of(label)
        for method in ("mc", "exact"):
            d = sub[(sub["estimator_label"] == label) & (sub["method"] == method)]
            if d.empty:
                continue
            # First coordinate per point (the Gaussian sweeps are one-dimensional).
            d = d.sort_values(x).groupby(x, as_index=False).first()
            y = positive(d["variance"], scale)
            if method == "mc":
                (artist,) = ax.plot(d[x], y, ls=style.dash, marker=style.marker, markevery=max(1, len(d) // 6),
                                    ms=3.5, color=colors[label], lw=max(0.9, 1.8 - 0.2 * k), zorder=2)
                ax.fill_between(d[x], positive(d["variance_lo"], scale), positive(d["variance_hi"], scale),
                                color=colors[label], alpha=0.2, lw=0, zorder=1)
                curves[label] = pd.Series(y.to_numpy(), index=d[x].to_numpy())
            else:
                # hollow (not white-filled), so the Monte Carlo line under it stays visible
                (artist,) = ax.plot(d[x], y, ls="none", marker="o", ms=4.5, mfc="none", mec=colors[label],
                                    mew=1.2, zorder=3)
            finite = y.dropna()
            ends.setdefault(label, (artist, float(finite.iloc[-1]) if len(finite) else np.nan))
    return curves, ends


def variance_vs(frame: pd.DataFrame, x: str, col: str | None = None, title: str = "",
                palette: Palette | None = None, width: float | None = None) -> plt.Figure:
    """Variance of one estimate vs a grid value, a panel per ``col`` value × parameter (× group of estimators).

    Monte Carlo values are lines with bands; exact values are hollow markers on top (so they stay visible where they
    agree with the Monte Carlo curve, and the curve shows through them); a key under the panels says which is which.
    A block with more than :data:`~._families.MAX_PER_PANEL` estimators gets a row of panels per group of them
    (:func:`~._families.panel_groups`). Lines are labelled where they end, or in a legend beside a row with many.

    Args:
      frame: tidy measurement rows of one block (and of its exact-mode overlay).
      x: the column drawn along the x axis (``grid_<name>``).
      col: the column whose values get a column of panels each (``grid_cost``); None for one column.
      title: the figure's title; without one, neither the key to the marks nor the note on curves that coincide
        is written in it.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).
      width: the figure's width in inches (default: 3.3 per column of panels); panels wrap onto more rows when
        they do not fit.

    Returns:
      The figure.
    """
    cols = sorted(frame[col].dropna().unique()) if col else [None]
    params = list(dict.fromkeys(frame["param"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    width = width or max(3.3 * len(cols), 6.5) + SIDE
    groups = panel_groups(labels)
    fig, rows = wrapped_grid([len(cols)] * (len(groups) * len(params)), width, SIDE)
    hidden: list[str] = []
    shared: dict[tuple, list[plt.Axes]] = {}  # a panel's twins in the other groups: one y range, to compare
    for r, ((group, members), param) in enumerate((g, p) for g in groups for p in params):
        ends: dict[str, tuple[object, float]] = {}
        for ax, c in zip(rows[r], cols):
            shared.setdefault((param, c), []).append(ax)
            sub = frame[(frame["param"] == param) & ((frame[col] == c) if col else True)]
            curves, ends = _variance_panel(ax, sub, x, members, colors)
            hidden += [" = ".join(g) for g in coincide(curves)]
            ax.set_yscale("log")
            name = f"{c} · {PARAM_LABEL.get(param, param)}" if col else PARAM_LABEL.get(param, param)
            ax.set_title(f"{group}\n{name}" if group else name, fontsize=8.5)
            ax.set_xlabel(x.removeprefix(schema.GRID_PREFIX))
            integer_ticks(ax, sub[x])
            if ax.get_subplotspec().is_first_col():
                set_ylabel(ax, "variance of one estimate", "variance")
            if ax in line_ends(rows[r:r + 1]):
                label_lines(ax, ends, colors)
    for twins in shared.values():
        limits = np.array([ax.get_ylim() for ax in twins])
        for ax in twins:
            ax.set_ylim(limits[:, 0].min(), limits[:, 1].max())
    keys = [Line2D([], [], **METHOD_LEGEND[m]) for m in METHOD_LEGEND if m in set(frame["method"])]
    heading = ""
    if title:
        note = f"; curves that coincide: {', '.join(dict.fromkeys(hidden))}" if hidden else ""
        key = "; ".join(METHOD_KEY[m] for m in sorted(set(frame["method"]), reverse=True))
        heading = f"{title}\n({key}; variances that are zero up to rounding are not drawn{note})"
    return framed(fig, heading, keys, labels)


def _series_lines(ax: plt.Axes, per: pd.DataFrame, x: str, y: str, hue: str, members: list[str],
                  colors: Palette) -> dict[str, tuple[object, float]]:
    """One panel of :func:`series_vs`: a line per ``hue`` value (the mean over seeds, a band from the least to the
    largest), exact values as hollow markers; returns per value its first artist and last value."""
    ends: dict[str, tuple[object, float]] = {}
    for k, value in enumerate(members):
        style = style_of(value) if hue in ("estimator_name", "estimator_label") else FAMILY_STYLE[OTHER]
        for method, d in per[per[hue].astype(str) == value].groupby("method", sort=False):
            values = pd.to_numeric(d[y], errors="coerce").groupby(d[x]).agg(["mean", "min", "max"]).sort_index()
            values = values[values["mean"] > 0]
            if values.empty:
                continue
            if method == "exact":
                (artist,) = ax.plot(values.index, values["mean"], ls="none", marker="o", ms=4.5, mfc="none",
                                    mec=colors[value], mew=1.2, zorder=3)
            else:
                (artist,) = ax.plot(values.index, values["mean"], ls=style.dash, marker=style.marker, ms=4,
                                    color=colors[value], lw=max(0.9, 1.8 - 0.2 * k), zorder=2)
                ax.fill_between(values.index, values["min"], values["max"], color=colors[value], alpha=0.15, lw=0)
            ends.setdefault(value, (artist, float(values["mean"].iloc[-1])))
    return ends


def series_vs(frame: pd.DataFrame, x: str, title: str = "", hue: str = "estimator_name",
              y: str = "total_variance", width: float | None = None) -> plt.Figure:
    """Total variance (sum over parameters) vs an estimator option such as λ or n, one line per ``hue``.

    More than :data:`~._families.MAX_PER_PANEL` lines are split into panels (estimators by family). Several seeds of
    a point are averaged, with a band from the least to the largest.

    Args:
      frame: tidy measurement rows of one block.
      x: the column drawn along the x axis (``opt_<name>`` or ``grid_<name>``).
      title: the figure's title.
      hue: the column whose values get a line each; estimators keep their report colours.
      y: the column drawn along the (log) y axis.
      width: the figure's width in inches (default 5 per panel); panels wrap onto more rows when they do not fit.

    Returns:
      The figure.
    """
    per = frame.drop_duplicates(["cell", "point"]).dropna(subset=[x])
    values = [str(v) for v in dict.fromkeys(per[hue])]
    if hue in ("estimator_name", "estimator_label"):
        colors, groups = estimator_palette(values), panel_groups(values)
    else:
        colors = value_palette(values)
        groups = [("", values[i:i + MAX_PER_PANEL]) for i in range(0, len(values), MAX_PER_PANEL)]
    fig, rows = wrapped_grid([len(groups)], width or 5.0 * len(groups), SIDE, height=(2.2, 3.2))
    for ax, (group, members) in zip(rows[0], groups):
        label_lines(ax, _series_lines(ax, per, x, y, hue, members, colors), colors)
        ax.set_yscale("log")
        plain_log_ticks(ax)
        set_ylabel(ax, "total variance of one estimate", "total variance")
        ax.set_xlabel(x.removeprefix(schema.OPTION_PREFIX).removeprefix(schema.GRID_PREFIX))
        integer_ticks(ax, per[x])
        ax.set_title(group, fontsize=8.5)
    keys = [Line2D([], [], **METHOD_LEGEND[m]) for m in METHOD_LEGEND if m in set(per["method"])]
    return framed(fig, title, keys if len(keys) > 1 else [], values if hue.startswith("estimator") else [])

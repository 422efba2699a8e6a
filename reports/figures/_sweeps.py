"""Figures of a sweep: the variance of one estimate against a grid value or an estimator option."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from varbench.reports import schema
from varbench.reports.figures._axes import coincide, estimator_legend, integer_ticks, plain_log_ticks, positive
from varbench.reports.figures._style import LINESTYLES, Palette, estimator_palette

#: Axis titles of the Gaussian's parameters.
PARAM_LABEL = {"mean": "∂/∂μ", "log_scale": "∂/∂log σ"}
#: What the marks of :func:`variance_vs` mean, per method.
METHOD_KEY = {"mc": "lines and bands: Monte Carlo, 95% CI", "exact": "open circles: exact"}
#: The legend's entry for each kind of mark (drawn in grey: the colour says the estimator).
METHOD_LEGEND = {"mc": dict(color="0.35", lw=1.5, label="Monte Carlo (band: 95% CI)"),
                 "exact": dict(ls="none", marker="o", ms=4.5, mfc="none", mec="0.35", mew=1.2, label="exact")}


def _variance_panel(ax: plt.Axes, sub: pd.DataFrame, x: str, labels: list[str], colors: Palette,
                    labelled: set[str]) -> dict[str, pd.Series]:
    """Draw one panel of :func:`variance_vs`; returns each Monte Carlo curve (for the note on coinciding ones).

    ``labelled`` holds the labels already in the legend; the ones drawn here are added to it."""
    scale = float(pd.to_numeric(sub["variance"], errors="coerce").max()) if len(sub) else None
    curves: dict[str, pd.Series] = {}
    for k, label in enumerate(labels):
        for method in ("mc", "exact"):
            d = sub[(sub["estimator_label"] == label) & (sub["method"] == method)]
            if d.empty:
                continue
            # First coordinate per point (the Gaussian sweeps are one-dimensional).
            d = d.sort_values(x).groupby(x, as_index=False).first()
            y = positive(d["variance"], scale)
            if method == "mc":
                # a dash pattern per estimator too, so curves that nearly coincide can be told apart
                ax.plot(d[x], y, ls=LINESTYLES[k % len(LINESTYLES)], color=colors[label],
                        label=None if label in labelled else label, lw=1.5, zorder=2)
                ax.fill_between(d[x], positive(d["variance_lo"], scale), positive(d["variance_hi"], scale),
                                color=colors[label], alpha=0.2, lw=0, zorder=1)
                curves[label] = pd.Series(y.to_numpy(), index=d[x].to_numpy())
            else:
                # hollow (not white-filled), so the Monte Carlo line under it stays visible
                ax.plot(d[x], y, ls="none", marker="o", ms=4.5, mfc="none", mec=colors[label], mew=1.2,
                        label=None if label in labelled else label, zorder=3)
            labelled.add(label)
    return curves


def variance_vs(frame: pd.DataFrame, x: str, col: str | None = None, title: str = "",
                palette: Palette | None = None) -> plt.Figure:
    """Variance of one estimate vs a grid value, a panel per ``col`` value × parameter.

    Monte Carlo values are lines with bands; exact values are hollow markers on top (so they stay visible where they
    agree with the Monte Carlo curve, and the curve shows through them); the legend keys both.

    Args:
      frame: tidy measurement rows of one block (and of its exact-mode overlay).
      x: the column drawn along the x axis (``grid_<name>``).
      col: the column whose values get a column of panels each (``grid_cost``); None for one column.
      title: the figure's title; without one, neither the key to the marks nor the note on curves that coincide
        is drawn.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).

    Returns:
      The figure.
    """
    cols = sorted(frame[col].dropna().unique()) if col else [None]
    params = list(dict.fromkeys(frame["param"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    fig, axes = plt.subplots(len(params), len(cols), figsize=(max(3.3 * len(cols), 6.5), 2.6 * len(params) + 0.6),
                             squeeze=False, sharex="col")
    labelled: set[str] = set()
    hidden: list[str] = []
    for i, param in enumerate(params):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            sub = frame[(frame["param"] == param) & ((frame[col] == c) if col else True)]
            hidden += [" = ".join(g) for g in coincide(_variance_panel(ax, sub, x, labels, colors, labelled))]
            ax.set_yscale("log")
            ax.set_title(f"{c} · {PARAM_LABEL.get(param, param)}" if col else PARAM_LABEL.get(param, param))
            ax.set_xlabel(x.removeprefix(schema.GRID_PREFIX))
            integer_ticks(ax, sub[x])
            if j == 0:
                ax.set_ylabel("variance of one estimate")
    keys = [Line2D([], [], **METHOD_LEGEND[m]) for m in METHOD_LEGEND if m in set(frame["method"])]
    estimator_legend(fig, axes.ravel(), keys, fontsize=8, handlelength=3)
    if title:
        note = f"; curves that coincide: {', '.join(dict.fromkeys(hidden))}" if hidden else ""
        key = "; ".join(METHOD_KEY[m] for m in sorted(set(frame["method"]), reverse=True))
        fig.suptitle(f"{title}\n({key}; variances that are zero up to rounding are not drawn{note})", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def series_vs(frame: pd.DataFrame, x: str, title: str = "", hue: str = "estimator_name",
              y: str = "total_variance") -> plt.Figure:
    """Total variance (sum over parameters) vs an estimator option such as λ or n, one line per ``hue``.

    Args:
      frame: tidy measurement rows of one block.
      x: the column drawn along the x axis (``opt_<name>`` or ``grid_<name>``).
      title: the axes' title.
      hue: the column whose values get a line each; estimators keep their report colours.
      y: the column drawn along the (log) y axis.

    Returns:
      The figure.
    """
    per = frame.drop_duplicates(["cell", "point"]).dropna(subset=[x])
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    colors = estimator_palette(list(per[hue])) if hue in ("estimator_name", "estimator_label") else None
    sns.lineplot(data=per, x=x, y=y, hue=hue, style="method" if per["method"].nunique() > 1 else None,
                 marker="o", ax=ax, palette=colors)
    ax.set_yscale("log")
    plain_log_ticks(ax)
    ax.set_ylabel("total variance of one estimate")
    ax.set_xlabel(x.removeprefix(schema.OPTION_PREFIX).removeprefix(schema.GRID_PREFIX))
    integer_ticks(ax, per[x])
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig

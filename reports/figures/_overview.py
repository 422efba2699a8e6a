"""The figure across the blocks of a report: bias against variance, each point labelled with its estimator.

Each block gets its own axes: the variances of different problems are not comparable, and one shared log axis
squeezes a block's estimators together.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from varbench.reports import schema
from varbench.reports.figures._axes import plain_log_ticks
from varbench.reports.figures._families import short_label
from varbench.reports.figures._labels import framed, point_labels
from varbench.reports.figures._pages import (  # noqa: F401 - the figure's sizes and pages, under its names too
    BIAS_MAX_HEIGHT, BIAS_PANEL, BIAS_WIDTH, bias_grid, bias_pages)
from varbench.reports.figures._style import Palette, estimator_palette, text_color

#: The bias figure's title.
BIAS_TITLE = "Bias vs variance per block (× bias detected, Holm-corrected; ○ none detected)"


def _bias_panel(ax: plt.Axes, block: str, table: pd.DataFrame, colors: Palette) -> None:
    """One block of :func:`bias_vs_variance`: its estimators' points, each labelled, or a note when there is no bias
    bound."""
    # Log axes need positive values: a block without an exact gradient has no bias bound (gaussian_vae).
    d = table[(pd.to_numeric(table["median_total_variance"], errors="coerce") > 0)
              & (pd.to_numeric(table["rel_bias_ub95"], errors="coerce") > 0)]
    ax.set_title(block, fontsize=9)
    if d.empty:
        ax.text(0.5, 0.5, "no exact gradient:\nno bias to bound", ha="center", va="center", fontsize=8,
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for _, row in d.iterrows():
        detected = row["bias_detected"] is True or row["bias_detected"] == 1.0
        ax.scatter(row["median_total_variance"], row["rel_bias_ub95"], color=colors[row["estimator"]],
                   marker="X" if detected else "o", s=50 if detected else 30, edgecolor="0.3", lw=0.4, zorder=3)
    point_labels(ax, [(row["median_total_variance"], row["rel_bias_ub95"], short_label(row["estimator"]),
                       text_color(colors[row["estimator"]])) for _, row in d.iterrows()])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("median total variance", fontsize=8)
    ax.set_ylabel("rel. bias, 95% upper bound", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.margins(0.2)
    plain_log_ticks(ax)


def bias_vs_variance(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                     estimator_order: Mapping[str, Sequence[str]] | None = None,
                     palette: Palette | None = None, width: float | None = None,
                     blocks: Sequence[str] | None = None, page: str = "") -> plt.Figure:
    """Per Monte Carlo block, one point per estimator, labelled: its largest relative bias against its total
    variance.

    The bias is the simultaneous 95% upper bound on the largest relative bias; the variance the median total
    variance. A cross marks a bias detected by the Holm-corrected test of :mod:`varbench.reports.verdict`; a circle,
    none detected. Each point carries its estimator's short label (:func:`~._families.short_label`, the key to
    the abbreviations under the panels), placed where it covers the fewest other labels and points.

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: block names in the order of the panels (then any other block in order of appearance).
      estimator_order: per block, its estimator labels in order (see :func:`varbench.reports.schema.summary`).
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).
      width: the figure's width in inches (default :data:`BIAS_WIDTH`); panels are at least :data:`BIAS_PANEL`
        wide, so a narrow figure has one column.
      blocks: the blocks drawn (default: every block of the table).
      page: appended to the title (``page 1 of 2``).

    Returns:
      The figure.
    """
    table = schema.summary(frame[frame["method"] == "mc"], block_order, estimator_order)
    return _bias_figure(table, palette, width or BIAS_WIDTH, blocks, page)


def _bias_figure(table: pd.DataFrame, palette: Palette | None, width: float, blocks: Sequence[str] | None,
                 page: str) -> plt.Figure:
    """:func:`bias_vs_variance` of the summary ``table`` (computed once for every page: it takes seconds)."""
    drawn = [b for b in dict.fromkeys(table["block"]) if blocks is None or b in blocks]
    colors = palette or estimator_palette(list(table["estimator"]))
    ncols, height = bias_grid(len(drawn), width)
    fig, axes = plt.subplots(-(-len(drawn) // ncols), ncols, figsize=(width, height * -(-len(drawn) // ncols)),
                             squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    for ax, block in zip(axes, drawn):
        _bias_panel(ax, block, table[table["block"] == block], colors)
    keys = [Line2D([], [], ls="none", marker="X", ms=7, color="0.35", mec="0.3", label="bias detected (Holm)"),
            Line2D([], [], ls="none", marker="o", ms=6, color="0.35", mec="0.3", label="none detected")]
    return framed(fig, BIAS_TITLE + (f", {page}" if page else ""), keys,
                  list(table[table["block"].isin(drawn)]["estimator"]))


def bias_vs_variance_pages(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                           estimator_order: Mapping[str, Sequence[str]] | None = None,
                           palette: Palette | None = None, width: float | None = None) -> list[plt.Figure]:
    """:func:`bias_vs_variance` cut into pages of at most :data:`BIAS_MAX_HEIGHT` inches of panels.

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: as for :func:`bias_vs_variance`.
      estimator_order: as for :func:`bias_vs_variance`.
      palette: as for :func:`bias_vs_variance`.
      width: as for :func:`bias_vs_variance`.

    Returns:
      The figures, one per page (none without a Monte Carlo block).
    """
    table = schema.summary(frame[frame["method"] == "mc"], block_order, estimator_order)
    blocks = list(dict.fromkeys(table["block"]))
    if not blocks:
        return []
    pages = bias_pages(blocks, width or BIAS_WIDTH)
    return [_bias_figure(table, palette, width or BIAS_WIDTH, names,
                         f"page {k + 1} of {len(pages)}" if len(pages) > 1 else "") for k, names in enumerate(pages)]

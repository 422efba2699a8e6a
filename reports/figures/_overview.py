"""Figures across the blocks of a report: bias against variance, and variance per unit of work.

Each block gets its own axes: the variances of different problems are not comparable, and one shared log axis
squeezes a block's estimators together.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from varbench.reports import schema
from varbench.reports.figures._axes import estimator_legend, panel_grid, plain_log_ticks
from varbench.reports.figures._style import Palette, estimator_palette

#: The two work-normalized measures: column and axis label.
WORK_MEASURES = (("var_x_seconds", "variance × seconds per estimate (s)"),
                 ("var_x_evaluations", "variance × cost evaluations per estimate"))


def _bias_panel(ax: plt.Axes, block: str, table: pd.DataFrame, colors: Palette) -> None:
    """One block of :func:`bias_vs_variance`: its estimators' points, or a note when there is no bias bound."""
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
                   marker="X" if detected else "o", s=55 if detected else 35, edgecolor="white", lw=0.5,
                   label=row["estimator"], zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("median total variance", fontsize=8)
    ax.set_ylabel("rel. bias, 95% upper bound", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.margins(0.15)
    plain_log_ticks(ax)


def bias_vs_variance(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                     estimator_order: Mapping[str, Sequence[str]] | None = None,
                     palette: Palette | None = None) -> plt.Figure:
    """Per Monte Carlo block, one point per estimator: its largest relative bias against its total variance.

    The bias is the simultaneous 95% upper bound on the largest relative bias; the variance the median total
    variance. A cross marks a bias detected by the Holm-corrected test of :mod:`varbench.reports.verdict`; a circle,
    none detected.

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: block names in the order of the panels (then any other block in order of appearance).
      estimator_order: per block, its estimator labels in order (see :func:`varbench.reports.schema.summary`).
      palette: a colour per estimator label (default: :func:`estimator_palette` of the frame's labels).

    Returns:
      The figure.
    """
    table = schema.summary(frame[frame["method"] == "mc"], block_order, estimator_order)
    blocks = list(dict.fromkeys(table["block"]))
    colors = palette or estimator_palette(list(table["estimator"]))
    fig, axes = panel_grid(len(blocks), 3.4, 2.7)
    for ax, block in zip(axes, blocks):
        _bias_panel(ax, block, table[table["block"] == block], colors)
    estimator_legend(fig, axes, fontsize=7)
    fig.suptitle("Bias vs variance per block (× bias detected, Holm-corrected; ○ none detected)", fontsize=10)
    fig.tight_layout()
    return fig


def _geometric_mean(values: pd.Series) -> float:
    return float(np.exp(np.mean(np.log(values))))


def work_table(frame: pd.DataFrame, block_order: Sequence[str] | None = None) -> pd.DataFrame:
    """The table of :func:`work_normalized`.

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: block names in order (then any other block in order of appearance).

    Returns:
      Per block × ``estimator_label``: geometric means over the block's grid points of the ``total_variance``,
      ``var_x_seconds`` and ``var_x_evaluations``, the ``evaluations`` per estimate and the median
      ``estimates_per_second``; within a block, from least to most work-normalized variance.
    """
    per = schema.measurements(frame)
    per = per[per["method"] == "mc"].drop_duplicates(["cell", "point"]).copy()
    per = per[per["total_variance"] > 0]
    per["seconds_per_estimate"] = 1.0 / per["estimates_per_second"]
    per["var_x_seconds"] = per["total_variance"] * per["seconds_per_estimate"]
    per["var_x_evaluations"] = per["total_variance"] * per["evaluations_per_estimate"]
    table = per.groupby(["block", "estimator_label"], sort=False).agg(
        total_variance=("total_variance", _geometric_mean), var_x_seconds=("var_x_seconds", _geometric_mean),
        var_x_evaluations=("var_x_evaluations", _geometric_mean), evaluations=("evaluations_per_estimate", "first"),
        estimates_per_second=("estimates_per_second", "median")).reset_index()
    order = {b: i for i, b in enumerate(dict.fromkeys(list(block_order or []) + list(per["block"])))}
    return table.assign(_block=table["block"].map(order)).sort_values(["_block", "var_x_evaluations"]).drop(
        columns="_block").reset_index(drop=True)


def _work_row(axes: Sequence[plt.Axes], block: str, table: pd.DataFrame, colors: Palette, last: bool) -> None:
    """One block's row of :func:`work_normalized` (``last``: the bottom row, which labels the x axes)."""
    # Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    for j, (column, xlabel) in enumerate(WORK_MEASURES):
        ax = axes[j]
        ax.scatter(table[column], table["estimator_label"], c=[colors[e] for e in table["estimator_label"]], s=45,
                   zorder=3)
        ax.set_xscale("log")
        plain_log_ticks(ax)
        ax.margins(x=0.15, y=0.5 / max(len(table), 1))
        ax.invert_yaxis()
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="y", color="0.9")
        ax.set_title(block, fontsize=8, loc="left")
        if j == 1:
            ax.set_yticklabels([])
        if last:
            ax.set_xlabel(xlabel)


def work_normalized(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                    palette: Palette | None = None) -> tuple[plt.Figure, pd.DataFrame]:
    """Variance × seconds per estimate and variance × cost evaluations, per block × estimator.

    Each value is the geometric mean over the block's grid points of ``total_variance × cost``, so estimators are
    compared per unit of compute rather than per estimate. Each block gets its own row of axes (its own scale).

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: block names in the order of the rows (then any other block in order of appearance); within a
        block, estimators go from least to most work-normalized variance.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the table's labels).

    Returns:
      The figure, and its table (:func:`work_table`, with the column ``estimator`` for the label).
    """
    table = work_table(frame, block_order)
    blocks = list(dict.fromkeys(table["block"]))
    colors = palette or estimator_palette(list(table["estimator_label"]))
    sizes = [int((table["block"] == b).sum()) for b in blocks]
    fig, axes = plt.subplots(len(blocks), 2, figsize=(10.0, 0.3 * sum(sizes) + 0.55 * len(blocks) + 0.8),
                             squeeze=False, gridspec_kw=dict(height_ratios=[n + 1.2 for n in sizes]))
    for i, block in enumerate(blocks):
        _work_row(axes[i], block, table[table["block"] == block], colors, last=i == len(blocks) - 1)
    fig.suptitle("Work-normalized variance (geometric mean over grid points; lower is better; one axis per block)",
                 fontsize=10)
    fig.tight_layout()
    return fig, table.rename(columns={"estimator_label": "estimator"})

"""Figures across the blocks of a report: bias against variance, and variance per unit of work.

Each block gets its own axes: the variances of different problems are not comparable, and one shared log axis
squeezes a block's estimators together.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
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


#: Sizes (inches) of :func:`work_normalized`: the report saves at 100 dpi, so a page stays under ~2000 px however
#: many blocks and estimators the suite has; an estimator's row fits its 9 pt label.
WORK_WIDTH = 10.0
WORK_ROW = 0.2
WORK_BLOCK = 0.75  # a block's title and tick labels
WORK_FRAME = 1.1   # the figure's title and the x labels of the bottom row
WORK_MAX_HEIGHT = 19.0
#: Font sizes (points) of :func:`work_normalized`: none below 9 at the saved size.
WORK_FONT = dict(ticks=9, block=10, label=10, title=11)


def _work_row(axes: Sequence[plt.Axes], block: str, table: pd.DataFrame, colors: Palette, last: bool) -> None:
    """One block's row of :func:`work_normalized` (``last``: the bottom row, which labels the x axes)."""
    # Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    for j, (column, xlabel) in enumerate(WORK_MEASURES):
        ax = axes[j]
        # a grey rim: the lightest shades of an estimator's variants would vanish on the white axes
        ax.scatter(table[column], table["estimator_label"], c=[colors[e] for e in table["estimator_label"]], s=45,
                   edgecolors="0.35", linewidths=0.5, zorder=3)
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.5 / max(len(table), 1))
        plain_log_ticks(ax)
        lo, hi = ax.get_xlim()
        if 1.0 <= np.log10(hi / lo) < 2.5:  # 1-3 × 10^k: 1-2-5 labels (5e-05 1e-04 2e-04 5e-04) collide at 9 pt
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 3.0), numticks=10))
        ax.invert_yaxis()
        ax.tick_params(labelsize=WORK_FONT["ticks"])
        ax.grid(True, axis="y", color="0.9")
        ax.set_title(block, fontsize=WORK_FONT["block"], loc="left")
        if j == 1:
            ax.set_yticklabels([])
        if last:
            ax.set_xlabel(xlabel, fontsize=WORK_FONT["label"])


def work_height(rows: Sequence[int]) -> float:
    """The height (inches) of :func:`work_normalized` for blocks with these numbers of estimators.

    Args:
      rows: the number of estimators of each block drawn.

    Returns:
      The height: a fixed frame, a block's title and ticks, and a row per estimator.
    """
    return WORK_FRAME + sum(WORK_BLOCK + WORK_ROW * n for n in rows)


def work_normalized(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                    palette: Palette | None = None, blocks: Sequence[str] | None = None,
                    page: str = "") -> tuple[plt.Figure, pd.DataFrame]:
    """Variance × seconds per estimate and variance × cost evaluations, per block × estimator.

    Each value is the geometric mean over the block's grid points of ``total_variance × cost``, so estimators are
    compared per unit of compute rather than per estimate. Each block gets its own row of axes (its own scale). The
    figure is :data:`WORK_WIDTH` wide and :func:`work_height` tall; :func:`work_normalized_pages` cuts a report's
    blocks into figures of readable height.

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: block names in the order of the rows (then any other block in order of appearance); within a
        block, estimators go from least to most work-normalized variance.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the table's labels).
      blocks: the blocks drawn (default: every block of the table).
      page: appended to the title (``page 1 of 2``).

    Returns:
      The figure, and its table (:func:`work_table`, with the column ``estimator`` for the label; every block).
    """
    table = work_table(frame, block_order)
    drawn = [b for b in dict.fromkeys(table["block"]) if blocks is None or b in blocks]
    colors = palette or estimator_palette(list(table["estimator_label"]))
    sizes = [int((table["block"] == b).sum()) for b in drawn]
    height = work_height(sizes)
    fig, axes = plt.subplots(len(drawn), 2, figsize=(WORK_WIDTH, height), squeeze=False,
                             gridspec_kw=dict(height_ratios=[n + 1 for n in sizes]))
    for i, block in enumerate(drawn):
        _work_row(axes[i], block, table[table["block"] == block], colors, last=i == len(drawn) - 1)
    title = "Work-normalized variance (geometric mean over grid points; lower is better; one axis per block)"
    fig.suptitle(title + (f", {page}" if page else ""), fontsize=WORK_FONT["title"], y=1 - 0.08 / height, va="top")
    # the title gets a band of its own above the panels (it was drawn over the first block's title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / height))
    return fig, table.rename(columns={"estimator_label": "estimator"})


def work_pages(rows: Sequence[int], max_height: float = WORK_MAX_HEIGHT) -> list[list[int]]:
    """Blocks cut into pages that are at most ``max_height`` tall (a block is never cut; one taller than a page is
    a page of its own).

    Args:
      rows: the number of estimators of each block, in order.
      max_height: the tallest page (inches, :func:`work_height`).

    Returns:
      The indices of the blocks on each page, in order.
    """
    pages: list[list[int]] = []
    for i, n in enumerate(rows):
        if pages and work_height([rows[j] for j in pages[-1]] + [n]) <= max_height:
            pages[-1].append(i)
        else:
            pages.append([i])
    return pages


def work_normalized_pages(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                          palette: Palette | None = None) -> tuple[list[plt.Figure], pd.DataFrame]:
    """:func:`work_normalized` cut into pages of at most :data:`WORK_MAX_HEIGHT` (about 1900 px at 100 dpi).

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: as for :func:`work_normalized`.
      palette: as for :func:`work_normalized`.

    Returns:
      The figures, one per page, and the table of every block.
    """
    table = work_table(frame, block_order)
    blocks = list(dict.fromkeys(table["block"]))
    pages = work_pages([int((table["block"] == b).sum()) for b in blocks])
    figs = [work_normalized(frame, block_order, palette, blocks=[blocks[i] for i in page],
                            page=f"page {k + 1} of {len(pages)}" if len(pages) > 1 else "")[0]
            for k, page in enumerate(pages)]
    return figs, table.rename(columns={"estimator_label": "estimator"})

"""The figure of variance per unit of work across the blocks of a report: a row of two panels per block.

Each block gets its own axes: the variances of different problems are not comparable, and one shared log axis
squeezes a block's estimators together.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from varbench.reports.figures._axes import plain_log_ticks, wrap
from varbench.reports.figures._pages import (  # noqa: F401 - the figure's sizes and pages, under its names too
    WORK_FONT, WORK_MAX_HEIGHT, WORK_TITLE, WORK_WIDTH, WorkSize, work_height, work_pages, work_table)
from varbench.reports.figures._families import short_label
from varbench.reports.figures._labels import finish
from varbench.reports.figures._style import Palette, estimator_palette

#: The two work-normalized measures: column and axis label.
WORK_MEASURES = (("var_x_seconds", "variance × seconds per estimate (s)"),
                 ("var_x_evaluations", "variance × cost evaluations per estimate"))


def _work_row(axes: Sequence[plt.Axes], block: str, table: pd.DataFrame, colors: Palette, last: bool,
              size: WorkSize) -> None:
    """One block's row of :func:`work_normalized` (``last``: the bottom row, which labels the x axes)."""
    # Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    rows = np.arange(len(table))
    names = [short_label(e) if size.short else e for e in table["estimator_label"]]
    for j, (column, xlabel) in enumerate(WORK_MEASURES):
        ax = axes[j]
        # a grey rim: the lightest shades of an estimator's variants would vanish on the white axes
        ax.scatter(table[column], rows, c=[colors[e] for e in table["estimator_label"]], s=45 if not size.short else 25,
                   edgecolors="0.35", linewidths=0.5, zorder=3)
        ax.set_yticks(rows, labels=names if j == 0 or size.stacked else [])
        ax.set_xscale("log")
        ax.margins(x=0.15, y=0.5 / max(len(table), 1))
        plain_log_ticks(ax)
        lo, hi = ax.get_xlim()
        if 1.0 <= np.log10(hi / lo) < 2.5:  # 1-3 × 10^k: 1-2-5 labels (5e-05 1e-04 2e-04 5e-04) collide at 9 pt
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 3.0), numticks=10))
        ax.invert_yaxis()
        ax.tick_params(labelsize=size.font["ticks"])
        ax.grid(True, axis="y", color="0.9")
        if j == 0 or not size.stacked:
            ax.set_title(block, fontsize=size.font["block"], loc="left")
        if last or size.stacked:
            ax.set_xlabel(xlabel, fontsize=size.font["label"])


def work_normalized(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                    palette: Palette | None = None, blocks: Sequence[str] | None = None,
                    page: str = "", width: float | None = None) -> tuple[plt.Figure, pd.DataFrame]:
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
      width: the figure's width in inches (default :data:`WORK_WIDTH`; narrower: :meth:`WorkSize.at`).

    Returns:
      The figure, and its table (:func:`work_table`, with the column ``estimator`` for the label; every block).
    """
    table = work_table(frame, block_order)
    drawn = [b for b in dict.fromkeys(table["block"]) if blocks is None or b in blocks]
    colors = palette or estimator_palette(list(table["estimator_label"]))
    sizes = [int((table["block"] == b).sum()) for b in drawn]
    size = WorkSize.at(width)
    height = work_height(sizes, size)
    stack = 2 if size.stacked else 1
    fig, axes = plt.subplots(len(drawn) * stack, 3 - stack, figsize=(size.width, height), squeeze=False,
                             gridspec_kw=dict(height_ratios=[n + 1 for n in sizes for _ in range(stack)]))
    pairs = axes.reshape(len(drawn), 2)  # a block's two panels, side by side or one above the other
    for i, block in enumerate(drawn):
        _work_row(pairs[i], block, table[table["block"] == block], colors, i == len(drawn) - 1, size)
    title = wrap(WORK_TITLE + (f", {page}" if page else ""), size.width, size.font["title"])
    fig.suptitle(title, fontsize=size.font["title"], y=1 - 0.08 / height, va="top")
    finish(fig)  # tight_layout keeps a band for the title above the panels
    return fig, table.rename(columns={"estimator_label": "estimator"})


def work_normalized_pages(frame: pd.DataFrame, block_order: Sequence[str] | None = None,
                          palette: Palette | None = None,
                          width: float | None = None) -> tuple[list[plt.Figure], pd.DataFrame]:
    """:func:`work_normalized` cut into pages of at most :data:`WORK_MAX_HEIGHT` (about 1900 px at 100 dpi).

    Args:
      frame: tidy measurement rows (exact-mode rows are left out).
      block_order: as for :func:`work_normalized`.
      palette: as for :func:`work_normalized`.
      width: as for :func:`work_normalized`.

    Returns:
      The figures, one per page, and the table of every block.
    """
    table = work_table(frame, block_order)
    blocks = list(dict.fromkeys(table["block"]))
    pages = work_pages([int((table["block"] == b).sum()) for b in blocks], size=WorkSize.at(width))
    figs = [work_normalized(frame, block_order, palette, blocks=[blocks[i] for i in page],
                            page=f"page {k + 1} of {len(pages)}" if len(pages) > 1 else "", width=width)[0]
            for k, page in enumerate(pages)]
    return figs, table.rename(columns={"estimator_label": "estimator"})

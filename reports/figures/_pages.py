"""The sizes and pages of the report's cross-block figures, and text wrapped to a width: what a report computes
before its figures are drawn, so no pyplot here (a report's own process never imports it when workers draw).
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from varbench.reports import schema

def wrap(text: str, width: float, fontsize: float) -> str:
    """``text`` broken into lines that fit ``width`` inches at ``fontsize`` points (an average glyph is a little
    over half as wide as high).

    Args:
      text: the text; its own line breaks are kept.
      width: the width (inches).
      fontsize: in points.

    Returns:
      The wrapped text.
    """
    chars = max(20, int(width * 72 / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


# -- bias vs variance --

#: The narrowest panel (inches) of :func:`bias_vs_variance`: its points are labelled, so panels stay wide.
BIAS_PANEL = 4.5
#: The default width (inches) of :func:`bias_vs_variance`: two panels a row.
BIAS_WIDTH = 11.7
#: The tallest page (inches) of :func:`bias_vs_variance_pages`.
BIAS_MAX_HEIGHT = 19.0


def bias_grid(n: int, width: float) -> tuple[int, float]:
    """Columns and panel height (inches) of :func:`bias_vs_variance` for ``n`` panels ``width`` inches wide."""
    ncols = max(1, min(n, int(width // BIAS_PANEL)))
    return ncols, float(np.clip(0.62 * width / ncols, 2.4, 4.0))


def bias_pages(blocks: Sequence[str], width: float) -> list[list[str]]:
    """``blocks`` cut into the pages of :func:`~._overview.bias_vs_variance_pages`, each at most
    :data:`BIAS_MAX_HEIGHT` inches of panels.

    Args:
      blocks: the blocks with a Monte Carlo row, in order.
      width: the figure's width (inches).

    Returns:
      The blocks of each page, in order (none without blocks).
    """
    if not blocks:
        return []
    ncols, height = bias_grid(len(blocks), width)
    count = -(-len(blocks) // (ncols * max(1, int(BIAS_MAX_HEIGHT // height))))
    per_page = ncols * -(-len(blocks) // (ncols * count))  # balanced: 11 blocks are 6 + 5, not 10 + 1
    return [list(blocks[i:i + per_page]) for i in range(0, len(blocks), per_page)]


# -- work-normalized variance --

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
#: The work figure's title.
WORK_TITLE = "Work-normalized variance (geometric mean over grid points; lower is better; one axis per block)"


#: A work figure narrower than this (inches) stacks a block's two panels.
WORK_STACK_BELOW = 6.0


class WorkSize(NamedTuple):
    """The sizes of :func:`work_normalized` at one width (inches; fonts in points): a figure narrower than
    :data:`WORK_WIDTH` gets 7 to 8.5 pt text, shorter rows and short estimator labels; one narrower than
    :data:`WORK_STACK_BELOW` has a block's two panels one above the other (``stacked``), each with its x label."""

    width: float = WORK_WIDTH
    row: float = WORK_ROW
    block: float = WORK_BLOCK
    frame: float = WORK_FRAME
    font: dict = WORK_FONT
    short: bool = False
    stacked: bool = False

    @classmethod
    def at(cls, width: float | None) -> WorkSize:
        """The sizes at ``width`` inches (None: :data:`WORK_WIDTH`).

        Args:
          width: the figure's width.

        Returns:
          The sizes.
        """
        if width is None or width >= WORK_WIDTH:
            return cls(width or WORK_WIDTH)
        font = dict(ticks=7, block=8, label=7.5, title=8.5)
        title = wrap(WORK_TITLE + ", page 1 of 2", width, font["title"]).count("\n") + 1
        stacked = width < WORK_STACK_BELOW
        return cls(width, row=0.16, block=0.85 if stacked else 0.6, frame=0.75 + title * font["title"] * 1.35 / 72,
                   font=font, short=True, stacked=stacked)


def work_height(rows: Sequence[int], size: WorkSize = WorkSize()) -> float:
    """The height (inches) of :func:`work_normalized` for blocks with these numbers of estimators.

    Args:
      rows: the number of estimators of each block drawn.
      size: the sizes at the figure's width.

    Returns:
      The height: a fixed frame, a block's title and ticks, and a row per estimator.
    """
    return size.frame + (2 if size.stacked else 1) * sum(size.block + size.row * n for n in rows)


def work_pages(rows: Sequence[int], max_height: float = WORK_MAX_HEIGHT,
               size: WorkSize = WorkSize()) -> list[list[int]]:
    """Blocks cut into pages that are at most ``max_height`` tall (a block is never cut; one taller than a page is
    a page of its own).

    Args:
      rows: the number of estimators of each block, in order.
      max_height: the tallest page (inches, :func:`work_height`).
      size: the sizes at the figure's width.

    Returns:
      The indices of the blocks on each page, in order.
    """
    pages: list[list[int]] = []
    for i, n in enumerate(rows):
        if pages and work_height([rows[j] for j in pages[-1]] + [n], size) <= max_height:
            pages[-1].append(i)
        else:
            pages.append([i])
    return pages

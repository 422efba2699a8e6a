"""A report's figures as jobs: a drawing function (module level, so that a worker process imports it by name) and
exactly the data it needs, so that a figure's hash changes only with what it shows (:mod:`._drawing`).

Making the jobs imports no pyplot (the figures load on first use): the report's own process, whose workers draw,
never imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import pandas as pd
from varbench.reports import figures, schema
from varbench.reports._contents import FigureKind, FigureSpec
from varbench.reports._drawing import FigureJob
from varbench.reports.figures import _pages

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def block_figure(spec: FigureSpec, title: str, frame: pd.DataFrame, palette: figures.Palette,
                 width: float | None) -> plt.Figure:
    """The figure that a block's ``figure`` table asks for (``spec.kind`` set), of ``frame`` (its rows and those
    of the block it overlays)."""
    if spec.kind is FigureKind.VARIANCE_VS:
        col = schema.grid_column(spec.col) if spec.col else None
        return figures.variance_vs(frame, x=schema.grid_column(spec.x), col=col, title=title, palette=palette,
                                   width=width)
    if spec.kind is FigureKind.TRACE:
        return figures.trace_log_variance(frame, title=title, palette=palette, width=width)
    if spec.kind is FigureKind.SEQUENTIAL:
        return figures.sequential_panels(frame, title=title, width=width)
    if spec.kind is FigureKind.SERIES:
        return figures.series_vs(frame, x=spec.x, title=title, hue=spec.hue, width=width)
    return figures.model_bias(frame, x=spec.x, line=spec.line, title=title, width=width)


def bias_page(table: pd.DataFrame, palette: figures.Palette, width: float, blocks: list[str],
              page: str) -> plt.Figure:
    """A page of the bias-vs-variance figure: ``blocks`` of the report-wide summary ``table`` (the page's rows)."""
    from varbench.reports.figures import _overview, _style  # noqa: F401 - the style before anything draws
    return _overview._bias_figure(table, palette, width, blocks, page)


def work_page(frame: pd.DataFrame, block_order: list[str], palette: figures.Palette, width: float | None,
              blocks: list[str], page: str) -> plt.Figure:
    """A page of the work-normalized figure: ``blocks`` of the Monte Carlo rows ``frame`` (the page's rows; each
    block's values are its own, so the other blocks' rows are not needed)."""
    return figures.work_normalized(frame, block_order, palette, blocks=blocks, page=page, width=width)[0]


def bias_pages(table: pd.DataFrame, palette: figures.Palette, width: float | None) -> list[FigureJob]:
    """The jobs of the bias-vs-variance pages (as :func:`figures.bias_vs_variance_pages` cuts them) of the
    report-wide summary ``table`` of the Monte Carlo rows."""
    width = width or _pages.BIAS_WIDTH
    pages = _pages.bias_pages(list(dict.fromkeys(table["block"])), width)
    jobs = []
    for k, names in enumerate(pages):
        rows = table[table["block"].isin(names)].reset_index(drop=True)
        jobs.append(FigureJob("bias_vs_variance" + (f"_{k + 1}" if k else ""), bias_page, dict(
            table=rows, palette=palette_of(palette, rows["estimator"]), width=width, blocks=names,
            page=f"page {k + 1} of {len(pages)}" if len(pages) > 1 else "")))
    return jobs


def work_pages(frame: pd.DataFrame, block_order: list[str], palette: figures.Palette,
               width: float | None) -> tuple[list[FigureJob], pd.DataFrame]:
    """The jobs of the work-normalized pages (as :func:`figures.work_normalized_pages` cuts them) of the
    measurement rows ``frame``, and the figure's table (every block)."""
    frame = frame[frame["method"] == "mc"]
    table = _pages.work_table(frame, block_order)
    blocks = list(dict.fromkeys(table["block"]))
    pages = _pages.work_pages([int((table["block"] == b).sum()) for b in blocks], size=_pages.WorkSize.at(width))
    jobs = []
    for k, page in enumerate(pages):
        names = [blocks[i] for i in page]
        rows = frame[frame["block"].isin(names)].reset_index(drop=True)
        jobs.append(FigureJob("work_normalized" + (f"_{k + 1}" if k else ""), work_page, dict(
            frame=rows, block_order=list(block_order), palette=palette_of(palette, rows["estimator_label"]),
            width=width, blocks=names, page=f"page {k + 1} of {len(pages)}" if len(pages) > 1 else "")))
    return jobs, table.rename(columns={"estimator_label": "estimator"})


def palette_of(palette: figures.Palette, labels: Sequence[str] | pd.Series) -> figures.Palette:
    """The palette's colours of ``labels`` only: a figure's hash then changes with its own estimators' colours,
    not with an estimator added to another block."""
    present = set(map(str, labels))
    return {label: color for label, color in palette.items() if label in present}


def papers_figure(frame: pd.DataFrame, title: str, palette: figures.Palette, width: float | None,
                  decay: float | None) -> plt.Figure:
    """The papers' figure of a trace block (:func:`figures.trace_papers`) of its rows ``frame``."""
    return figures.trace_papers(frame, title=title, palette=palette, width=width, decay=decay)

"""``varbench report``: figures, a self-contained HTML page and a Markdown page from a result store.

A section per block of the store's config (its figure, its table, its note; a trace block also the papers' figure
and, in a section under it, its table at fixed steps), then the cross-block figures, then the cells that failed or
were skipped. Each figure is a PNG (which the pages embed), with a PDF and an SVG beside it on
request; drawn at a given width (a paper's column), its text stays at 7 pt or more.

The figures are drawn in worker processes (:mod:`varbench.reports._drawing`), which a fresh report starts before it
loads the store, and which draw the block figures while the report computes its summary; this process imports no
plotting library unless it draws itself. A report into a folder that holds an earlier one draws again only the
figures whose data or options changed; the pages are always written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import pandas as pd
from varbench.reports import _drawing, _jobs, _workers, confirmation, schema, store, trace_table, verdict
from varbench.reports import export as export_tables
from varbench.reports._contents import Contents, FigureKind, ReportBlock, Section
# DPI, PRINT_DPI, SIDECAR: kept under the page's names too (callers read page.DPI)
from varbench.reports._drawing import DPI, PRINT_DPI, SIDECAR, Export, FigureJob  # noqa: F401
from varbench.reports._page_text import write_html, write_markdown
from varbench.reports.figures._colors import Palette, estimator_palette
from varbench.reports.groups import group_table

#: Saves a drawn figure (:func:`_drawing.save`); a test may put another in its place to look at each figure, which
#: then draws every figure in this process.
_save = _drawing.save
#: The formats a report saves its figures in.
FIGURE_FORMATS = ("png", "pdf", "svg")
#: The narrowest and widest figures (inches) a report draws.
WIDTH_RANGE = (2.5, 20.0)


def _block_table(summary: pd.DataFrame, block: str) -> pd.DataFrame:
    """The block's rows of the report's :func:`schema.summary` (the same columns as ``varbench results``; its
    verdicts corrected across the whole report, so computed once for all blocks), without the block column and
    without columns that no row of the block has (exact blocks have no Monte Carlo-only columns); the bias verdict
    is spelled out (``yes (p = 3e-12)``)."""
    table = summary[summary["block"] == block].drop(columns="block").reset_index(drop=True)
    table["bias_detected"] = [verdict.describe(r) for _, r in table.iterrows()]
    table = table.drop(columns="p_value")  # spelled out in bias_detected
    return table.dropna(axis=1, how="all")


def _trace_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Log-variance of each measured estimator at the first and last checkpoint, per driver; with parameter groups,
    also each group's variance at the last checkpoint."""
    groups = schema.trace_groups(frame)
    rows = []
    for (driver, label), d in frame.groupby(["driver", "estimator_label"], sort=False):
        columns = ["log_variance"] + [schema.GROUP_VARIANCE_PREFIX + g for g in groups]
        d = d.groupby("step")[columns].mean()
        rows.append(dict(driver=driver, estimator=label, first_step=int(d.index.min()),
                         log_variance_first=d["log_variance"].iloc[0], last_step=int(d.index.max()),
                         log_variance_last=d["log_variance"].iloc[-1],
                         **{f"{g}_variance_last": d[schema.GROUP_VARIANCE_PREFIX + g].iloc[-1] for g in groups}))
    return pd.DataFrame(rows)


def figure_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """The figure formats of a report, from ``"png,pdf"`` or a list; PNG first and always (the pages embed it).

    Args:
      text: formats separated by commas, or a sequence of them; each one of :data:`FIGURE_FORMATS`.

    Returns:
      The formats, PNG first, each once.

    Raises:
      StoreError: one line naming the valid formats, for an unknown or empty one.
    """
    given = [f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text)]
    wrong = [f for f in given if f not in FIGURE_FORMATS]
    if wrong or not given:
        raise store.StoreError(f"figure format {', '.join(map(repr, wrong or ['']))} is not one of "
                               f"{', '.join(FIGURE_FORMATS)} (several separated by commas, e.g. png,pdf,svg)")
    return tuple(dict.fromkeys(["png"] + given))


def figure_width(value: float | str | None) -> float | None:
    """A figure width in inches, checked.

    Args:
      value: inches (a number or its text), or None for each figure's own width.

    Returns:
      The width, or None.

    Raises:
      StoreError: one line naming the valid range, for anything else.
    """
    if value is None:
        return None
    try:
        width = float(value) if not isinstance(value, str) or value.isascii() else float("nan")
    except ValueError:
        width = float("nan")
    if not WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]:
        low, high = WIDTH_RANGE
        raise store.StoreError(f"figure width must be a number of inches from {low:g} to {high:g} (a paper column is "
                               f"about 3.3, a full page width about 6.8); got {value!r}")
    return width


def _block_job(block: ReportBlock, sub: pd.DataFrame, everything: pd.DataFrame, palette: Palette,
               width: float | None) -> FigureJob | None:
    """The job of the figure that the block's ``figure`` table asks for (None: none), of its rows ``sub``,
    ``width`` inches wide (None: the figure's own width)."""
    spec = block.figure
    if spec.kind is None:
        return None
    if spec.overlay:
        # Draw another block's rows (typically its exact-mode twin) on the same axes.
        sub = pd.concat([sub, everything[everything["block"] == spec.overlay]], ignore_index=True)
    labels = sub["estimator_label"] if "estimator_label" in sub else palette
    return FigureJob(block.name, _jobs.block_figure, dict(spec=spec, title=block.title, frame=sub.reset_index(
        drop=True), palette=_jobs.palette_of(palette, labels), width=width))


def _figure_jobs(block: ReportBlock, frame: pd.DataFrame, palette: Palette,
                 export: Export) -> list[FigureJob]:
    """The figures of one block: the one its ``figure`` table asks for and, for a trace block with the papers'
    fields, the papers' figure beside it (none for a block without rows)."""
    sub = frame[frame["block"] == block.name] if not frame.empty else frame
    if sub.empty:
        return []
    job = _block_job(block, sub, frame, palette, export.width)
    jobs = [job] if job is not None else []
    if block.trace and block.figure.kind is FigureKind.TRACE and trace_table.has_papers_figure(sub):
        # beside varbench's figure (every estimator at the driver's params), the papers' (each driver's own run)
        jobs.append(FigureJob(f"{block.name}_papers", _jobs.papers_figure, dict(
            frame=sub.reset_index(drop=True), title=block.title,
            palette=_jobs.palette_of(palette, sub["estimator_label"]), width=export.width, decay=block.ema_decay)))
    return jobs


def _block_section(block: ReportBlock, frame: pd.DataFrame, summary: pd.DataFrame, jobs: list[FigureJob],
                   failed: list[str]) -> Section | None:
    """The section of one block: its figures (``jobs``), its table and its note, which names the block's
    ``failed`` cells. None for a block without rows or failures (nothing to show)."""
    sub = frame[frame["block"] == block.name] if not frame.empty else frame
    note = block.figure.note
    if failed:
        note = (note + " " if note else "") + "FAILED cells (not measured; listed under 'Cells that failed'): " + \
            "; ".join(failed) + "."
    if sub.empty:
        return Section(block.title, block.name, images=(), table=None, note=note) if failed else None
    images = tuple(job.file for job in jobs)
    if block.trace:
        table = _trace_table(sub)
    else:
        table = _block_table(summary, block.name)
    # variance per parameter group (encoder/decoder); trace tables carry it already (no coordinates)
    if block.figure.groups and not block.trace:
        groups = group_table(sub)
        if not groups.empty:
            table = table.merge(groups.drop(columns="block"), on="estimator", how="left")
    return Section(block.title, block.name, images=images, table=schema.format_table(table), note=note)


def _steps_section(block: ReportBlock, frame: pd.DataFrame) -> Section | None:
    """The section under a trace block: its table at fixed steps (:mod:`trace_table`; the same as ``varbench
    results --format markdown``), its caption as the note. None for another block or one without rows."""
    rows = trace_table.trace_rows(frame[frame["block"] == block.name]) if block.trace and not frame.empty else None
    if rows is None or rows.empty:
        return None
    table = trace_table.paper_table(block.name, rows.reset_index(drop=True), decay=block.ema_decay)
    return Section(f"{block.title}: at fixed steps", f"{block.name}_steps", images=(),
                   table=export_tables.text_frame(table), note=table.caption)


def _cross_block_sections(frame: pd.DataFrame, contents: Contents, jobs: list[FigureJob], palette: Palette,
                          export: Export, summary: pd.DataFrame) -> list[Section]:
    """Bias vs variance and the work-normalized variance over every Monte Carlo block (none without one); their
    figures' jobs are appended to ``jobs``, a job per page. ``summary`` is the report's :func:`schema.summary`."""
    # Cross-block figures use the per-coordinate measurement rows (trace rows carry no coordinates).
    frame = schema.measurements(frame)
    if frame.empty or not (frame["method"] == "mc").any():
        return []
    block_order = [b.name for b in contents.blocks]
    # The bias figure's table is the summary of the Monte Carlo rows: when no block mixes methods, that is the
    # report's summary's Monte Carlo rows (the Holm correction is over those rows only), not computed again (the
    # summary is the slowest part of a report that draws no figure). A page gets its blocks' rows.
    if (frame.groupby("block")["method"].nunique() <= 1).all():
        mc = summary[summary["method"] == "mc"].reset_index(drop=True)
    else:
        mc = schema.summary(frame[frame["method"] == "mc"], block_order, contents.estimator_order)
    pages = _jobs.bias_pages(mc, palette, export.width)
    jobs += pages
    names = tuple(job.file for job in pages)
    bias = Section("Bias vs variance", "bias_vs_variance", images=names, table=None,
                   note="One point per estimator and Monte Carlo block, labelled with its estimator: the "
                        "simultaneous 95% upper bound on its largest relative bias against its median total variance; "
                        "a cross marks a bias detected by the Holm-corrected test. " + verdict.RULE)
    # a page per group of blocks: one figure of every estimator of every block would be too tall to read
    pages, table = _jobs.work_pages(frame, block_order, palette, export.width)
    jobs += pages
    names = tuple(job.file for job in pages)
    work = Section("Work-normalized variance", "work_normalized", images=names, table=schema.format_table(table),
                   note="Variance of one estimate times its cost (seconds or cost evaluations); the geometric mean "
                        "over each block's grid points. Each block has its own axis: compare estimators within a "
                        "block.")
    return [bias, work]


def write_report(root: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 formats: str | Sequence[str] = ("png",), width: float | None = None,
                 workers: int | None = None, started: _workers.EarlyPool | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and the figures for the store at ``root`` into ``out``.

    The HTML embeds its figures (base64 PNG), so it is a single self-contained file. A report that fails leaves no
    folder of its own behind.

    Args:
      root: the result store (a directory that ``varbench suite`` wrote).
      out: the report's folder (created if missing); default ``root/report``.
      formats: the figures' formats (:data:`FIGURE_FORMATS`), saved next to each other; PNG always.
      width: the figures' width in inches (:data:`WIDTH_RANGE`; a paper column is about 3.3, a page about 6.8),
        their text at least 7 pt and their PNGs at :data:`PRINT_DPI`; None: each figure's own width, at
        :data:`DPI`.
      workers: draw the figures in at most this many worker processes (None: ``os.cpu_count()``; 1: in this
        process). A figure whose data, options and files are unchanged since the last report into ``out`` is not
        drawn again (:data:`SIDECAR` records each figure's hash and drawing time).
      started: worker processes started for this report already (:func:`~._workers.start_workers`; ``varbench
        report`` starts them before it imports the drawing code); closed by this function.

    Returns:
      The HTML page's path.

    Raises:
      StoreError: ``root`` is not a store with the config's blocks, ``out`` cannot be a folder, or a format or the
        width is not valid (checked before anything is created).
    """
    export = Export(figure_formats(formats), figure_width(width))
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    manifest = store.check_store(root, need_blocks=True)  # before anything is created
    if out.exists() and not out.is_dir():
        raise store.StoreError(f"report folder {str(out)!r} is an existing file; give a directory (--out)")
    created = out  # the outermost folder this report creates (None: out exists)
    while not created.parent.exists() and created.parent != created:
        created = created.parent
    created = None if out.exists() else created
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise store.StoreError(f"cannot create the report folder {str(out)!r}: {err.strerror or err}") from None
    # a fresh report draws every figure: its workers start now, beside the loading and the summary
    early = started or (_workers.start_workers(out, _workers.expected_figures(manifest), workers)
                         if _save is _drawing.save else None)
    try:
        drawing = _drawing.Drawing(out, export, workers=workers, saver=None if _save is _drawing.save else _save,
                                   early=early)
        return _write_pages(root, out, Contents.from_manifest(manifest), drawing)
    except BaseException:
        if created is not None:  # a report that failed leaves no half-written folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        if early is not None:
            early.close()


def _write_pages(root: Path, out: Path, contents: Contents, drawing: _drawing.Drawing) -> Path:
    """The sections, their figures (those whose data changed) and the two pages. The block figures go to the
    ``drawing`` before the summary is computed: they do not need it, and early workers draw them meanwhile."""
    frame = store.load(root)
    export = drawing.export
    # one colour per estimator across the whole report, variants shaded in config order
    palette = estimator_palette([e for names in contents.estimator_order.values() for e in names] +
                                        (list(frame["estimator_label"]) if not frame.empty else []))
    block_jobs = {block.name: _figure_jobs(block, frame, palette, export) for block in contents.blocks}
    drawing.submit([job for jobs in block_jobs.values() for job in jobs])
    plain = schema.summary(frame, [b.name for b in contents.blocks], contents.estimator_order)
    summary = confirmation.with_confirmations(plain, confirmation.confirmations(root))
    failed = contents.failures_by_block()
    sections = [s for block in contents.blocks for s in (
        _block_section(block, frame, summary, block_jobs[block.name], failed.get(block.name, [])),
        _steps_section(block, frame)) if s is not None]
    cross: list[FigureJob] = []
    sections += _cross_block_sections(frame, contents, cross, palette, export, plain)
    drawing.submit(cross)
    drawing.finish()
    write_markdown(out / "report.md", sections, contents)
    return write_html(out / "report.html", sections, contents, out)


def figure_timings(out: str | os.PathLike) -> list[tuple[str, float | None, bool]]:
    """The seconds each figure of the report in ``out`` took to draw, slowest first, as its last report recorded.

    Args:
      out: the report's folder.

    Returns:
      ``(PNG file name, seconds or None, drawn by the last report)`` per figure.
    """
    entries = _drawing.read_sidecar(Path(out))
    rows = [(name, e.get("seconds"), bool(e.get("drawn"))) for name, e in entries.items() if isinstance(e, dict)]
    return sorted(rows, key=lambda r: -(r[1] or 0.0))

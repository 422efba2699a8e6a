"""``varbench report``: figures, a self-contained HTML page and a Markdown page from a result store.

A section per block of the store's config (its figure, its table, its note), then the cross-block figures, then the
cells that failed or were skipped. Each figure is a PNG (which the pages embed), with a PDF and an SVG beside it on
request; drawn at a given width (a paper's column), its text stays at 7 pt or more.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple, Sequence

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image
from varbench.reports import confirmation, figures, schema, store, verdict
from varbench.reports._contents import Contents, FigureKind, ReportBlock, Section
from varbench.reports._files import safe_stem
from varbench.reports._page_text import write_html, write_markdown
from varbench.reports.groups import group_table

#: The resolution of a PNG drawn at the figure's own width (for the pages, on screens).
DPI = 100
#: The resolution of a PNG drawn at a given width (``--figure-width``): a printed figure's.
PRINT_DPI = 300
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


class Export(NamedTuple):
    """How a report saves its figures: the formats (PNG first, the one the pages embed) and the width in inches
    (None: each figure's own)."""

    formats: tuple[str, ...] = ("png",)
    width: float | None = None


def _save(fig: plt.Figure, folder: Path, name: str, export: Export = Export()) -> str:
    """Save ``fig`` as ``folder/name.png`` (and ``.pdf``, ``.svg`` as ``export`` asks) and close it.

    Args:
      fig: the figure.
      folder: the report's folder.
      name: the file name without its extension.
      export: the formats and width.

    Returns:
      The PNG's file name.
    """
    stem = safe_stem(name)  # block names come from the store: never a path
    path = folder / f"{stem}.png"
    # a figure drawn at a paper's width is printed at that width: print resolution, and almost no margin beyond it
    # (the default 0.1 in each side would shrink it, and its text below 7 pt, to fit the column)
    pad = 0.1 if export.width is None else 0.02
    fig.savefig(path, dpi=DPI if export.width is None else PRINT_DPI, bbox_inches="tight", pad_inches=pad)
    with matplotlib.rc_context({"pdf.fonttype": 42, "svg.hashsalt": stem}):  # TrueType: PDF text stays text
        for extension in export.formats:
            if extension != "png":  # no date stamped in: the same results give the same files
                fig.savefig(folder / f"{stem}.{extension}", bbox_inches="tight", pad_inches=pad,
                            metadata={"pdf": {"CreationDate": None}, "svg": {"Date": None}}[extension])
    plt.close(fig)
    # Line plots use few colours: a 256-colour palette keeps them sharp at a third of the size, so the
    # self-contained HTML page (figures embedded) stays small enough to commit and to mail.
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.name


def _block_figure(block: ReportBlock, frame: pd.DataFrame, everything: pd.DataFrame, palette: figures.Palette,
                  width: float | None = None) -> plt.Figure | None:
    """The figure that the block's ``figure`` table asks for (None: none), of its rows ``frame``, ``width`` inches
    wide (None: the figure's own width)."""
    spec = block.figure
    if spec.overlay:
        # Draw another block's rows (typically its exact-mode twin) on the same axes.
        frame = pd.concat([frame, everything[everything["block"] == spec.overlay]], ignore_index=True)
    if spec.kind is FigureKind.VARIANCE_VS:
        col = schema.grid_column(spec.col) if spec.col else None
        return figures.variance_vs(frame, x=schema.grid_column(spec.x), col=col, title=block.title, palette=palette,
                                   width=width)
    if spec.kind is FigureKind.TRACE:
        return figures.trace_log_variance(frame, title=block.title, palette=palette, width=width)
    if spec.kind is FigureKind.SEQUENTIAL:
        return figures.sequential_panels(frame, title=block.title, width=width)
    if spec.kind is FigureKind.SERIES:
        return figures.series_vs(frame, x=spec.x, title=block.title, hue=spec.hue, width=width)
    if spec.kind is FigureKind.MODEL_BIAS:
        return figures.model_bias(frame, x=spec.x, line=spec.line, title=block.title, width=width)
    return None


def _block_section(block: ReportBlock, frame: pd.DataFrame, summary: pd.DataFrame, contents: Contents, out: Path,
                   failed: list[str], palette: figures.Palette, export: Export) -> Section | None:
    """The section of one block: its figure (saved into ``out``), its table and its note, which names the block's
    ``failed`` cells. None for a block without rows or failures (nothing to show)."""
    sub = frame[frame["block"] == block.name] if not frame.empty else frame
    note = block.figure.note
    if failed:
        note = (note + " " if note else "") + "FAILED cells (not measured; listed under 'Cells that failed'): " + \
            "; ".join(failed) + "."
    if sub.empty:
        return Section(block.title, block.name, images=(), table=None, note=note) if failed else None
    fig = _block_figure(block, sub, frame, palette, export.width)
    if block.trace:
        table = _trace_table(sub)
    else:
        table = _block_table(summary, block.name)
    # variance per parameter group (encoder/decoder); trace tables carry it already (no coordinates)
    if block.figure.groups and not block.trace:
        groups = group_table(sub)
        if not groups.empty:
            table = table.merge(groups.drop(columns="block"), on="estimator", how="left")
    return Section(block.title, block.name, images=(_save(fig, out, block.name, export),) if fig is not None else (),
                   table=schema.format_table(table), note=note)


def _cross_block_sections(frame: pd.DataFrame, contents: Contents, out: Path, palette: figures.Palette,
                          export: Export) -> list[Section]:
    """Bias vs variance and the work-normalized variance over every Monte Carlo block (none without one)."""
    # Cross-block figures use the per-coordinate measurement rows (trace rows carry no coordinates).
    frame = schema.measurements(frame)
    if frame.empty or not (frame["method"] == "mc").any():
        return []
    block_order = [b.name for b in contents.blocks]
    pages = figures.bias_vs_variance_pages(frame, block_order, contents.estimator_order, palette, export.width)
    names = tuple(_save(fig, out, "bias_vs_variance" + (f"_{i + 1}" if i else ""), export)
                  for i, fig in enumerate(pages))
    bias = Section("Bias vs variance", "bias_vs_variance", images=names, table=None,
                   note="One point per estimator and Monte Carlo block, labelled with its estimator: the "
                        "simultaneous 95% upper bound on its largest relative bias against its median total variance; "
                        "a cross marks a bias detected by the Holm-corrected test. " + verdict.RULE)
    # a page per group of blocks: one figure of every estimator of every block would be too tall to read
    pages, table = figures.work_normalized_pages(frame, block_order, palette, export.width)
    names = tuple(_save(fig, out, "work_normalized" + (f"_{i + 1}" if i else ""), export)
                  for i, fig in enumerate(pages))
    work = Section("Work-normalized variance", "work_normalized", images=names, table=schema.format_table(table),
                   note="Variance of one estimate times its cost (seconds or cost evaluations); the geometric mean "
                        "over each block's grid points. Each block has its own axis: compare estimators within a "
                        "block.")
    return [bias, work]


def write_report(root: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 formats: str | Sequence[str] = ("png",), width: float | None = None) -> Path:
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
    frame = store.load(root)
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
    try:
        contents = Contents.from_manifest(manifest)
        summary = schema.summary(frame, [b.name for b in contents.blocks], contents.estimator_order)
        summary = confirmation.with_confirmations(summary, confirmation.confirmations(root))
        return _write_pages(out, contents, frame, summary, export)
    except BaseException:
        if created is not None:  # a report that failed leaves no half-written folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise


def _write_pages(out: Path, contents: Contents, frame: pd.DataFrame, summary: pd.DataFrame, export: Export) -> Path:
    failed = contents.failures_by_block()
    # one colour per estimator across the whole report, variants shaded in config order
    palette = figures.estimator_palette([e for names in contents.estimator_order.values() for e in names] +
                                        (list(frame["estimator_label"]) if not frame.empty else []))
    sections = [s for s in (_block_section(block, frame, summary, contents, out, failed.get(block.name, []), palette,
                                           export) for block in contents.blocks) if s is not None]
    sections += _cross_block_sections(frame, contents, out, palette, export)
    write_markdown(out / "report.md", sections, contents)
    return write_html(out / "report.html", sections, contents, out)

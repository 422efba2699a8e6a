"""``varbench report``: figures, a self-contained HTML page and a Markdown page from a result store.

A section per block of the store's config (its figure, its table, its note), then the cross-block figures, then the
cells that failed or were skipped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image
from varbench.reports import confirmation, figures, schema, store, verdict
from varbench.reports._contents import Contents, FigureKind, ReportBlock, Section
from varbench.reports._files import safe_stem
from varbench.reports._page_text import write_html, write_markdown
from varbench.reports.groups import group_table

DPI = 100


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


def _save(fig: plt.Figure, folder: Path, name: str) -> str:
    """Save ``fig`` as ``folder/name.png`` and close it; returns the file name.

    Args:
      fig: the figure.
      folder: the report's folder.
      name: the file name without ``.png``.

    Returns:
      The file name.
    """
    path = folder / f"{safe_stem(name)}.png"  # block names come from the store: never a path
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    # Line plots use few colours: a 256-colour palette keeps them sharp at a third of the size, so the
    # self-contained HTML page (figures embedded) stays small enough to commit and to mail.
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.name


def _block_figure(block: ReportBlock, frame: pd.DataFrame, everything: pd.DataFrame,
                  palette: figures.Palette) -> plt.Figure | None:
    """The figure that the block's ``figure`` table asks for (None: none), of its rows ``frame``."""
    spec = block.figure
    if spec.overlay:
        # Draw another block's rows (typically its exact-mode twin) on the same axes.
        frame = pd.concat([frame, everything[everything["block"] == spec.overlay]], ignore_index=True)
    if spec.kind is FigureKind.VARIANCE_VS:
        col = schema.grid_column(spec.col) if spec.col else None
        return figures.variance_vs(frame, x=schema.grid_column(spec.x), col=col, title=block.title, palette=palette)
    if spec.kind is FigureKind.TRACE:
        return figures.trace_log_variance(frame, title=block.title, palette=palette)
    if spec.kind is FigureKind.SEQUENTIAL:
        return figures.sequential_panels(frame, title=block.title)
    if spec.kind is FigureKind.SERIES:
        return figures.series_vs(frame, x=spec.x, title=block.title, hue=spec.hue)
    if spec.kind is FigureKind.MODEL_BIAS:
        return figures.model_bias(frame, x=spec.x, line=spec.line, title=block.title)
    return None


def _block_section(block: ReportBlock, frame: pd.DataFrame, summary: pd.DataFrame, contents: Contents, out: Path,
                   failed: list[str], palette: figures.Palette) -> Section | None:
    """The section of one block: its figure (saved into ``out``), its table and its note, which names the block's
    ``failed`` cells. None for a block without rows or failures (nothing to show)."""
    sub = frame[frame["block"] == block.name] if not frame.empty else frame
    note = block.figure.note
    if failed:
        note = (note + " " if note else "") + "FAILED cells (not measured; listed under 'Cells that failed'): " + \
            "; ".join(failed) + "."
    if sub.empty:
        return Section(block.title, block.name, images=(), table=None, note=note) if failed else None
    fig = _block_figure(block, sub, frame, palette)
    if block.trace:
        table = _trace_table(sub)
    else:
        table = _block_table(summary, block.name)
    # variance per parameter group (encoder/decoder); trace tables carry it already (no coordinates)
    if block.figure.groups and not block.trace:
        groups = group_table(sub)
        if not groups.empty:
            table = table.merge(groups.drop(columns="block"), on="estimator", how="left")
    return Section(block.title, block.name, images=(_save(fig, out, block.name),) if fig is not None else (),
                   table=schema.format_table(table), note=note)


def _cross_block_sections(frame: pd.DataFrame, contents: Contents, out: Path,
                          palette: figures.Palette) -> list[Section]:
    """Bias vs variance and the work-normalized variance over every Monte Carlo block (none without one)."""
    # Cross-block figures use the per-coordinate measurement rows (trace rows carry no coordinates).
    frame = schema.measurements(frame)
    if frame.empty or not (frame["method"] == "mc").any():
        return []
    block_order = [b.name for b in contents.blocks]
    fig = figures.bias_vs_variance(frame, block_order, contents.estimator_order, palette)
    bias = Section("Bias vs variance", "bias_vs_variance", images=(_save(fig, out, "bias_vs_variance"),), table=None,
                   note="One point per estimator and Monte Carlo block: the simultaneous 95% upper bound on its "
                        "largest relative bias against its median total variance; a cross marks a bias detected by "
                        "the Holm-corrected test. " + verdict.RULE)
    # a page per group of blocks: one figure of every estimator of every block would be too tall to read
    pages, table = figures.work_normalized_pages(frame, block_order, palette)
    names = tuple(_save(fig, out, "work_normalized" + (f"_{i + 1}" if i else "")) for i, fig in enumerate(pages))
    work = Section("Work-normalized variance", "work_normalized", images=names, table=schema.format_table(table),
                   note="Variance of one estimate times its cost (seconds or cost evaluations); the geometric mean "
                        "over each block's grid points. Each block has its own axis: compare estimators within a "
                        "block.")
    return [bias, work]


def write_report(root: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and PNG figures for the store at ``root`` into ``out``.

    The HTML embeds its figures (base64), so it is a single self-contained file. A report that fails leaves no
    folder of its own behind.

    Args:
      root: the result store (a directory that ``varbench suite`` wrote).
      out: the report's folder (created if missing); default ``root/report``.

    Returns:
      The HTML page's path.

    Raises:
      StoreError: ``root`` is not a store with the config's blocks, or ``out`` cannot be a folder.
    """
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
        return _write_pages(out, contents, frame, summary)
    except BaseException:
        if created is not None:  # a report that failed leaves no half-written folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise


def _write_pages(out: Path, contents: Contents, frame: pd.DataFrame, summary: pd.DataFrame) -> Path:
    failed = contents.failures_by_block()
    # one colour per estimator across the whole report, variants shaded in config order
    palette = figures.estimator_palette([e for names in contents.estimator_order.values() for e in names] +
                                        (list(frame["estimator_label"]) if not frame.empty else []))
    sections = [s for s in (_block_section(block, frame, summary, contents, out, failed.get(block.name, []), palette)
                            for block in contents.blocks) if s is not None]
    sections += _cross_block_sections(frame, contents, out, palette)
    write_markdown(out / "report.md", sections, contents)
    return write_html(out / "report.html", sections, contents, out)

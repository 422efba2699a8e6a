"""Drawing a report's figures: each figure is a job (a drawing function and exactly the data it needs), drawn in
worker processes when there are several and skipped when the report folder already holds it drawn from the same
data and options.

The report folder's sidecar :data:`SIDECAR` records, per figure (by its PNG's file name), a hash of its data, its
options and the drawing code, and the seconds it took to draw; a figure whose hash is unchanged and whose files are
all there is not drawn again.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import functools
import hashlib
import json
import multiprocessing
import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from PIL import Image
from varbench.reports import figures, schema
from varbench.reports._contents import FigureKind, FigureSpec
from varbench.reports._files import atomic_write, safe_stem
from varbench.reports.figures import _overview, _work

#: The resolution of a PNG drawn at the figure's own width (for the pages, on screens).
DPI = 100
#: The resolution of a PNG drawn at a given width (``--figure-width``): a printed figure's.
PRINT_DPI = 300
#: The report folder's record of its figures: file name -> hash, seconds to draw.
SIDECAR = ".figures.json"
#: The fewest figures drawn in worker processes: starting a worker costs about an import of matplotlib and
#: seaborn (a second or two), more than drawing two or three small figures.
MIN_PARALLEL = 4


class Export(NamedTuple):
    """How a report saves its figures: the formats (PNG first, the one the pages embed) and the width in inches
    (None: each figure's own)."""

    formats: tuple[str, ...] = ("png",)
    width: float | None = None


class FigureJob(NamedTuple):
    """One figure of a report: ``draw(**data)`` returns it, saved as ``name`` (a stem; made safe on saving).
    ``draw`` is a module-level function, so that the job pickles to a worker process."""

    name: str
    draw: Callable[..., plt.Figure]
    data: dict[str, Any]

    @property
    def file(self) -> str:
        """The PNG's file name, the job's key in the sidecar."""
        return f"{safe_stem(self.name)}.png"


def save(fig: plt.Figure, folder: Path, name: str, export: Export = Export()) -> str:
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


# -- the drawing functions of the jobs (module level: a worker process imports them by name) --

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
    return _overview._bias_figure(table, palette, width, blocks, page)


def work_page(frame: pd.DataFrame, block_order: list[str], palette: figures.Palette, width: float | None,
              blocks: list[str], page: str) -> plt.Figure:
    """A page of the work-normalized figure: ``blocks`` of the Monte Carlo rows ``frame`` (the page's rows; each
    block's values are its own, so the other blocks' rows are not needed)."""
    return figures.work_normalized(frame, block_order, palette, blocks=blocks, page=page, width=width)[0]


def bias_pages(table: pd.DataFrame, palette: figures.Palette, width: float | None) -> list[FigureJob]:
    """The jobs of the bias-vs-variance pages (as :func:`figures.bias_vs_variance_pages` cuts them) of the
    report-wide summary ``table`` of the Monte Carlo rows."""
    blocks = list(dict.fromkeys(table["block"]))
    if not blocks:
        return []
    width = width or _overview.BIAS_WIDTH
    ncols, height = _overview._bias_grid(len(blocks), width)
    count = -(-len(blocks) // (ncols * max(1, int(_overview.BIAS_MAX_HEIGHT // height))))
    per_page = ncols * -(-len(blocks) // (ncols * count))  # balanced: 11 blocks are 6 + 5, not 10 + 1
    pages = [blocks[i:i + per_page] for i in range(0, len(blocks), per_page)]
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
    table = _work.work_table(frame, block_order)
    blocks = list(dict.fromkeys(table["block"]))
    pages = _work.work_pages([int((table["block"] == b).sum()) for b in blocks], size=_work.WorkSize.at(width))
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


# -- hashing, the sidecar, and drawing --

@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """A hash of the drawing code (this module and the figures package): a changed figure redraws every one."""
    digest = hashlib.sha256()
    for path in sorted([Path(__file__)] + list(Path(figures.__file__).parent.glob("*.py"))):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    """Add ``value`` (frames, containers, plain values) to ``digest``, deterministically."""
    if isinstance(value, pd.DataFrame):
        digest.update(repr((list(value.columns), [str(t) for t in value.dtypes], value.shape)).encode())
        try:
            digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        except TypeError:  # a column of unhashable values (lists): its pickle is as exact
            digest.update(pickle.dumps(value, protocol=4))
    elif isinstance(value, dict):
        digest.update(b"{")
        for key, item in value.items():
            digest.update(repr(key).encode())
            _feed(digest, item)
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(repr(value).encode() + b";")


def fingerprint(job: FigureJob, export: Export) -> str:
    """The hash of what ``job`` draws: its drawing function, data and options, the export and the drawing code.

    Args:
      job: the figure.
      export: the formats and width it is saved in.

    Returns:
      A hex digest.
    """
    digest = hashlib.sha256(_code_version().encode())
    _feed(digest, [job.name, f"{job.draw.__module__}.{job.draw.__qualname__}", job.data, tuple(export)])
    return digest.hexdigest()


def read_sidecar(folder: Path) -> dict[str, Any]:
    """The report folder's record of its figures (empty when missing or unreadable: every figure is drawn).

    Args:
      folder: the report's folder.

    Returns:
      PNG file name -> ``{"hash", "seconds", "drawn"}``.
    """
    try:
        entries = json.loads((Path(folder) / SIDECAR).read_text()).get("figures", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def _draw_one(job: FigureJob, folder: Path, export: Export, saver: Callable[..., str] = save) -> float:
    """Draw and save one figure; returns the seconds it took (what a worker process runs)."""
    start = time.perf_counter()
    saver(job.draw(**job.data), folder, job.name, export)
    return time.perf_counter() - start


def _draw_parallel(jobs: Sequence[FigureJob], folder: Path, export: Export, workers: int) -> list[float] | None:
    """Draw ``jobs`` in worker processes; None when the processes cannot start or died (draw them here then).

    Forkserver (or spawn) starts workers as fresh interpreters: forking a process whose JAX threads run could
    deadlock the child."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:  # the server imports matplotlib once; each worker forks from it
        context.set_forkserver_preload([__name__])
    try:
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(_draw_one, job, folder, export) for job in jobs]
            return [f.result() for f in futures]
    except (OSError, concurrent.futures.process.BrokenProcessPool, pickle.PicklingError):
        return None


def draw_figures(jobs: Sequence[FigureJob], folder: Path, export: Export, *, workers: int | None = None,
                 saver: Callable[..., str] | None = None) -> dict[str, Any]:
    """Draw the figures of ``jobs`` into ``folder`` whose data or options changed since the folder's last report
    (or whose files are missing), in parallel when several, and record them in :data:`SIDECAR`.

    Args:
      jobs: the report's figures.
      folder: the report's folder.
      export: the formats and width.
      workers: at most this many worker processes (None: ``os.cpu_count()``; 1: draw here).
      saver: saves a drawn figure (default :func:`save`); another one (a test looking at each figure) draws every
        figure in this process.

    Returns:
      PNG file name -> ``{"hash", "seconds", "drawn"}`` per job (``drawn``: drawn by this call; ``seconds``: the
      last drawing's).
    """
    old = read_sidecar(folder)
    entries: dict[str, Any] = {}
    todo = []
    for job in jobs:
        digest, before = fingerprint(job, export), old.get(job.file, {})
        stem = job.file.removesuffix(".png")
        if before.get("hash") == digest and all((folder / f"{stem}.{ext}").is_file() for ext in export.formats):
            entries[job.file] = dict(before, drawn=False)
        else:
            entries[job.file] = dict(hash=digest, seconds=None, drawn=True)
            todo.append(job)
    workers = min(workers or os.cpu_count() or 1, len(todo))
    seconds = None
    if saver is None and workers > 1 and len(todo) >= MIN_PARALLEL:
        # slowest first, so that no worker starts a long figure last: by the last drawing's time, else the
        # cross-block pages (the report's last and largest figures) first
        order = sorted(range(len(todo)), key=lambda i: (-(old.get(todo[i].file, {}).get("seconds") or 1e9), -i))
        drawn = _draw_parallel([todo[i] for i in order], folder, export, workers)
        seconds = None if drawn is None else [s for _, s in sorted(zip(order, drawn))]
    if seconds is None:
        seconds = [_draw_one(job, folder, export, saver or save) for job in todo]
    for job, s in zip(todo, seconds):
        entries[job.file]["seconds"] = round(s, 3)
    text = json.dumps({"figures": entries}, indent=1)
    atomic_write(folder / SIDECAR, lambda tmp: Path(tmp).write_text(text))
    return entries

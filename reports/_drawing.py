"""Drawing a report's figures: each figure is a job (a drawing function and exactly the data it needs,
:mod:`._jobs`), drawn in worker processes when there are several and skipped when the report folder already holds
it drawn from the same data and options.

A fresh report starts its workers before it knows its figures (:mod:`._workers`) and hands each batch to them as it
finds it (:class:`Drawing`): the block figures are drawn while the report computes its summary. A PNG is the drawn
canvas cropped to its ink (:func:`save`), one drawing instead of the two and a layout pass of a tight ``savefig``.

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
import os
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
from varbench.reports._files import atomic_write, safe_stem
from varbench.reports._workers import MIN_PARALLEL, PRELOAD, SIDECAR, EarlyPool  # noqa: F401

if TYPE_CHECKING:  # drawing imports them: the report's own process, whose workers draw, does not
    import matplotlib.pyplot as plt
    from PIL import Image

#: The resolution of a PNG drawn at the figure's own width (for the pages, on screens).
DPI = 100
#: The resolution of a PNG drawn at a given width (``--figure-width``): a printed figure's.
PRINT_DPI = 300


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
    import matplotlib
    import matplotlib.pyplot as plt
    from PIL import Image

    stem = safe_stem(name)  # block names come from the store: never a path
    path = folder / f"{stem}.png"
    # a figure drawn at a paper's width is printed at that width: print resolution, and almost no margin beyond it
    # (the default 0.1 in each side would shrink it, and its text below 7 pt, to fit the column)
    pad = 0.1 if export.width is None else 0.02
    png = _cropped(fig, DPI if export.width is None else PRINT_DPI, pad)
    with matplotlib.rc_context({"pdf.fonttype": 42, "svg.hashsalt": stem}):  # TrueType: PDF text stays text
        for extension in export.formats:
            if extension != "png":  # no date stamped in: the same results give the same files
                fig.savefig(folder / f"{stem}.{extension}", bbox_inches="tight", pad_inches=pad,
                            metadata={"pdf": {"CreationDate": None}, "svg": {"Date": None}}[extension])
    plt.close(fig)
    # Line plots use few colours: a 256-colour palette keeps them sharp at a third of the size, so the
    # self-contained HTML page (figures embedded) stays small enough to commit and to mail.
    png.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.name


def _cropped(fig: plt.Figure, dpi: float, pad: float) -> Image.Image:
    """``fig`` drawn once at ``dpi``, cropped to what is drawn on it plus ``pad`` inches of its background.

    What ``savefig(bbox_inches="tight")`` gives for a figure that keeps everything inside it (as every figure of
    :mod:`varbench.reports.figures` does: :func:`~.figures._labels.framed` puts titles, keys and captions in bands
    of their own), without its second drawing and its layout pass: half the time of saving a PNG."""
    import matplotlib.colors as mcolors
    from PIL import Image

    original = fig.dpi
    fig.set_dpi(dpi)
    try:
        fig.canvas.draw()
        rgba = np.array(fig.canvas.buffer_rgba())  # a copy: the canvas' buffer is replaced at the next drawing
    finally:
        fig.set_dpi(original)
    background = np.round(np.asarray(mcolors.to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    ink = np.any(rgba != background, axis=-1)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size:
        rgba = rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    margin = int(round(pad * dpi))
    rgb = np.stack([np.pad(rgba[..., c], margin, constant_values=background[c]) for c in range(3)], axis=-1)
    return Image.fromarray(rgb)


# -- hashing, the sidecar, and drawing --

@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """A hash of the drawing code (this module, the jobs' and the figures package): a changed figure redraws every
    one."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in sorted([Path(__file__), here / "_jobs.py"] + list((here / "figures").glob("*.py"))):
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
    """Draw ``jobs`` in ``workers`` worker processes started now; None when the processes cannot start or died
    (draw them here then)."""
    started = EarlyPool(workers, PRELOAD)
    try:
        pool = started.pool()
        if pool is None:
            return None
        futures = [pool.submit(_draw_one, job, folder, export) for job in jobs]
        return [f.result() for f in futures]
    except (OSError, concurrent.futures.process.BrokenProcessPool, pickle.PicklingError):
        return None
    finally:
        started.close()


class Drawing:
    """The figures of one report, drawn as the report finds them: those whose data or options changed since the
    folder's last report (or whose files are missing). With workers started early (a fresh report), each batch
    goes to them as it is submitted, so the block figures are drawn while the report computes its summary;
    otherwise all are drawn at :meth:`finish`, in worker processes when several. :meth:`finish` records every
    figure in :data:`SIDECAR`.

    Args:
      folder: the report's folder.
      export: the formats and width.
      workers: at most this many worker processes (None: ``os.cpu_count()``; 1: draw here).
      saver: saves a drawn figure (default :func:`save`); another one (a test looking at each figure) draws every
        figure in this process.
      early: workers started before the figures were known (:func:`~._workers.start_workers`); the caller closes
        them.
    """

    def __init__(self, folder: Path, export: Export, *, workers: int | None = None,
                 saver: Callable[..., str] | None = None, early: EarlyPool | None = None) -> None:
        self.folder, self.export, self.workers, self.saver = Path(folder), export, workers, saver
        self.early = early if saver is None else None
        self.old = read_sidecar(self.folder)
        self.entries: dict[str, Any] = {}
        self.pending: list[FigureJob] = []  # changed, not handed to a worker yet
        self.running: list[tuple[FigureJob, concurrent.futures.Future]] = []  # in the early workers

    def submit(self, jobs: Sequence[FigureJob]) -> None:
        """Add the report's figures ``jobs``; those that changed are drawn (now if the early workers are up)."""
        for job in jobs:
            digest, before = fingerprint(job, self.export), self.old.get(job.file, {})
            stem = job.file.removesuffix(".png")
            if before.get("hash") == digest and all((self.folder / f"{stem}.{ext}").is_file()
                                                    for ext in self.export.formats):
                self.entries[job.file] = dict(before, drawn=False)
            else:
                self.entries[job.file] = dict(hash=digest, seconds=None, drawn=True)
                self.pending.append(job)
        if self.early is not None and self.early.ready():
            self._hand_over()

    def _slowest_first(self, jobs: Sequence[FigureJob]) -> list[int]:
        """The order that keeps any worker from starting a long figure last: by the last drawing's time, else the
        later jobs (the cross-block pages, the report's largest figures) first."""
        return sorted(range(len(jobs)), key=lambda i: (-(self.old.get(jobs[i].file, {}).get("seconds") or 1e9), -i))

    def _hand_over(self) -> None:
        """Give the pending figures to the early workers (none: they are drawn at :meth:`finish`)."""
        pool = self.early.pool() if self.early is not None else None
        if pool is None:
            self.early = None
            return
        for i in self._slowest_first(self.pending):
            job = self.pending[i]
            self.running.append((job, pool.submit(_draw_one, job, self.folder, self.export)))
        self.pending = []

    def finish(self) -> dict[str, Any]:
        """Draw what is left, wait for the workers and record every figure in :data:`SIDECAR`.

        Returns:
          PNG file name -> ``{"hash", "seconds", "drawn"}`` per job (``drawn``: drawn by this report; ``seconds``:
          the last drawing's).
        """
        self._hand_over()
        seconds: dict[str, float] = {}
        for job, future in self.running:
            try:
                seconds[job.file] = future.result()
            except (OSError, concurrent.futures.process.BrokenProcessPool, pickle.PicklingError):
                self.pending.append(job)  # its worker died: drawn below
        todo, drawn = self.pending, None
        workers = min(self.workers or os.cpu_count() or 1, len(todo))
        if self.saver is None and workers > 1 and len(todo) >= MIN_PARALLEL:
            order = self._slowest_first(todo)
            drawn = _draw_parallel([todo[i] for i in order], self.folder, self.export, workers)
            drawn = None if drawn is None else [s for _, s in sorted(zip(order, drawn))]
        if drawn is None:
            drawn = [_draw_one(job, self.folder, self.export, self.saver or save) for job in todo]
        seconds.update((job.file, s) for job, s in zip(todo, drawn))
        for name, s in seconds.items():
            self.entries[name]["seconds"] = round(s, 3)
        text = json.dumps({"figures": self.entries}, indent=1)
        atomic_write(self.folder / SIDECAR, lambda tmp: Path(tmp).write_text(text))
        return self.entries


def draw_figures(jobs: Sequence[FigureJob], folder: Path, export: Export, *, workers: int | None = None,
                 saver: Callable[..., str] | None = None) -> dict[str, Any]:
    """Draw the figures of ``jobs`` into ``folder`` whose data or options changed since the folder's last report
    (or whose files are missing), in parallel when several, and record them in :data:`SIDECAR`: one batch of a
    :class:`Drawing`.

    Returns:
      As :meth:`Drawing.finish`.
    """
    drawing = Drawing(folder, export, workers=workers, saver=saver)
    drawing.submit(jobs)
    return drawing.finish()

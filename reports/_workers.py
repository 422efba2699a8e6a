"""Worker processes started ahead of their work: a report's figures are known only once its store is loaded and
summarized, but the workers that draw them can start meanwhile.

A worker is a fresh interpreter that imports matplotlib, seaborn and pandas (a second or two on a small machine);
started in a background thread, that import runs beside the report's own loading instead of after it. Forkserver (or
spawn) makes them: forking a process whose JAX threads run could deadlock the child.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from varbench.reports._files import StoreError
from varbench.reports.manifest import read_json

#: The report folder's record of its figures: file name -> hash, seconds to draw (:mod:`._drawing`).
SIDECAR = ".figures.json"
#: The fewest figures drawn in worker processes: starting a worker costs about an import of matplotlib and
#: seaborn (a second or two), more than drawing two or three small figures.
MIN_PARALLEL = 4
#: What the worker processes import before their first figure: the style, the jobs and the figures' modules.
PRELOAD = ("varbench.reports.figures._style", "varbench.reports._jobs") + tuple(
    f"varbench.reports.figures.{m}" for m in ("_overview", "_sequential", "_sweeps", "_traces", "_trace_papers",
                                              "_work"))


def _ready() -> None:
    """A task that does nothing: submitting one per worker makes the pool start them now."""


class EarlyPool:
    """A process pool whose workers start in a background thread the moment it is made.

    Args:
      workers: how many worker processes.
      preload: the modules the forkserver imports once, before it forks each worker (the drawing code).
    """

    def __init__(self, workers: int, preload: Sequence[str]) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._thread = threading.Thread(target=self._start, args=(preload,), name="varbench-drawing-workers",
                                        daemon=True)
        self._thread.start()

    def _start(self, preload: Sequence[str]) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:  # the server imports the drawing code once; each worker forks from it
            context.set_forkserver_preload(list(preload))
        try:
            pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context)
            for started in [pool.submit(_ready) for _ in range(self.workers)]:
                started.result()
        except (OSError, concurrent.futures.process.BrokenProcessPool):
            return  # no workers here: the caller draws in its own process
        self._pool = pool

    def ready(self) -> bool:
        """Whether the workers have started (or failed to): :meth:`pool` would not wait."""
        return not self._thread.is_alive()

    def pool(self) -> concurrent.futures.ProcessPoolExecutor | None:
        """The started pool (waits for its workers), or None where worker processes cannot start."""
        self._thread.join()
        return self._pool

    def close(self) -> None:
        """Stop the workers (after their current tasks); again: nothing."""
        pool, self._pool = self.pool(), None
        if pool is not None:
            pool.shutdown()


def expected_figures(manifest: Mapping[str, Any] | None) -> int:
    """How many figures a report of a store with this manifest draws at most: one per block of its config and the
    two across blocks (0 without blocks).

    Args:
      manifest: the store's parsed ``manifest.json`` (None: none).

    Returns:
      The count.
    """
    config = (manifest or {}).get("config")
    blocks = config.get("block") if isinstance(config, Mapping) else None
    return len(blocks) + 2 if isinstance(blocks, list) and blocks else 0


def stored_figures(root: str | os.PathLike) -> int:
    """:func:`expected_figures` of the store at ``root`` (0 where its manifest cannot be read: the report refuses
    it, and no process is started for a refused command)."""
    try:
        return expected_figures(read_json(root))
    except (StoreError, OSError):
        return 0


def start_workers(folder: str | os.PathLike, figures: int, workers: int | None = None) -> EarlyPool | None:
    """Worker processes for a report into ``folder`` of ``figures`` figures at most, started now so that they are
    ready when its figures are known: only where a report there draws every figure (no :data:`SIDECAR` yet), there
    are :data:`MIN_PARALLEL` figures or more, and several processes may draw. Imports neither pandas nor
    matplotlib: ``varbench report`` starts them before it imports the drawing code, ``varbench suite`` before its
    cells run.

    Args:
      folder: the report's folder.
      figures: how many figures the report draws at most (:func:`expected_figures`).
      workers: at most this many (None: ``os.cpu_count()``).

    Returns:
      The pool to pass to :class:`~._drawing.Drawing` (the caller closes it), or None.
    """
    count = workers or os.cpu_count() or 1
    if count < 2 or figures < MIN_PARALLEL or (Path(folder) / SIDECAR).exists():
        return None
    return EarlyPool(count, PRELOAD)

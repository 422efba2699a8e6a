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
from typing import Sequence

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


def start_workers(folder: str | os.PathLike, root: str | os.PathLike, workers: int | None = None) -> EarlyPool | None:
    """Worker processes for a report of the store ``root`` into ``folder``, started now so that they are ready when
    its figures are known: only where a report there draws every figure (no :data:`SIDECAR` yet), the store's
    config has blocks for :data:`MIN_PARALLEL` figures or more (a figure per block, and the two across blocks) and
    several processes may draw. Imports neither pandas nor matplotlib: ``varbench report`` starts them before it
    imports the drawing code.

    Args:
      folder: the report's folder.
      root: the result store (none are started unless its manifest can be read: a command refused for its store
        starts no process).
      workers: at most this many (None: ``os.cpu_count()``).

    Returns:
      The pool to pass to :class:`~._drawing.Drawing` (the caller closes it), or None.
    """
    count = workers or os.cpu_count() or 1
    if count < 2 or (Path(folder) / SIDECAR).exists():
        return None
    try:
        manifest = read_json(root)
    except (StoreError, OSError, ValueError):  # a damaged or unreadable manifest: the report refuses it
        return None
    blocks = (manifest or {}).get("config", {}).get("block", [])
    if not isinstance(blocks, list) or len(blocks) + 2 < MIN_PARALLEL:
        return None
    return EarlyPool(count, PRELOAD)

"""Compiling the next cell's kernels in a background thread while the current cell runs (local executor).

A cold suite spends most of its wall time compiling (a kernel takes 0.3-5 s to compile on CPU and often well under
0.1 s to run). XLA releases the GIL while it compiles, so while cell ``i`` runs in the main thread, a background
thread compiles the kernels of cell ``i + 1``: it makes the cell's own measurement call
(:func:`varbench.suite._cell.measure_call`, :func:`~varbench.suite._cell.ratio_call`) under
:func:`varbench.engine.compile_tier.compile_ahead`, which stops the call at its first kernel once that kernel is
compiled and kept in the engine's kernel cache under its signature. The cell then finds it there: the executable it
runs is the one compiled ahead (same signature, same compile tier), so results are those of a cell that compiled
it itself, and the kernel counts as compiled for that cell, with the seconds its compilation took
(:func:`varbench.engine.compile_tier.compile_cached`). The persistent compilation cache is filled as by any
compilation.

Compiled ahead: a Monte Carlo cell's kernel (its grid points vmapped, as :func:`varbench.engine.harness.
measure_batch` runs them) and, where the block pairs the cell with its reference, its paired kernel. A stateful
estimator's kernel is compiled ahead too: its ``init`` and warm-up run in the background as the cell will run them,
since the state's shapes are known only from them. Not compiled ahead: trace cells (their kernels follow the
optimisation), exact-mode cells (their quadrature grids follow the refinement, they compile fast, and exact mode
tells its run time from its compile time by subtraction, which a kernel compiled elsewhere would spoil), and a cell
that differs from the one before it only in its seed (it reuses that cell's kernels).

Up to :data:`LOOKAHEAD` cells ahead are queued, so that a background thread that finishes early (the running cell
is long) goes on with the cell after. A cell waits for its own background compilation to end before it starts, so
a kernel is never compiled twice at once. Whatever the background raises is dropped: the cell then compiles its
kernels itself, and meets (and reports) any error there. Only the local executor compiles ahead; Dask workers each
compile their own kernels. The environment variable ``VARBENCH_PRECOMPILE`` sets it: ``off`` (the default), ``on``
(:data:`DEFAULT_THREADS` background thread) or a number of threads (kernels compiled ahead are held in memory, at
most :data:`LOOKAHEAD` cells' worth, plus one compilation's memory per thread).

Off by default: on the 2-core machine it was measured on (``benchmarks/RESULTS.md``) it took the quick suite from
37-41 s to 32-35 s but the full default suite from 260 s to 287 s, with 22 % more CPU time (the process already
used more CPU time than wall time without it, so two cores leave little idle to fill, and two threads contending
for them and for the GIL cost more than the overlap saves). Where compiling leaves cores idle it may pay.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any, Callable, Sequence

from varbench.core.errors import VarbenchError
from varbench.suite._cell import CellOutcome, measure_call, ratio_call, run_cell_task
from varbench.suite._plan import Cell

ENV = "VARBENCH_PRECOMPILE"
#: Background compilation threads of ``VARBENCH_PRECOMPILE=on``, and the most a number may ask for.
DEFAULT_THREADS, MAX_THREADS = 1, 64
#: Cells queued for compiling ahead of the running one.
LOOKAHEAD = 2


def threads() -> int:
    """How many background threads compile ahead: the environment variable ``VARBENCH_PRECOMPILE`` (``off``, the
    default: 0; ``on``: :data:`DEFAULT_THREADS`; or a number from 1 to :data:`MAX_THREADS`).

    Returns:
      The number of threads, 0 when off.

    Raises:
      VarbenchError: another value (one line naming the choices).
    """
    raw = os.environ.get(ENV, "")
    value = raw.strip().lower() or "off"
    if value in ("on", "off"):
        return DEFAULT_THREADS if value == "on" else 0
    if value.isdigit() and 1 <= int(value) <= MAX_THREADS:
        return int(value)
    raise VarbenchError(f"{ENV} must be on, off or a number of threads from 1 to {MAX_THREADS}; got {raw!r}")


def precompile_cell(cell: Cell) -> int:
    """Compile the kernels of ``cell`` that are known before it runs (see the module docstring); never raises.

    Args:
      cell: a cell of a validated plan.

    Returns:
      How many of its calls have their first kernel in the kernel cache now (compiled here or found there).
    """
    from varbench.engine import compile_tier

    if cell.driver or cell.block.method != "mc":
        return 0
    try:
        problems = cell.problems()
        calls: list[Callable[[], Any] | None] = [measure_call(cell, problems), ratio_call(cell, problems)]
    except Exception:  # noqa: BLE001 - the cell meets (and reports) it itself
        return 0
    ready = 0
    for call in calls:
        if call is None:
            continue
        try:
            with compile_tier.compile_ahead():
                call()
        except compile_tier.CompiledAhead:
            ready += 1
        except Exception:  # noqa: BLE001 - the cell then compiles this kernel itself, and reports any error
            pass
    return ready


def _same_kernels(cell: Cell, before: Cell) -> bool:
    """Whether ``cell`` differs from ``before`` only in its seed (a runtime value: the same kernels)."""
    return (cell.block is before.block and cell.estimator.label == before.estimator.label
            and cell.static == before.static and cell.points == before.points)


class CompileAhead:
    """Runs the cells of a suite in order (:meth:`run`, as a local executor's task), compiling the next cells'
    kernels in background threads meanwhile; :meth:`close` drops what is queued.

    Args:
      cells: the cells, in the order they run.
      workers: background threads.
    """

    def __init__(self, cells: Sequence[Cell], workers: int = DEFAULT_THREADS) -> None:
        self._cells = list(cells)
        self._index = {id(c): i for i, c in enumerate(self._cells)}
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._queued = 1  # cells before this one are queued (or not compiled ahead: the first runs at once)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                           thread_name_prefix="varbench-precompile")

    def run(self, cell: Cell) -> CellOutcome:
        """Run ``cell`` (:func:`varbench.suite._cell.run_cell_task`) once its background compilation has ended,
        with the next cells' kernels compiling in the background meanwhile.

        Args:
          cell: one of the cells given, in their order.

        Returns:
          The cell's outcome.
        """
        i = self._index.get(id(cell))
        if i is None:  # not one of ours: run it plainly
            return run_cell_task(cell)
        while self._queued <= min(i + LOOKAHEAD, len(self._cells) - 1):
            j, self._queued = self._queued, self._queued + 1
            if j > i and not _same_kernels(self._cells[j], self._cells[j - 1]):
                self._pending[j] = self._pool.submit(precompile_cell, self._cells[j])
        mine = self._pending.pop(i, None)
        if mine is not None:
            mine.result()  # wait: a kernel is never compiled twice at once (precompile_cell never raises)
        return run_cell_task(cell)

    def close(self) -> None:
        """Drop the queued compilation (one in progress ends in its thread, its kernel unused)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pending.clear()

"""How a running suite reports progress (a bar with the time left, or log lines with an ETA) and stops on SIGTERM."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any, Callable


def eta(done: int, total: int, elapsed: float) -> str:
    """Time left if the remaining cells take as long, on average, as the finished ones (``?`` before the first).

    Args:
      done: cells finished.
      total: cells to run.
      elapsed: seconds since the first started.

    Returns:
      ``"4m05s"``, ``"2h07m"`` or ``"?"``.
    """
    if done == 0:
        return "?"
    left = round(elapsed / done * (total - done))
    return f"{left // 3600}h{left // 60 % 60:02d}m" if left >= 3600 else f"{left // 60}m{left % 60:02d}s"


def say_on_stderr(line: str) -> None:
    """The default progress: one line on stderr, at once."""
    print(line, file=sys.stderr, flush=True)


class sigterm_interrupts:
    """SIGTERM (a batch system ending the job, ``kill``) interrupts like Ctrl-C, so the lock is released, the run is
    recorded as interrupted and a cluster started here is shut down; a no-op outside the main thread."""

    def __enter__(self) -> None:
        self.previous = None
        try:
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread
            pass

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


class progress_bar:
    """A rich progress bar with the time left on a terminal; plain log lines with an ETA otherwise (CI, pipes).

    ``with progress_bar(total) as advance:`` gives a function that logs one line per finished cell and advances.
    """

    def __init__(self, total: int):
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[str], None]:
        from rich.console import Console
        console = Console(stderr=True)
        if console.is_terminal:
            return self._start_bar(console)
        count, start = iter(range(1, self.total + 1)), time.perf_counter()

        def log(line: str) -> None:
            done = next(count)
            say_on_stderr(f"[{done}/{self.total}, ETA {eta(done, self.total, time.perf_counter() - start)}] {line}")
        return log

    def _start_bar(self, console: Any) -> Callable[[str], None]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("ETA"), TimeRemainingColumn(), console=console)
        self._bar.start()
        task = self._bar.add_task("suite", total=self.total)

        def advance(line: str) -> None:
            self._bar.console.log(line)
            self._bar.advance(task)
        return advance

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

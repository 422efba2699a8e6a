"""Where independent pieces of work run: in this process (``local``) or on a Dask cluster (``dask``).

One small interface serves the suite (one task per cell), ``varbench trace`` (one task per checkpoint × measured
estimator) and ``varbench check`` (one task per problem): :meth:`Executor.map` takes a module-level function and a
list of picklable items and yields an :class:`Outcome` per item *as it finishes*, so the caller can store each
result at once and a crash never loses what has finished.

- ``local`` runs the items one after the other in this process, exactly as before executors existed.
- ``dask`` runs them as tasks of a ``dask.distributed`` cluster: a ``LocalCluster`` of N worker processes started
  here (N defaults to the number of cores), or the cluster whose scheduler is at ``scheduler``
  (``tcp://HOST:PORT``), started for instance by ``dask-jobqueue`` on a SLURM/PBS cluster or by ``dask worker``
  on several GPU hosts. Each worker process compiles its own kernels (in parallel with the others) and keeps them
  for the tasks it runs next.

Results come back to the caller; workers never write to the result store. The client is the only writer, holds
the store's lock, and needs no file system shared with the workers (GPU hosts often have none).

Workers need what the client has: the plugin modules (``--plugin``, ``plugins = [...]``) are imported in the
worker before a task's item is unpickled (items travel as pickled bytes for that reason), and the client.s
persistent compilation cache directory is used. On a ``LocalCluster`` each worker process is pinned to its own
share of the cores, so that XLA sizes its thread pool to that share instead of every worker spawning one thread
per core of the machine.

A worker that dies while it holds a task (killed, out of memory, a crashed node) loses only that task: the
scheduler gives it to another worker (up to ``distributed.scheduler.allowed-failures`` deaths, 3 by default;
beyond that the outcome carries a :class:`WorkerDiedError`). Each outcome names the workers that died holding it
(``Outcome.lost_workers``), read from the scheduler's own ``remove-worker`` events.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import pickle
import threading
import uuid
from typing import Any, Callable, Iterator, Sequence

from varbench.core.errors import VarbenchError
from varbench.core.options import is_integer

EXECUTORS = ("local", "dask")
#: How to get the optional dependency.
DASK_INSTALL = 'pip install "varbench[dask]"'
#: Seconds to wait for an existing Dask scheduler to answer.
CONNECT_TIMEOUT = 20


class WorkerDiedError(VarbenchError):
    """Workers kept dying while running a task (more often than the scheduler's ``allowed-failures``)."""


@dataclasses.dataclass
class Outcome:
    """One finished item: ``value`` is what the function returned, unless ``error`` says why there is none."""

    index: int
    value: Any = None
    error: BaseException | None = None
    lost_workers: tuple[str, ...] = ()   # workers that died while this item was assigned to them

    @property
    def attempts(self) -> int:
        """How many times the item was run: once, plus once per worker that died holding it."""
        return 1 + len(self.lost_workers)


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Executor:
    """Maps a function over items; see the module docstring."""

    kind = "local"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            names: Sequence[str] | None = None) -> Iterator[Outcome]:
        """Yield an :class:`Outcome` for each item as it finishes (``local``: in order). ``fn`` must be a
        module-level function (it is sent by reference); ``names`` label the tasks on a dashboard. An exception
        raised by ``fn`` is raised here, as a local call would raise it; the remaining items are cancelled."""
        for index, item in enumerate(items):
            yield Outcome(index, fn(item))

    def describe(self) -> dict[str, Any]:
        """Plain data for the manifest: what ran the work."""
        return {"kind": self.kind}

    def close(self) -> None:
        """Release what the executor holds (nothing for ``local``); also called on leaving a ``with`` block."""
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


LocalExecutor = Executor


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise VarbenchError(f"--executor dask needs the 'distributed' package: {DASK_INSTALL}") from None
    return distributed


@dataclasses.dataclass(frozen=True)
class ExecutorChoice:
    """Where work runs: ``kind`` (``local`` or ``dask``), the size of a cluster varbench starts (``workers``) or the
    address of one that runs already (``scheduler``), and the plugin modules every worker imports. Build it with
    :meth:`checked` (validated, one-line errors naming the valid choices); :meth:`start` starts it."""

    kind: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    plugins: tuple[str, ...] = ()

    @classmethod
    def checked(cls, kind: str | None = None, workers: int | None = None, scheduler: str | None = None,
                plugins: Sequence[str] = ()) -> ExecutorChoice:
        """The choice, validated; nothing is started.

        Args:
          kind: ``"local"`` or ``"dask"``; None means dask if ``workers`` or ``scheduler`` is given, else local.
          workers: dask: the number of worker processes of a local cluster started here (default: one per core).
          scheduler: dask: the address of a running cluster's scheduler (``tcp://HOST:PORT``); not with ``workers``.
          plugins: modules every worker imports before it runs a task.

        Returns:
          The validated choice.

        Raises:
          VarbenchError: a one-line message naming the valid choices.
        """
        if kind is None:
            kind = "dask" if scheduler is not None or workers is not None else "local"
        if kind not in EXECUTORS:
            raise VarbenchError(f"unknown executor {kind!r}; valid executors: {', '.join(EXECUTORS)}")
        if kind == "local" and (workers is not None or scheduler is not None):
            raise VarbenchError("--workers and --scheduler apply to --executor dask; the local executor runs in "
                                "this process")
        if workers is not None and (not is_integer(workers) or workers < 1):
            raise VarbenchError(f"workers must be a positive integer; got {workers!r}")
        if scheduler is not None:
            scheduler = _checked_scheduler(scheduler, workers)
        if kind == "dask":
            _import_distributed()
        return cls(kind, None if workers is None else int(workers), scheduler, tuple(plugins))

    def start(self) -> Executor:
        """A started executor (use it as a context manager, or call ``close``)."""
        if self.kind == "local":
            return Executor()
        return DaskExecutor(self)


def _checked_scheduler(scheduler: Any, workers: Any) -> str:
    """The address of a Dask scheduler, stripped; a one-line error for anything else or beside ``workers``."""
    if not isinstance(scheduler, str) or not scheduler.strip() or any(c.isspace() for c in scheduler.strip()):
        raise VarbenchError(f"--scheduler must be the address of a Dask scheduler such as tcp://HOST:8786; got "
                            f"{scheduler!r}")
    if workers is not None:
        raise VarbenchError("--workers sets the size of the cluster varbench starts; a cluster at --scheduler "
                            "has its own workers (give one or the other)")
    return scheduler.strip()


# --- the worker side ---------------------------------------------------------------------------------------------
_worker_state: dict[str, Any] = {"setup": None}
_setup_lock = threading.Lock()


def _setup_worker(setup: dict[str, Any]) -> None:
    """Once per worker process (and again only if the setup changes): pin to this worker's cores, apply the client's
    settings (compilation cache, compile tier, XLA flags: :func:`varbench.configure`), import the plugins."""
    with _setup_lock:
        if _worker_state["setup"] == setup:
            return
        cpus = setup.get("cpus")
        if cpus and hasattr(os, "sched_setaffinity"):
            try:
                from distributed import get_worker
                mine = cpus.get(str(get_worker().name))
            except (ImportError, ValueError):
                mine = None
            if mine:
                for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else [0]:
                    try:
                        os.sched_setaffinity(int(tid), mine)
                    except OSError:
                        pass
        from varbench.engine import settings
        settings.configure(**setup["settings"])
        from varbench.catalog import load_builtins, load_plugin
        load_builtins()
        for module in setup.get("plugins") or ():
            load_plugin(module)
        _worker_state["setup"] = setup


def _run_task(fn: Callable[[Any], Any], setup: dict[str, Any], payload: bytes) -> Any:
    """A Dask task: set the worker up, then unpickle the item (its classes may come from plugins) and run it."""
    _setup_worker(setup)
    return fn(pickle.loads(payload))


def _drop_shadowing_entries(name: str, origin: str) -> list[str]:
    """Remove (and return) the ``sys.path`` entries that make ``import name`` find other code than the package whose
    ``__init__.py`` is ``origin``: run in each worker of a ``LocalCluster`` before it imports varbench (a Dask preload
    given as source text, so standard library only). A worker gets the client's import path, with the working
    directory on it under ``python -m``, ``-c`` or a notebook; a folder there named like the package (the one that
    holds a clone) is imported instead: an empty namespace package if varbench is an editable install (its finder
    runs after the path), else another copy. Another package before the real one is dropped; a namespace portion
    only when no entry holds the real package (then it would win)."""
    import importlib.machinery
    import os
    import sys

    shadows, portions = [], []
    for entry in list(sys.path):
        spec = importlib.machinery.PathFinder.find_spec(name, [entry])
        if spec is None:
            continue
        if spec.origin and os.path.normcase(os.path.abspath(spec.origin)) == origin:
            break  # the real package is found first: nothing later matters
        (shadows if spec.origin and spec.loader is not None else portions).append(entry)
    else:
        shadows += portions
    for entry in shadows:
        sys.path.remove(entry)
    return shadows


def _worker_preloads() -> dict[str, Any]:
    """The ``preload`` and ``preload_argv`` of a ``LocalCluster``'s workers: :func:`_drop_shadowing_entries` for this
    package, then the preloads of the Dask config."""
    import inspect
    import textwrap

    import dask

    origin = os.path.normcase(os.path.abspath(os.path.join(os.path.dirname(__file__), "__init__.py")))
    source = textwrap.dedent(inspect.getsource(_drop_shadowing_entries))
    text = f"{source}\n_drop_shadowing_entries({__name__.split('.')[0]!r}, {origin!r})\n"  # text: has spaces
    preload = dask.config.get("distributed.worker.preload", None) or []
    argv = dask.config.get("distributed.worker.preload-argv", None) or []
    if argv and not isinstance(argv[0], str):  # one list per preload: ours takes none
        argv = [[], *argv]
    return dict(preload=[text, *([preload] if isinstance(preload, str) else preload)], preload_argv=argv)


# --- dask ----------------------------------------------------------------------------------------------------------
class DaskExecutor(Executor):
    """Tasks on a ``dask.distributed`` cluster: a ``LocalCluster`` started here, or the one at ``scheduler``."""

    kind = "dask"

    def __init__(self, choice: ExecutorChoice):
        distributed = _import_distributed()
        from varbench.engine import settings

        workers, scheduler = choice.workers, choice.scheduler

        self.cluster = None
        self._lost: dict[str, list[str]] = {}
        self._lost_lock = threading.Lock()
        cpus = None
        try:
            if scheduler is None:
                workers = workers or default_workers()
                self.cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                        dashboard_address=None, silence_logs=logging.ERROR,
                                                        **_worker_preloads())
                self.client = distributed.Client(self.cluster, set_as_default=False)
                cpus = _share_cores(workers)
            else:
                self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as err:
            self.close()
            if scheduler is None:
                raise VarbenchError(f"cannot start a local Dask cluster: {_first_line(err)}") from None
            raise VarbenchError(f"cannot reach the Dask scheduler at {scheduler!r}: {_first_line(err)}; start it first "
                                "('dask scheduler', or dask-jobqueue) or leave out --scheduler to start a local "
                                "cluster") from None
        except RuntimeError as err:  # a worker process that cannot start (spawn re-imports the main script)
            self.close()
            raise VarbenchError(f"cannot start a local Dask cluster ({_first_line(err)}): its worker processes import "
                                "the main module again, so a Python script must start the suite under "
                                "if __name__ == \"__main__\": (and not from stdin)") from None
        self.scheduler = self.client.scheduler.address
        self.setup = dict(plugins=list(choice.plugins), settings=dataclasses.asdict(settings.current()), cpus=cpus)
        self.client.subscribe_topic("all", self._on_event)

    def _on_event(self, event: Any) -> None:
        """Scheduler events: a worker that left unexpectedly while holding tasks (they are given to others)."""
        _, msg = event
        if isinstance(msg, dict) and msg.get("action") == "remove-worker" and not msg.get("expected"):
            with self._lost_lock:  # running there, or finished there but not yet fetched: computed again
                for key in {*(msg.get("processing-tasks") or ()), *(msg.get("lost-computed-tasks") or ())}:
                    self._lost.setdefault(str(key), []).append(str(msg.get("worker", "?")))

    def workers(self) -> int:
        """The number of workers the cluster has now (it may grow or shrink)."""
        return len(self.client.nthreads())

    def describe(self) -> dict[str, Any]:
        """Plain data for the manifest: the kind, the scheduler's address, the worker count, and whether the cluster was
        started here (``LocalCluster``) or already running (``existing``).
        """
        return {"kind": self.kind, "scheduler": self.scheduler, "workers": self.workers(),
                "cluster": "LocalCluster" if self.cluster is not None else "existing"}

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *,
            names: Sequence[str] | None = None) -> Iterator[Outcome]:
        """As :meth:`Executor.map`. Items are submitted as workers free up (as many in flight as the cluster has
        worker threads), so no item waits in a worker's queue: a worker that dies takes only the items it was
        running with it, results never pile up, and a cluster that grows (``cluster.adapt``) gets more at once."""
        distributed = _import_distributed()
        token = uuid.uuid4().hex[:8]
        pending = iter(range(len(items)))
        in_flight: dict[Any, int] = {}
        done = distributed.as_completed(loop=self.client.loop)

        def top_up() -> None:
            room = max(1, sum(self.client.nthreads().values())) - len(in_flight)
            for index in itertools.islice(pending, max(0, room)):
                name = names[index] if names is not None else str(index)
                future = self.client.submit(_run_task, fn, self.setup, pickle.dumps(items[index]),
                                            key=f"varbench-{name}-{token}", pure=False)
                in_flight[future] = index
                done.add(future)

        top_up()
        try:
            for future in done:
                index = in_flight.pop(future)
                with self._lost_lock:
                    lost = tuple(self._lost.get(str(future.key), ()))
                if future.status == "cancelled":
                    raise VarbenchError(f"the Dask scheduler at {self.scheduler} cancelled the work (was it shut "
                                        "down?); finished results are kept, run the same command again to go on")
                if future.status == "error":
                    error = future.exception()
                    if not isinstance(error, distributed.KilledWorker):
                        raise error
                    outcome = Outcome(index, error=WorkerDiedError(
                        f"{len(lost) or 'several'} workers died running it ({lost[-1] if lost else '?'} last); given "
                        "up"), lost_workers=lost)
                else:
                    outcome = Outcome(index, future.result(), lost_workers=lost)
                future.release()
                top_up()
                yield outcome
        finally:
            if in_flight:
                self.client.cancel(list(in_flight))

    def close(self) -> None:
        """Close the client and, if varbench started it, the ``LocalCluster``; safe to call more than once."""
        client, cluster = getattr(self, "client", None), self.cluster
        self.cluster = None
        if client is not None:
            try:
                client.unsubscribe_topic("all")
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            client.close()
            self.client = None
        if cluster is not None:
            cluster.close()


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _share_cores(workers: int) -> dict[str, list[int]] | None:
    """Worker name -> the cores it is pinned to: the cores this process may use, shared out in contiguous blocks
    (with more workers than cores, one core each, round robin)."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    if workers >= len(cores):
        return {str(i): [cores[i % len(cores)]] for i in range(workers)}
    size = len(cores) // workers
    return {str(i): cores[i * size:(i + 1) * size] for i in range(workers)}

"""The manifest of a result store (``manifest.json``): typed values, and the one module that reads and writes it.

A suite's manifest (:class:`Manifest`) holds the config and its hash, every cell's key and label, what became of the
cells (finished, not applicable, failed with a :class:`Failure`, retried after a worker died) and the history of
runs (:class:`Run`). ``varbench check`` writes a :class:`CheckManifest`. The JSON layout is the store's public
schema and stays what older stores have: field names, statuses and a failure's kind as the prefix of its reason
(``"out of memory: ..."``); code decides on the enums (:class:`RunStatus`, :class:`FailureKind`). Needs no JAX.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from pathlib import Path
from typing import Any, Mapping

from varbench.reports import manifest_schema
from varbench.reports._files import StoreAccessError, StoreError, atomic_write
from varbench.reports.manifest_schema import DamagedManifestError

__all__ = ["MANIFEST", "CheckManifest", "DamagedManifestError", "Failure", "FailureKind", "Manifest", "Run",
           "RunStatus", "check_json", "read", "read_json", "write", "write_json"]

MANIFEST = "manifest.json"


class RunStatus(enum.Enum):
    """What became of one run of a suite."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    REPAIRED = "repaired"  # not a run of the suite: ``varbench store repair`` rebuilt the manifest from the cells


class FailureKind(enum.Enum):
    """Why a cell failed, which decides whether a resume measures it again."""

    MEASUREMENT = "measurement"      # the measurement failed: the same seeds and code fail the same way again
    OUT_OF_MEMORY = "out_of_memory"  # depends on what else was running
    WORKER_DIED = "worker_died"      # workers die for reasons of their own
    CODE_ERROR = "code_error"        # a plugin's estimator raised or broke its contract: once fixed, retried

    @property
    def retried_on_resume(self) -> bool:
        """Whether a resumed suite measures a cell that failed this way again."""
        return self is not FailureKind.MEASUREMENT


#: How the manifest writes a failure's kind: as the prefix of its reason (the layout older stores have).
_PREFIXES = {FailureKind.OUT_OF_MEMORY: "out of memory: ", FailureKind.WORKER_DIED: "worker died: ",
             FailureKind.CODE_ERROR: "code error: "}


@dataclasses.dataclass(frozen=True)
class Failure:
    """A failed cell: the kind of failure and its one-line reason."""

    kind: FailureKind
    reason: str

    def text(self) -> str:
        """The failure as the manifest writes it (the kind as a prefix of the reason)."""
        return _PREFIXES.get(self.kind, "") + self.reason

    @classmethod
    def parse(cls, text: Any) -> Failure:
        """The failure that :meth:`text` wrote (any other text is a failed measurement)."""
        text = str(text)
        for kind, prefix in _PREFIXES.items():
            if text.startswith(prefix):
                return cls(kind, text[len(prefix):])
        return cls(FailureKind.MEASUREMENT, text)


def _table(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` if it is a JSON object, else an empty one (an older or damaged manifest)."""
    value = obj.get(key)
    return dict(value) if isinstance(value, dict) else {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """One run of a suite on a store: who ran it where, when, and which cells it finished, retried, moved aside."""

    number: int = 0                    # 1 for the store's first run; assigned by :meth:`Manifest.begin`
    started: str
    command: str
    host: str
    pid: int
    executor: Mapping[str, Any]        # :meth:`varbench.executors.Executor.describe`
    environment: Mapping[str, Any]     # :func:`varbench.provenance.environment`
    status: RunStatus = RunStatus.RUNNING
    finished: str | None = None
    cells_finished: int = 0
    cells_retried: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # label -> lost workers
    cells_moved_aside: Mapping[str, str] = dataclasses.field(default_factory=dict)  # cell file -> where it went
    took_over_lock: Mapping[str, Any] | None = None  # the stale lock's holder, if this run took it over

    def to_json(self) -> dict[str, Any]:
        """The run as the manifest's ``runs`` list holds it."""
        return dict(run=self.number, started=self.started, finished=self.finished, status=self.status.value,
                    command=self.command, host=self.host, pid=self.pid, executor=dict(self.executor),
                    environment=dict(self.environment), cells_finished=self.cells_finished,
                    cells_retried={label: list(workers) for label, workers in self.cells_retried.items()},
                    cells_moved_aside=dict(self.cells_moved_aside), took_over_lock=self.took_over_lock)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Run:
        """A run read back from a manifest (missing fields take their defaults; an unknown status reads as
        interrupted: the run did not say it finished)."""
        try:
            status = RunStatus(obj.get("status", RunStatus.FINISHED.value))
        except ValueError:
            status = RunStatus.INTERRUPTED
        return cls(number=obj.get("run", 0), started=obj.get("started"), command=obj.get("command"),
                   host=obj.get("host"), pid=obj.get("pid"), executor=_table(obj, "executor"),
                   environment=_table(obj, "environment"), status=status, finished=obj.get("finished"),
                   cells_finished=obj.get("cells_finished", 0),
                   cells_retried={k: tuple(v) for k, v in _table(obj, "cells_retried").items()},
                   cells_moved_aside=_table(obj, "cells_moved_aside"), took_over_lock=obj.get("took_over_lock"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Manifest:
    """A suite's manifest. The suite replaces it after every cell (methods return a new value) and writes it."""

    config: Mapping[str, Any]          # the TOML config as read
    config_hash: str | None            # what the results depend on (:func:`varbench.suite.config_hash`)
    quick: bool = False
    started: str | None = None         # the first run's start
    resumed: tuple[str, ...] = ()      # the later runs' starts
    finished: str | None = None
    environment: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # the first run's
    runs: tuple[Run, ...] = ()
    cells: Mapping[str, str] = dataclasses.field(default_factory=dict)          # key -> label, every cell
    cells_total: int = 0
    cells_done: int = 0
    cells_skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)  # label -> why not applicable
    cells_failed: Mapping[str, Failure] = dataclasses.field(default_factory=dict)  # label -> failure
    cells_retried: Mapping[str, int] = dataclasses.field(default_factory=dict)  # label -> attempts
    compile_counts: Mapping[str, int] = dataclasses.field(default_factory=dict)  # block -> kernels compiled
    seconds: Mapping[str, float] = dataclasses.field(default_factory=dict)      # block -> seconds in its cells

    @classmethod
    def begin(cls, previous: Manifest | None, run: Run, *, config: Mapping[str, Any], config_hash: str,
              quick: bool, cells: Mapping[str, str], cells_done: int) -> Manifest:
        """The manifest of a new ``run`` (numbered here) over ``previous``, the store's manifest if it has one.

        A resumed run keeps what the earlier runs recorded (start time, first environment, compile counts, seconds
        per block); each run's own environment is in ``runs``. An earlier run still recorded as running was
        killed before it could say so. A cell that failed in an earlier run of the same config and version fails
        the same way again (same seeds, same code), so its failure is kept, unless its kind is retried on resume.
        """
        resumed = () if previous is None else (*previous.resumed, run.started)
        previous = previous or cls(config={}, config_hash=None)
        runs = tuple(dataclasses.replace(r, status=RunStatus.INTERRUPTED) if r.status is RunStatus.RUNNING else r
                     for r in previous.runs)
        run = dataclasses.replace(run, number=len(runs) + 1)
        failed = {label: f for label, f in previous.cells_failed.items() if not f.kind.retried_on_resume}
        return cls(config=config, config_hash=config_hash, quick=quick, started=previous.started or run.started,
                   resumed=resumed, environment=previous.environment or run.environment, runs=runs + (run,),
                   cells=dict(cells), cells_total=len(cells), cells_done=cells_done, cells_failed=failed,
                   cells_retried=dict(previous.cells_retried), compile_counts=dict(previous.compile_counts),
                   seconds=dict(previous.seconds))

    @property
    def run(self) -> Run:
        """The current (last) run."""
        return self.runs[-1]

    def _with_run(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, runs=self.runs[:-1] + (dataclasses.replace(self.run, **changes),))

    def cell_done(self, block: str, compiled: int, seconds: float) -> Manifest:
        """A cell of ``block`` finished, compiling ``compiled`` kernels in ``seconds``."""
        manifest = self._with_run(cells_finished=self.run.cells_finished + 1)
        return dataclasses.replace(
            manifest, cells_done=self.cells_done + 1,
            compile_counts={**self.compile_counts, block: self.compile_counts.get(block, 0) + compiled},
            seconds={**self.seconds, block: self.seconds.get(block, 0.0) + seconds})

    def cell_failed(self, label: str, failure: Failure) -> Manifest:
        """The cell ``label`` failed."""
        return dataclasses.replace(self, cells_failed={**self.cells_failed, label: failure})

    def cell_skipped(self, label: str, reason: str) -> Manifest:
        """The cell ``label``'s estimator does not apply to its problem."""
        return dataclasses.replace(self, cells_skipped={**self.cells_skipped, label: reason})

    def cell_retried(self, label: str, lost_workers: tuple[str, ...], attempts: int) -> Manifest:
        """The cell ``label`` was given to another worker after ``lost_workers`` died running it."""
        manifest = self._with_run(cells_retried={**self.run.cells_retried, label: tuple(lost_workers)})
        return dataclasses.replace(manifest, cells_retried={**self.cells_retried, label: attempts})

    def interrupted(self, at: str) -> Manifest:
        """The current run was interrupted at ``at`` (the suite is not finished)."""
        return self._with_run(status=RunStatus.INTERRUPTED, finished=at)

    def completed(self, at: str, cells_done: int) -> Manifest:
        """The current run finished at ``at`` with ``cells_done`` cells of the config finished in the store."""
        return dataclasses.replace(self._with_run(status=RunStatus.FINISHED, finished=at), finished=at,
                                   cells_done=cells_done)

    def to_json(self) -> dict[str, Any]:
        """The manifest as ``manifest.json`` holds it."""
        return dict(config=self.config, config_hash=self.config_hash, quick=self.quick, started=self.started,
                    resumed=list(self.resumed), finished=self.finished, environment=dict(self.environment),
                    runs=[run.to_json() for run in self.runs], cells=dict(self.cells), cells_total=self.cells_total,
                    cells_done=self.cells_done, cells_skipped=dict(self.cells_skipped),
                    cells_failed={label: f.text() for label, f in self.cells_failed.items()},
                    cells_retried=dict(self.cells_retried), compile_counts=dict(self.compile_counts),
                    seconds=dict(self.seconds))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Manifest:
        """A manifest read back (fields an older or another writer's manifest lacks take their defaults)."""
        resumed, runs = obj.get("resumed"), obj.get("runs")
        return cls(config=_table(obj, "config"), config_hash=obj.get("config_hash"),
                   quick=bool(obj.get("quick", False)), started=obj.get("started"),
                   resumed=tuple(resumed) if isinstance(resumed, list) else (), finished=obj.get("finished"),
                   environment=_table(obj, "environment"),
                   runs=tuple(Run.from_json(r) for r in runs if isinstance(r, dict)) if isinstance(runs, list) else (),
                   cells=_table(obj, "cells"), cells_total=obj.get("cells_total", 0),
                   cells_done=obj.get("cells_done", 0), cells_skipped=_table(obj, "cells_skipped"),
                   cells_failed={k: Failure.parse(v) for k, v in _table(obj, "cells_failed").items()},
                   cells_retried=_table(obj, "cells_retried"), compile_counts=_table(obj, "compile_counts"),
                   seconds=_table(obj, "seconds"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckManifest:
    """The manifest of a store written by ``varbench check``: a block per problem, the config's hash, the check's
    report (``CheckReport.to_dict()``) and the environment. It lists no cells: a report reads every cell file."""

    config: Mapping[str, Any]
    config_hash: str
    check: Mapping[str, Any]
    environment: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The manifest as ``manifest.json`` holds it."""
        return dict(kind="check", config=self.config, config_hash=self.config_hash, check=self.check,
                    environment=self.environment)


def write_json(root: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` (a JSON object) as the manifest of the store at ``root``, atomically.

    Args:
      root: the store's directory (created if missing).
      manifest: the manifest's fields; values JSON cannot hold are written as their ``str``.

    Raises:
      StoreAccessError: the operating system refused the write (no permission, a full disk); the manifest there
        before is unchanged.
    """
    def dump(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=2, default=str)
    path = Path(root) / MANIFEST
    try:
        atomic_write(path, dump)
    except OSError as err:
        raise StoreAccessError.of(err, "write the manifest", path) from None


def write(root: str | os.PathLike, manifest: Manifest | CheckManifest) -> None:
    """Write ``manifest`` as the manifest of the store at ``root``, atomically."""
    write_json(root, manifest.to_json())


def read_json(root: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of the store at ``root`` as its JSON object.

    Returns:
      The object, checked against the manifest's schema (:mod:`varbench.reports.manifest_schema`); None if there
      is no manifest.

    Raises:
      DamagedManifestError: the file is not a JSON object (a truncated or foreign file), or a field has the wrong
        type; the message names the first such field.
      StoreAccessError: the operating system refused to read it (no permission).
    """
    path = Path(root) / MANIFEST
    if not os.path.lexists(path):
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise DamagedManifestError(f"{str(path)!r} is not a readable varbench manifest (a directory); "
                                   f"{manifest_schema.repair_hint(root)}") from None
    except FileNotFoundError:  # a dangling link, or removed since we looked
        raise DamagedManifestError(f"{str(path)!r} is not a readable varbench manifest (a dangling link); "
                                   f"{manifest_schema.repair_hint(root)}") from None
    except OSError as err:
        raise StoreAccessError.of(err, "read the manifest", path) from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, nested too deep, an integer too long
        raise DamagedManifestError(f"{str(path)!r} is not a readable varbench manifest ({type(err).__name__}); "
                                   f"{manifest_schema.repair_hint(root)}") from None
    return manifest_schema.check(manifest, path)


def read(root: str | os.PathLike) -> Manifest | None:
    """The manifest of the store at ``root`` as a :class:`Manifest`; None if there is none (a
    :class:`StoreError` as :func:`read_json`)."""
    obj = read_json(root)
    return None if obj is None else Manifest.from_json(obj)


def check_json(root: str | os.PathLike, *, need_blocks: bool = False) -> dict[str, Any]:
    """The manifest of the result store at ``root`` as its JSON object, or a one-line :class:`StoreError` saying
    why ``root`` is not one: not a directory, no manifest, or (``need_blocks``) one without the config's blocks,
    which a report is organised by. A damaged manifest, or cell files without one, is a
    :class:`DamagedManifestError` (``varbench store repair`` mends it)."""
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"{str(root)!r} is not a varbench result store (not a directory); run 'varbench suite'")
    manifest = read_json(root)  # its schema checked: types and the config hash
    if manifest is None:
        if any((root / "cells").glob("*.parquet")):  # the results are there: the manifest was lost
            raise DamagedManifestError(f"{str(root)!r} holds cell files but no {MANIFEST}; "
                                       f"{manifest_schema.repair_hint(root)}")
        raise StoreError(f"{str(root)!r} is not a varbench result store (no {MANIFEST}); run 'varbench suite'")
    if need_blocks and not isinstance((manifest.get("config") or {}).get("block"), list):
        raise StoreError(f"{str(root / MANIFEST)!r} is not the manifest of a varbench result store (it lacks the "
                         "config blocks); run 'varbench suite'")
    return manifest

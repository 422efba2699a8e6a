"""Running a suite into its result store: checks, the lock, resume, the run loop over an executor, the manifest.

Cells are independent: an executor (:mod:`varbench.executors`: ``local``, in this process, or ``dask``, on a Dask
cluster) runs them and streams each finished cell back here, where it is written atomically to the store as one
Parquet file (:mod:`varbench.reports.store`), so an interrupted suite re-run with the same command skips finished
cells. This process is the store's only writer and holds its lock (:mod:`varbench.reports.store_lock`) while it
runs. Every row carries its cell's provenance and the manifest (:mod:`varbench.reports.manifest`) keeps the history
of runs; it records the config's hash and the varbench version, so results of a different config or version are
never mixed in silently.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from varbench.core.errors import VarbenchError
from varbench.engine import settings
from varbench.executors import Executor, ExecutorChoice, Outcome
from varbench.provenance import command_line, environment, now
from varbench.reports import manifest as manifest_file
from varbench.reports import schema, store, store_lock
from varbench.reports._workers import start_workers
from varbench.reports.manifest import Failure, FailureKind, Manifest, Run
from varbench.reports.confirmation import CONFIRM_FOLDER
from varbench.suite._cell import CellOutcome, CellStatus, run_cell_task
from varbench.suite._confirm import confirmation_config, flagged_families
from varbench.suite._config import config_hash, executor_of, load_config, load_config_plugins, parse_config
from varbench.suite._plan import Cell, validate_cells
from varbench.suite._precompile import CompileAhead
from varbench.suite._precompile import threads as precompile_threads
from varbench.suite._progress import progress_bar, say_on_stderr, sigterm_interrupts


@dataclasses.dataclass(frozen=True)
class _Job:
    """A validated suite, ready to run into its store."""

    config: dict[str, Any]          # as read (the manifest keeps it)
    cells: tuple[Cell, ...]
    digest: str                     # :func:`config_hash`
    quick: bool
    resume: bool
    out: Path
    executor: ExecutorChoice
    say: Callable[[str], None]
    plugins: tuple[str, ...] = ()   # resolved modules and files (a confirmation run imports the same)
    confirm: bool = False
    precompile: int = 0             # threads compiling the next cells' kernels while one runs (local executor)


def check_out(out: Any) -> Path:
    """``out`` as a Path if a result store can be created or resumed there; else a one-line error (nothing is
    created: the checks only look)."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip() or "\0" in str(out):
        raise VarbenchError(f"the result store (--out) must be a non-empty directory path; got {out!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise VarbenchError(f"--out {str(path)!r} is an existing file; give a directory (new, or a result store)")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise VarbenchError(f"--out {str(path)!r} cannot be created: {str(parent)!r} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VarbenchError(f"--out {str(path)!r} cannot be created or written: no write permission in "
                            f"{str(parent)!r}")
    return path


def run_suite(config: str | os.PathLike | Mapping[str, Any] | None = None, out: str | os.PathLike = "varbench-results",
              *, quick: bool = False, resume: bool = True, progress: Callable[[str], None] | None = None,
              report: bool = True, executor: ExecutorChoice | None = None, plugins: Sequence[str] = (),
              wait: bool = False, confirm: bool = False) -> Manifest:
    """Run (or resume) a suite into the store ``out``.

    The whole config (every cell's problem, options, params and estimators), the executor and ``out`` are checked
    before the store is created, so bad input leaves nothing on disk. Each finished cell is written atomically with
    its provenance; a cell that fails (for example with non-finite estimates) is recorded in the manifest with its
    one-line reason and the suite goes on; a cell file that cannot be read is moved aside to ``corrupt/`` and
    measured again; a cell whose worker died is measured again by another worker, and the manifest says so.

    Args:
      config: a TOML config file (default: the packaged suite, :func:`default_config_path`), or the table read
        from one.
      out: the result store's directory (created, or resumed).
      quick: the config's quick variant (its blocks' ``quick = {...}`` overrides).
      resume: skip the cells already finished in ``out``; False starts the store over.
      progress: called with each progress line (default: printed on stderr).
      report: write the report (``out/report``) at the end.
      executor: where the cells run (:class:`varbench.executors.ExecutorChoice`); None: the config's
        ``[executor]`` table, else local. A dask choice without ``workers`` or ``scheduler`` takes the table's.
      plugins: modules imported before the config is read, like the config's own ``plugins = [...]``, so their
        problems and estimators can be named in its blocks (as are the executor's ``plugins``); every Dask worker
        imports them too.
      wait: if another process writes ``out``, wait until it has finished instead of refusing.
      confirm: measure the Monte Carlo blocks × estimators flagged as biased again on fresh seeds, into
        ``out/confirm`` (:mod:`varbench.suite._confirm`); the report shows both verdicts.

    Returns:
      The store's final manifest.

    Raises:
      VarbenchError: bad input (one line naming the valid choices), a store of another config, a store locked by
        another writer.
    """
    settings.ensure_configured()  # before anything starts JAX's backend (XLA's flags are among the settings)
    raw = load_config(config)
    folder = Path(config).resolve().parent if isinstance(config, (str, os.PathLike)) else None
    modules = load_config_plugins(raw, [*plugins, *(executor.plugins if executor is not None else ())], folder)
    blocks = parse_config(raw, quick=quick)
    choice = executor_of(raw, executor, modules)
    cells, not_applicable = validate_cells(blocks)
    if len(not_applicable) == len(cells):
        first = next(iter(not_applicable.items()), None)
        raise VarbenchError("the config measures nothing: " + (
            f"no estimator applies to its problem (e.g. {first[0]}: {first[1]})" if first else "it has no cells"))
    job = _Job(raw, tuple(cells), config_hash(raw, quick), quick, resume, check_out(out), choice,
               progress or say_on_stderr, tuple(modules), confirm, precompile_threads())
    lock = store_lock.StoreLock(job.out, command=command_line(), wait=wait, on_wait=job.say)
    with sigterm_interrupts():
        _acquire(job, lock, wait)
        try:
            return _run_locked(job, lock, report)
        finally:
            lock.release()


def _acquire(job: _Job, lock: store_lock.StoreLock, wait: bool) -> None:
    """Take the store's lock, after naming a live writer and refusing a store of another config (both only
    look)."""
    try:
        if not wait:
            lock.check()
        _existing_manifest(job)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", store_lock.StaleLockWarning)
            lock.acquire()
    except store_lock.StoreLockedError as err:
        raise VarbenchError(str(err)) from None
    for warning in caught:
        job.say(f"warning: {warning.message}")


def _existing_manifest(job: _Job) -> bool:
    """Whether ``out`` holds a manifest (a damaged one counts: --no-resume overwrites it), or a one-line refusal
    if the store there cannot be resumed with this config. A store whose manifest was lost resumes: each cell file
    records its config's hash, so only this config's cells are kept (:func:`_tidy_cells`)."""
    try:
        existing = manifest_file.read(job.out)
    except manifest_file.DamagedManifestError as err:  # never resumed from, overwritten only if asked
        if job.resume:
            raise VarbenchError(_damaged_refusal(job.out, err)) from None
        return True
    if existing is not None and job.resume and existing.config_hash != job.digest:
        raise VarbenchError(
            f"{str(job.out)!r} holds results of a different config, version or --quick setting "
            f"({existing.config_hash} != {job.digest}); use --no-resume to overwrite or choose another --out")
    return existing is not None


def _damaged_refusal(out: Path, err: Exception) -> str:
    """The refusal to resume a store whose manifest is damaged: repair it, which keeps every intact cell (starting
    over is suggested only where no cell file would be lost)."""
    cells = len(store.cell_files(out))
    if cells:
        return (f"cannot resume {str(out)!r}: {err}; run that, then this command again (the {cells} cell file(s) "
                "there are kept), or choose another --out")
    return (f"cannot resume {str(out)!r}: {err}; it holds no cell files, so --no-resume loses nothing, or choose "
            "another --out")


def _run_locked(job: _Job, lock: store_lock.StoreLock, report: bool) -> Manifest:
    """The suite, with the store locked: the manifest is read again under the lock, where no other writer changes
    it."""
    existing = _existing_manifest(job)  # again: another writer may have finished meanwhile
    # The executor starts (or connects) before anything is written: a cluster that cannot be reached refuses the
    # command with the store untouched.
    with job.executor.start() as pool:
        if existing and not job.resume:
            store.clear(job.out)
        # the report's drawing workers import the drawing code while the cells run, not after them
        drawing = start_workers(job.out / "report", len({c.block.name for c in job.cells}) + 2) if report else None
        try:
            manifest = _run_cells(job, pool, lock)
        except BaseException:
            if drawing is not None:
                drawing.close()
            raise
    try:
        if job.confirm:
            _confirm_flags(job)
        if report:
            from varbench.reports.page import write_report
            write_report(job.out, started=drawing)
    finally:
        if drawing is not None:
            drawing.close()
    return manifest


def _confirm_flags(job: _Job) -> None:
    """Measure the flagged families again on fresh seeds into ``out/confirm`` (nothing to do if none is)."""
    flagged = flagged_families(job.out)
    job.say(f"confirm: {len(flagged)} block × estimator flagged as biased" + (
        f", measured again on fresh seeds into {str(job.out / CONFIRM_FOLDER)!r}" if flagged else ""))
    if flagged:
        run_suite(confirmation_config(job.config, flagged, job.quick, job.plugins), job.out / CONFIRM_FOLDER,
                  resume=False, progress=job.say, report=False, executor=job.executor)


def _tidy_cells(job: _Job) -> tuple[set[str], dict[str, str]]:
    """The keys of this config's intact cell files; entries named like cell files that are damaged (not a regular
    file, not readable Parquet, not a cell's content) are moved to ``corrupt/``, intact ones of another config
    (another key or config hash: copied in, or an unlocked writer's) to ``foreign/``: returns ``{file name: where
    it went}``. A cell file the operating system refuses to read is never moved: the run stops with a
    :class:`~varbench.reports.store.StoreAccessError` naming it."""
    own = {c.key for c in job.cells}
    found = store.scan(job.out, config_hash=job.digest)
    if found.denied:
        raise store.StoreAccessError(next(iter(found.denied.values())))
    foreign = {**found.foreign, **{job.out / store.CELLS / f"{key}.parquet": f"cell file "
                                   f"{str(job.out / store.CELLS / (key + '.parquet'))!r} is not a cell of this config"
                                   for key in sorted(set(found.good) - own)}}
    moved = {}
    for folder, entries, then in ((store.CORRUPT, found.bad, "; that cell is measured again"),
                                  (store.FOREIGN, foreign, "")):
        for path, reason in entries.items():
            target = store.move_aside(job.out, path, folder)
            moved[path.name] = str(target)
            job.say(f"warning: {reason}; moved aside to {str(target)!r}{then}")
    return set(found.good) & own, moved


def _run_cells(job: _Job, pool: Executor, lock: store_lock.StoreLock) -> Manifest:
    done, moved = _tidy_cells(job)
    try:
        previous = manifest_file.read(job.out)
    except store.StoreError:
        previous = None
    run = Run(started=now(), command=lock.command, host=socket.gethostname(), pid=os.getpid(),
              executor=pool.describe(), environment=environment(), cells_moved_aside=moved,
              took_over_lock=lock.took_over)
    manifest = Manifest.begin(previous, run, config=job.config, config_hash=job.digest, quick=job.quick,
                              cells={c.key: c.label for c in job.cells}, cells_done=len(done))
    try:  # the first write creates the store's files; check_out looked, but a mount or a race can still refuse
        manifest_file.write(job.out, manifest)
    except store.StoreAccessError as err:
        raise VarbenchError(f"cannot write the result store {str(job.out)!r}: {err}") from None
    failed_before = manifest.cells_failed  # failures that a resume keeps (Manifest.begin)
    todo = [c for c in job.cells if c.key not in done and c.label not in failed_before]
    described = manifest.run.executor
    where = "" if pool.kind == "local" else f" on {described['workers']} Dask workers ({described['scheduler']})"
    job.say(f"varbench suite: {len(job.cells)} cells, {len(job.cells) - len(todo) - len(failed_before)} already "
            f"finished in {str(job.out)!r}, {len(todo)} to run{where}" + (
                f", {len(failed_before)} failed before and not retried (use --no-resume to measure everything "
                "again)" if failed_before else ""))
    manifest = _run_todo(job, pool, manifest, todo)
    manifest = manifest.completed(now(), len({c.key for c in job.cells} & store.finished_cells(job.out)))
    manifest_file.write(job.out, manifest)
    return manifest


def _run_todo(job: _Job, pool: Executor, manifest: Manifest, todo: list[Cell]) -> Manifest:
    """Run the cells ``todo`` on ``pool``, storing each as it finishes; an interrupted run is recorded as such."""
    latest = [manifest]  # updated by _record the moment a cell file is in place, so an interrupt counts that cell
    # VARBENCH_PRECOMPILE: in this process, the next cells' kernels compile in background threads while a cell runs
    # (Dask workers each compile their own).
    ahead = CompileAhead(todo, job.precompile) if pool.kind == "local" and job.precompile else None
    try:
        with progress_bar(len(todo)) as advance:
            names = [f"cell-{c.block.name}-{c.key}" for c in todo]
            for outcome in pool.map(ahead.run if ahead else run_cell_task, todo, names=names):
                advance(_record(job, pool.kind, latest, todo[outcome.index], outcome))
    except BaseException:
        try:
            manifest_file.write(job.out, latest[0].interrupted(now()))
        except store.StoreAccessError:  # the disk that refused a cell refuses this too: the first error is the news
            pass
        raise
    finally:
        if ahead is not None:
            ahead.close()
    return latest[0]


def _record(job: _Job, executor: str, latest: list[Manifest], cell: Cell, outcome: Outcome) -> str:
    """Store one finished cell (its rows, or its failure in the manifest); ``latest[0]`` becomes the manifest that
    counts it (before the manifest file is rewritten: a SIGTERM while that is written still counts the cell).
    Returns the progress line."""
    manifest, retried = latest[0], ""
    if outcome.lost_workers:
        manifest = manifest.cell_retried(cell.label, outcome.lost_workers, outcome.attempts)
        retried = f"; retried: worker {', '.join(outcome.lost_workers)} died running it"
    if outcome.error is not None:
        latest[0] = manifest.cell_failed(cell.label, Failure(FailureKind.WORKER_DIED, str(outcome.error)))
        manifest_file.write(job.out, latest[0])
        return f"FAILED {cell.label}: {outcome.error}"
    result: CellOutcome = outcome.value
    if result.status is CellStatus.SKIPPED:
        latest[0] = manifest.cell_skipped(cell.label, result.skipped)
        return f"skipped {cell.label}: {result.skipped}"
    if result.status is CellStatus.FAILED:
        latest[0] = manifest.cell_failed(cell.label, result.failure)
        manifest_file.write(job.out, latest[0])
        return f"FAILED {cell.label}: {result.failure.text()}{retried}"
    provenance = dict(result.provenance, executor=executor, attempts=outcome.attempts, run=manifest.run.number)
    columns = {schema.provenance_column(k): v for k, v in provenance.items()}
    meta = store.CellMeta(config_hash=job.digest, config=job.config, label=cell.label, quick=job.quick,
                          cells_total=len(job.cells))  # what rebuilds a lost manifest ('varbench store repair')
    done = manifest.cell_done(cell.block.name, result.compiled, result.seconds)
    store.write_cell(job.out, cell.key, [dict(row, **columns) for row in result.rows], meta)
    latest[0] = done
    manifest_file.write(job.out, done)
    return f"done {cell.label} ({result.seconds:.1f} s{retried})"

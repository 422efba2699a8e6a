"""The result store: one Parquet file per finished cell plus a JSON manifest, written atomically.

Layout of a store directory::

    manifest.json          config, its hash, every cell's key and label, the history of runs (each run's start and
                           end, git commit, versions, host, executor, cells it finished and retried), compile counts
    cells/<key>.parquet    tidy rows of one finished cell, each row with its provenance (``prov_*`` columns)
    corrupt/               cell files that could not be read, moved aside by a resumed suite (then measured again)
    .lock                  while a suite writes: who (:mod:`varbench.reports.store_lock`)

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so a
killed run never leaves a half-written file under its final name; finished cells are exactly the Parquet files
present. A cell file damaged afterwards (a full disk, a copy cut short) is named by :func:`load` and
:func:`verify` and left out, never a reason to lose the rest. Reading needs only pandas and pyarrow (no JAX).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from varbench.reports import schema
from varbench.reports._files import StoreError, atomic_write
# The manifest is read, written and checked by varbench.reports.manifest; its plain-JSON functions keep their names
# here, where the CLI, the report page and the check battery import them.
from varbench.reports.manifest import MANIFEST
from varbench.reports.manifest import check_json as check_store
from varbench.reports.manifest import read_json as read_manifest
from varbench.reports.manifest import write_json as write_manifest

__all__ = ["CELLS", "CORRUPT", "LOCK", "MANIFEST", "StoreError", "StoreWarning", "Verification", "atomic_write",
           "cell_files", "check_store", "clear", "config_order", "describe_holder", "finished_cells", "load",
           "move_aside", "own_cells", "read_cell", "read_lock", "read_manifest", "scan_cells", "verify",
           "write_cell", "write_manifest"]

CELLS = "cells"
#: Where a resumed suite moves cell files that cannot be read (``corrupt/<name>.<UTC time>``).
CORRUPT = "corrupt"
#: The writer's lock; :mod:`varbench.reports.store_lock` takes and releases it, reading it needs only this module.
LOCK = ".lock"


class StoreWarning(UserWarning):
    """A cell file of a store was left out (unreadable, or not a cell of the store's config); the rest was read."""


def read_lock(root: str | os.PathLike) -> dict[str, Any] | None:
    """The holder recorded in ``root/.lock`` (:mod:`varbench.reports.store_lock`): a dict, ``{}`` when the file is
    there but unreadable, None when there is no lock."""
    try:
        text = (Path(root) / LOCK).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """One-line description of a lock holder, for messages: its pid, host, start time and (shortened) command.

    Args:
      holder: the holder as :func:`read_lock` returns it (``{}`` when the lock file was unreadable).

    Returns:
      Text such as ``pid 123 on host h since 2024-01-01T00:00:00 ('varbench suite ...')``.
    """
    if not holder:
        return "an unknown writer (the lock file is unreadable)"
    command = str(holder.get("command") or "?")
    command = command if len(command) <= 80 else command[:77] + "..."
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {holder.get('started', '?')} "
            f"({command!r})")


def write_cell(root: str | os.PathLike, key: str, rows: Iterable[dict[str, Any]]) -> Path:
    """Write one finished cell's rows to ``root/cells/<key>.parquet``, atomically (:func:`atomic_write`).

    Args:
      root: the store directory.
      key: the cell's key, which names the file.
      rows: the cell's tidy rows (one dict per row, provenance columns included).

    Returns:
      The path of the written file.
    """
    frame = pd.DataFrame.from_records(list(rows))
    path = Path(root) / CELLS / f"{key}.parquet"
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))
    return path


def finished_cells(root: str | os.PathLike) -> set[str]:
    """Keys of the cell files present (readable or not: :func:`scan_cells` reads them)."""
    folder = Path(root) / CELLS
    return {p.stem for p in folder.glob("*.parquet")} if folder.exists() else set()


def cell_files(root: str | os.PathLike) -> list[Path]:
    """The cell files present in the store, sorted by path (readable or not; none when ``cells/`` is missing).

    Args:
      root: the store directory.

    Returns:
      The paths of ``root/cells/*.parquet``.
    """
    folder = Path(root) / CELLS
    return sorted(folder.glob("*.parquet")) if folder.exists() else []


def read_cell(path: str | os.PathLike, *, check_key: bool = True) -> pd.DataFrame:
    """One cell file; a :class:`StoreError` naming it if it is not readable Parquet (or, with ``check_key``, if its
    rows' ``cell`` column names another cell: suite stores name each file by its cell's key)."""
    path = Path(path)
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StoreError(f"cell file {str(path)!r} is not readable Parquet ({type(err).__name__}: {reason})") from None
    if check_key and "cell" in frame and len(frame) and not (frame["cell"].astype(str) == path.stem).all():
        other = sorted(set(frame["cell"].astype(str)) - {path.stem})[0]
        raise StoreError(f"cell file {str(path)!r} holds rows of another cell ({other!r})")
    return frame


def scan_cells(root: str | os.PathLike, *, check_key: bool = True) -> tuple[dict[str, pd.DataFrame],
                                                                             dict[Path, str]]:
    """Read every cell file: ``({key: rows}, {path: why it is unreadable})`` (``check_key``: see :func:`read_cell`)."""
    good, bad = {}, {}
    for path in cell_files(root):
        try:
            good[path.stem] = read_cell(path, check_key=check_key)
        except StoreError as err:
            bad[path] = str(err)
    return good, bad


def move_aside(root: str | os.PathLike, path: str | os.PathLike, folder: str = CORRUPT) -> Path:
    """Move a cell file out of ``cells/`` into ``root/folder/<name>.<UTC time>`` (kept for inspection, never read as
    a result again); returns the new path."""
    path = Path(path)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = Path(root) / folder / f"{path.name}.{stamp}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target


def own_cells(manifest: dict[str, Any] | None) -> set[str] | None:
    """Keys of the cells of a store's config (the manifest's ``cells``), or None for a store that does not list
    them (written by ``varbench check``, or by an older varbench)."""
    cells = (manifest or {}).get("cells")
    return set(cells) if isinstance(cells, dict) else None


def clear(root: str | os.PathLike) -> None:
    """Remove a store's cells and manifest (and nothing else in the directory)."""
    root = Path(root)
    shutil.rmtree(root / CELLS, ignore_errors=True)
    (root / MANIFEST).unlink(missing_ok=True)


def load(root: str | os.PathLike) -> pd.DataFrame:
    """All finished cells of a store as one tidy DataFrame (one row per result × parameter coordinate).

    Estimators have three columns: ``estimator`` is the canonical spec, the key to group by (every option that
    differs from its default: ``rloo:samples=8``; ``rloo:samples=4`` IS ``rloo``, whose default is 4 samples, so
    the two are one estimator); ``estimator_label`` is the spec as the config spells it; ``estimator_name`` is the
    bare registered name (``rloo``), for grouping variants together on purpose.

    A cell file that cannot be read, or that is not a cell of the store's config, is left out with a
    :class:`StoreWarning` naming it (a resumed ``varbench suite`` moves an unreadable one aside and measures that
    cell again); the rest is returned."""
    root = Path(root)
    manifest = check_store(root)
    own = own_cells(manifest)
    frames = []
    for path in cell_files(root):
        if own is not None and path.stem not in own:
            warnings.warn(StoreWarning(f"cell file {str(path)!r} is not a cell of this store's config; left out "
                                       "('varbench store verify' lists such files)"), stacklevel=2)
            continue
        try:
            frames.append(read_cell(path, check_key=own is not None))
        except StoreError as err:
            warnings.warn(StoreWarning(f"{err}; left out (a resumed 'varbench suite' moves it aside and measures "
                                       "that cell again)"), stacklevel=2)
    if not frames:
        return pd.DataFrame()
    return schema.numeric(pd.concat(frames, ignore_index=True))


@dataclasses.dataclass
class Verification:
    """What :func:`verify` found: ``problems`` (each naming a file) make the store fail; ``notes`` do not."""

    root: str
    cells_ok: int
    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """True when verification found no problems (notes do not count)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (``varbench store verify --format json``), ``ok`` included."""
        return dict(root=self.root, ok=self.ok, cells_ok=self.cells_ok, problems=self.problems, notes=self.notes)


def verify(root: str | os.PathLike) -> Verification:
    """Check every cell file of the store at ``root`` and its manifest (nothing is changed).

    Problems: a cell file that is not readable Parquet, holds another cell's rows, or is not a cell of the
    manifest's config; a manifest of a finished run whose count of finished cells differs from the readable cell
    files; a run recorded as finished that lists no end time. Notes: leftover temporary files of a killed writer,
    a lock (a run in progress, or killed), runs that were interrupted, rows without provenance (older stores).
    A directory that is not a store is a :class:`StoreError`.
    """
    root = Path(root)
    manifest = check_store(root)
    own = own_cells(manifest)
    problems, notes = [], []
    good, bad = scan_cells(root, check_key=own is not None)
    problems += list(bad.values())
    if own is not None:
        for key in sorted(set(good) - own):
            problems.append(f"cell file {str(root / CELLS / (key + '.parquet'))!r} is not a cell of this store's "
                            "config (another writer's?)")
        mine = set(good) & own
    else:
        mine = set(good)
    done = manifest.get("cells_done")
    runs = manifest.get("runs") if isinstance(manifest.get("runs"), list) else []
    finished = manifest.get("finished") is not None
    present = mine | ({p.stem for p in bad} & own if own is not None else {p.stem for p in bad})
    if finished and isinstance(done, int) and done != len(present):
        problems.append(f"{str(root / MANIFEST)!r} says {done} cells finished; {len(present)} cell files of its "
                        "config are present (one was deleted, or the manifest is not this store's)")
    for run in runs:
        if isinstance(run, dict) and run.get("status") == "interrupted":
            notes.append(f"run {run.get('run')} (started {run.get('started')}) was interrupted; a resume went on")
    tmp = sorted(p.name for p in (root / CELLS).glob(".*.tmp")) if (root / CELLS).exists() else []
    if tmp:
        notes.append(f"{len(tmp)} temporary file(s) of a killed writer in {str(root / CELLS)!r} (never read; safe to "
                     "delete)")
    holder = read_lock(root)
    if holder is not None:
        notes.append(f"locked by {describe_holder(holder)}: a run is in progress, or was killed")
    without = sorted(k for k, f in good.items() if not any(c.startswith(schema.PROVENANCE_PREFIX) for c in f))
    if without:
        notes.append(f"{len(without)} cell file(s) without provenance columns (written by an older varbench)")
    if (root / CORRUPT).is_dir():
        moved = sorted(p.name for p in (root / CORRUPT).iterdir())
        if moved:
            notes.append(f"{len(moved)} file(s) moved aside in {str(root / CORRUPT)!r} earlier")
    return Verification(str(root), len(mine), problems, notes)


def config_order(manifest: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The block names of a store's config in order, and each block's estimators in order (``--quick`` overrides
    applied as the suite applied them), so tables follow the config rather than file names."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    blocks = [b for b in config.get("block", []) if isinstance(b, dict) and isinstance(b.get("name"), str)]
    estimators = {}
    for b in blocks:
        quick = b.get("quick") if manifest.get("quick") and isinstance(b.get("quick"), dict) else {}
        names = quick.get("estimators", b.get("estimators", []))
        driver = (quick.get("trace") or b.get("trace") or {}).get("drivers", []) if b.get("kind") == "trace" else []
        estimators[b["name"]] = [str(e) for e in list(names) + list(driver)]
    return [b["name"] for b in blocks], estimators

"""The result store: one Parquet file per finished cell plus a JSON manifest, written atomically.

Layout of a store directory::

    manifest.json          config, its hash, every cell's key and label, the history of runs (each run's start and
                           end, git commit, versions, host, executor, cells it finished and retried), compile counts
    cells/<key>.parquet    tidy rows of one finished cell, each row with its provenance (``prov_*`` columns)
    corrupt/               cell files that could not be read, moved aside by a resumed suite (then measured again)
                           or by ``varbench store repair``
    foreign/               intact cell files of another config, moved aside likewise
    .lock                  while a suite writes: who (:mod:`varbench.reports.store_lock`)

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so a
killed run never leaves a half-written file under its final name; finished cells are exactly the Parquet files
present. A cell file damaged afterwards (a full disk, a copy cut short) is named by :func:`load` and
:func:`verify` and left out, never a reason to lose the rest. Each cell file also records its config and the
config's hash (:mod:`varbench.reports.store_cells`), so that ``varbench store repair``
(:mod:`varbench.reports.store_repair`) rebuilds a damaged or lost manifest from the cells. The manifest's schema is
checked on every read (:mod:`varbench.reports.manifest_schema`). An operating-system fault (no permission, a full
disk) is a one-line :class:`StoreAccessError` naming the path. Reading needs only pandas and pyarrow (no JAX).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from varbench.reports import schema
from varbench.reports._files import StoreAccessError, StoreError, atomic_write
# Cell files are written, read and checked by varbench.reports.store_cells; their functions keep their names here.
from varbench.reports.store_cells import (CELLS, CORRUPT, FOREIGN, CellMeta, cell_files, finished_cells, move_aside,
                                          read_cell, read_cell_meta, scan, write_cell)
# The manifest is read, written and checked by varbench.reports.manifest; its plain-JSON functions keep their names
# here, where the CLI, the report page and the check battery import them.
from varbench.reports.manifest import MANIFEST, DamagedManifestError
from varbench.reports.manifest import check_json as check_store
from varbench.reports.manifest import read_json as read_manifest
from varbench.reports.manifest import write_json as write_manifest

__all__ = ["CELLS", "CORRUPT", "FOREIGN", "LOCK", "MANIFEST", "CellMeta", "DamagedManifestError",
           "StoreAccessError", "StoreError", "StoreWarning", "Verification", "atomic_write", "cell_files",
           "check_store", "clear", "config_order", "describe_holder", "finished_cells", "load", "move_aside",
           "own_cells", "read_cell", "read_cell_meta", "read_lock", "read_manifest", "scan", "scan_cells", "verify",
           "write_cell", "write_manifest"]

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


def scan_cells(root: str | os.PathLike, *, check_key: bool = True) -> tuple[dict[str, pd.DataFrame],
                                                                             dict[Path, str]]:
    """Read every cell file: ``({key: rows}, {path: why it cannot be read})`` (``check_key``: see :func:`read_cell`;
    :func:`scan` tells damaged files from those the operating system refused to read)."""
    found = scan(root, check_key=check_key)
    return found.good, {**found.bad, **found.denied}


def own_cells(manifest: dict[str, Any] | None) -> set[str] | None:
    """Keys of the cells of a store's config (the manifest's ``cells``), or None for a store that does not list
    them (written by ``varbench check``, or by an older varbench)."""
    cells = (manifest or {}).get("cells")
    return set(cells) if isinstance(cells, dict) else None


def clear(root: str | os.PathLike) -> None:
    """Remove a store's cells and manifest (and nothing else in the directory)."""
    root = Path(root)
    shutil.rmtree(root / CELLS, ignore_errors=True)
    if (root / MANIFEST).is_dir() and not (root / MANIFEST).is_symlink():  # a damaged store's, overwritten as asked
        shutil.rmtree(root / MANIFEST, ignore_errors=True)
    (root / MANIFEST).unlink(missing_ok=True)


def load(root: str | os.PathLike) -> pd.DataFrame:
    """All finished cells of a store as one tidy DataFrame (one row per result × parameter coordinate).

    Estimators have three columns: ``estimator`` is the canonical spec, the key to group by (every option that
    differs from its default: ``rloo:samples=8``; ``rloo:samples=4`` IS ``rloo``, whose default is 4 samples, so
    the two are one estimator); ``estimator_label`` is the spec as the config spells it; ``estimator_name`` is the
    bare registered name (``rloo``), for grouping variants together on purpose.

    A cell file that cannot be read, whose content is not a cell's, or that is not a cell of the store's config
    (another key, or another config hash), is left out with a :class:`StoreWarning` naming it (a resumed
    ``varbench suite`` moves it aside and measures that cell again); the rest is returned."""
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
            frame, meta = read_cell_meta(path, check_key=own is not None)
        except StoreError as err:
            warnings.warn(StoreWarning(f"{err}; left out (a resumed 'varbench suite' moves it aside and measures "
                                       "that cell again)"), stacklevel=2)
            continue
        if meta.config_hash is not None and meta.config_hash != manifest["config_hash"]:
            warnings.warn(StoreWarning(f"cell file {str(path)!r} was measured for another config (hash "
                                       f"{meta.config_hash}); left out"), stacklevel=2)
            continue
        frames.append(frame)
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


def _readable_manifest(root: Path, problems: list[str]) -> dict[str, Any] | None:
    """The store's manifest; None, with the problem noted, if it is damaged, lost while cell files remain, or
    refused by the operating system (the cells are checked all the same). A directory that holds neither a
    manifest nor cell files is not a store (:class:`StoreError`)."""
    try:
        return check_store(root)
    except (DamagedManifestError, StoreAccessError) as err:
        problems.append(str(err))
    return None


def verify(root: str | os.PathLike) -> Verification:
    """Check every cell file of the store at ``root`` and its manifest (nothing is changed).

    Problems: a manifest that is damaged (not JSON, a field of the wrong type) or lost while cell files remain; a
    cell file that is not a regular file, not readable Parquet, lacks a column every cell row has or holds values of
    the wrong type there (:mod:`varbench.reports.store_cells`), holds another cell's rows, records another config
    hash than the manifest's, or is not a cell of the manifest's config; a manifest of a finished run whose count
    of finished cells differs from the cell files. Notes: leftover temporary files of a killed writer, a lock (a run
    in progress, or killed), runs that were interrupted, rows without provenance (older stores).

    Args:
      root: the store's directory.

    Returns:
      What was found (:class:`Verification`).

    Raises:
      StoreError: ``root`` is not a store (not a directory, or neither a manifest nor cell files in it).
    """
    root = Path(root)
    problems: list[str] = []
    manifest = _readable_manifest(root, problems)
    own = own_cells(manifest)
    found = scan(root, check_key=None if manifest is None else own is not None,
                 config_hash=None if manifest is None else manifest["config_hash"])
    damaged = {**found.bad, **found.denied, **found.foreign}
    problems += list(damaged.values())
    for key in sorted(set(found.good) - own if own is not None else ()):
        problems.append(f"cell file {str(root / CELLS / (key + '.parquet'))!r} is not a cell of this store's "
                        "config (another writer's?)")
    mine = set(found.good) & own if own is not None else set(found.good)
    present = mine | {p.stem for p in damaged if own is None or p.stem in own}
    done = (manifest or {}).get("cells_done")
    if manifest is not None and manifest.get("finished") is not None and done is not None and done != len(present):
        problems.append(f"{str(root / MANIFEST)!r} says {done} cells finished; {len(present)} cell files of its "
                        "config are present (one was deleted, or the manifest is not this store's)")
    return Verification(str(root), len(mine), problems, _notes(root, manifest, found.good))


def _notes(root: Path, manifest: dict[str, Any] | None, good: dict[str, pd.DataFrame]) -> list[str]:
    """What :func:`verify` notes without failing the store."""
    notes = [f"run {run.get('run')} (started {run.get('started')}) was interrupted; a resume went on"
             for run in (manifest or {}).get("runs", []) if run.get("status") == "interrupted"]
    tmp = sorted(p.name for p in (root / CELLS).glob(".*.tmp")) if (root / CELLS).is_dir() else []
    if tmp:
        notes.append(f"{len(tmp)} temporary file(s) of a killed writer in {str(root / CELLS)!r} (never read; safe to "
                     "delete)")
    holder = read_lock(root)
    if holder is not None:
        notes.append(f"locked by {describe_holder(holder)}: a run is in progress, or was killed")
    without = sorted(k for k, f in good.items() if not any(c.startswith(schema.PROVENANCE_PREFIX) for c in f))
    if without:
        notes.append(f"{len(without)} cell file(s) without provenance columns (written by an older varbench)")
    for folder in (CORRUPT, FOREIGN):
        moved = sorted(p.name for p in (root / folder).iterdir()) if (root / folder).is_dir() else []
        if moved:
            notes.append(f"{len(moved)} file(s) moved aside in {str(root / folder)!r} earlier")
    return notes


def config_order(manifest: dict[str, Any]) -> tuple[list[str], dict[str, list[str]]]:
    """The block names of a store's config in order, and each block's estimators in order (``--quick`` overrides
    applied as the suite applied them), so tables follow the config rather than file names."""
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    blocks = [b for b in config.get("block", []) if isinstance(b, dict) and isinstance(b.get("name"), str)]
    estimators = {}
    def listed(value: Any) -> list[Any]:  # the manifest's schema leaves the config's own values unchecked
        return value if isinstance(value, list) else []

    for b in blocks:
        quick = b.get("quick") if manifest.get("quick") and isinstance(b.get("quick"), dict) else {}
        names = quick.get("estimators", b.get("estimators", []))
        trace = quick.get("trace") or b.get("trace") or {}
        driver = trace.get("drivers", []) if b.get("kind") == "trace" and isinstance(trace, dict) else []
        estimators[b["name"]] = [str(e) for e in listed(names) + listed(driver)]
    return [b["name"] for b in blocks], estimators

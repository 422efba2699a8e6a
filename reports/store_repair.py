"""``varbench store repair``: make a damaged result store usable again without losing an intact cell.

What it mends, with the store locked (:mod:`varbench.reports.store_lock`) so that no suite writes meanwhile:

- a manifest that is damaged (cut short, not JSON, a field of the wrong type) or lost: moved aside to ``corrupt/``
  and rebuilt from the cell files, each of which records its config and the config's hash
  (:mod:`varbench.reports.store_cells`): the config most cells record, the cells present, and a run record with
  status ``repaired``. A resume (the same ``varbench suite`` command) then measures whatever is missing;
- cell files that are damaged (not a regular file, not readable Parquet, not a cell's content) are moved aside to
  ``corrupt/``, intact ones of another config to ``foreign/``; every intact cell of the config stays where it is;
- an intact manifest whose count of finished cells no longer matches the cell files is brought in line (and no
  longer says the suite finished: a resume measures the missing cells);
- temporary files of a killed writer are deleted.

Needs no JAX.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from varbench.reports import manifest as manifest_file
from varbench.reports import manifest_schema, store, store_lock
from varbench.reports.manifest import CheckManifest, Manifest, Run, RunStatus

__all__ = ["Repair", "repair"]


@dataclasses.dataclass
class Repair:
    """What :func:`repair` did (``actions``, one line each) and the store's verification afterwards."""

    actions: list[str]
    verification: store.Verification

    @property
    def ok(self) -> bool:
        """Whether the store is usable afterwards (its verification found no problem)."""
        return self.verification.ok

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (``varbench store repair --format json``)."""
        return dict(actions=self.actions, **self.verification.to_dict())


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def repair(root: str | os.PathLike, *, command: str = "") -> Repair:
    """Repair the result store at ``root`` (see the module's description); a store with nothing to mend is left
    unchanged.

    Args:
      root: the store's directory.
      command: what repairs it, as the lock and the run record show it.

    Returns:
      What was done, and the verification afterwards (:attr:`Repair.ok`: the store is usable).

    Raises:
      StoreError: ``root`` is not a store (neither a manifest nor cell files), or another writer holds its lock.
      StoreAccessError: the operating system refused to read or write a file (nothing intact is lost).
    """
    root = Path(root)
    if not root.is_dir() or not (os.path.lexists(root / store.MANIFEST) or store.cell_files(root)):
        raise store.StoreError(f"{str(root)!r} is not a varbench result store (neither a {store.MANIFEST} nor cell "
                               "files); nothing to repair")
    lock = store_lock.StoreLock(root, command=command)
    try:
        lock.acquire()
    except OSError as err:  # a read-only store: nothing can be mended there
        raise store.StoreAccessError.of(err, "lock the result store", root / store.LOCK) from None
    try:
        actions = _repair_locked(root, command)
    finally:
        lock.release()
    return Repair(actions, store.verify(root))


def _repair_locked(root: Path, command: str) -> list[str]:
    actions: list[str] = []
    try:
        manifest, damage = manifest_file.read_json(root), None
    except store.DamagedManifestError as err:
        manifest, damage = None, str(err)
    own = store.own_cells(manifest)
    found = store.scan(root, check_key=None if manifest is None else own is not None,
                       config_hash=None if manifest is None else manifest["config_hash"])
    if found.denied:  # never guess about a file that cannot be read: nothing has been changed yet
        raise store.StoreAccessError(next(iter(found.denied.values())))
    moved = _move(root, store.CORRUPT, found.bad, actions)
    if manifest is None:
        chosen = _chosen_hash(found.meta)
        if chosen is None:
            actions.append("cannot rebuild the manifest: no intact cell file records its config (cells written by an "
                           "older varbench do not)")
            return actions
        foreign = {root / store.CELLS / f"{k}.parquet": f"cell file of another config (hash {m.config_hash})"
                   for k, m in found.meta.items() if m.config_hash not in (None, chosen)}
        moved.update(_move(root, store.FOREIGN, foreign, actions))
        kept = {k: f for k, f in found.good.items() if (root / store.CELLS / f"{k}.parquet") not in foreign}
        if os.path.lexists(root / store.MANIFEST):
            target = store.move_aside(root, root / store.MANIFEST)
            why = (damage or "").removesuffix(f"; {manifest_schema.repair_hint(root)}")
            actions.append(f"moved the damaged manifest aside to {str(target)!r} ({why})")
        rebuilt = _rebuilt(root, kept, found.meta, chosen, Run(**_run_fields(command, moved)))
        manifest_file.write(root, rebuilt)
        actions.append(f"rebuilt {str(root / store.MANIFEST)!r} from {len(kept)} intact cell file(s) (config hash "
                       f"{chosen})")
    else:
        foreign = {**found.foreign, **{root / store.CELLS / f"{k}.parquet": "not a cell of this store's config"
                                       for k in sorted(set(found.good) - own)}} if own is not None else found.foreign
        moved.update(_move(root, store.FOREIGN, foreign, actions))
        if own is not None:
            _recount(root, manifest, own, Run(**_run_fields(command, moved)), actions)
    _remove_temporary(root, actions)
    return actions


def _move(root: Path, folder: str, entries: dict[Path, str], actions: list[str]) -> dict[str, str]:
    """Move ``entries`` (path -> why) aside into ``folder``; returns ``{file name: where it went}``."""
    moved = {}
    for path, why in entries.items():
        target = store.move_aside(root, path, folder)
        moved[path.name] = str(target)
        actions.append(f"moved {str(path)!r} aside to {str(target)!r}: {why}")
    return moved


def _chosen_hash(metas: dict[str, store.CellMeta]) -> str | None:
    """The config hash most intact cell files record (ties: the one seen first in key order); None if none does."""
    counts = Counter(m.config_hash for _, m in sorted(metas.items()) if m.config_hash is not None)
    return counts.most_common(1)[0][0] if counts else None


def _run_fields(command: str, moved: dict[str, str]) -> dict[str, Any]:
    """The run record of a repair: not a run of the suite, which the status says."""
    now = _now()
    return dict(started=now, finished=now, command=command or "varbench store repair", host=socket.gethostname(),
                pid=os.getpid(), executor={}, environment={}, status=RunStatus.REPAIRED, cells_moved_aside=moved)


def _environment(frames: list[pd.DataFrame]) -> dict[str, Any]:
    """The environment the first cell's provenance columns record (versions, commit, backend)."""
    first = frames[0] if frames else pd.DataFrame()
    names = ("git_commit", "varbench_version", "jax_version", "backend")
    return {n: str(first[f"prov_{n}"].iloc[0]) for n in names if f"prov_{n}" in first and len(first)}


def _rebuilt(root: Path, kept: dict[str, pd.DataFrame], metas: dict[str, store.CellMeta], chosen: str,
             run: Run) -> Manifest | CheckManifest:
    """The manifest the cells of config ``chosen`` record (a check store's report comes from its ``check.json``)."""
    meta = next(m for _, m in sorted(metas.items()) if m.config_hash == chosen)
    if meta.kind == "check":
        try:
            check = json.loads((root / "check.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            check = None
        return CheckManifest(config=dict(meta.config or {}), config_hash=chosen,
                             check=check if isinstance(check, dict) else {}, environment={})
    frames = [kept[k] for k in sorted(kept)]
    starts = [str(v) for f in frames if "prov_started" in f for v in f["prov_started"].dropna()]
    labels = {k: (metas[k].label if k in metas and metas[k].label else k) for k in sorted(kept)}
    return Manifest(config=dict(meta.config or {}), config_hash=chosen, quick=meta.quick,
                    started=min(starts) if starts else None, environment=_environment(frames),
                    runs=(dataclasses.replace(run, number=1),), cells=labels,
                    cells_total=max(meta.cells_total or 0, len(labels)), cells_done=len(labels))


def _recount(root: Path, manifest: dict[str, Any], own: set[str], run: Run, actions: list[str]) -> None:
    """Bring an intact suite manifest's count of finished cells in line with the cell files present."""
    present = store.finished_cells(root) & own
    done = manifest.get("cells_done")
    if done == len(present) and not run.cells_moved_aside:
        return
    previous = Manifest.from_json(manifest)
    run = dataclasses.replace(run, number=len(previous.runs) + 1)
    fixed = dataclasses.replace(previous, cells_done=len(present), runs=previous.runs + (run,),
                                finished=None if done != len(present) else previous.finished)
    manifest_file.write(root, fixed)
    actions.append(f"{str(root / store.MANIFEST)!r}: {len(present)} cell(s) of its config finished (it said {done})"
                   + ("; a resume measures the missing ones" if done != len(present) else ""))


def _remove_temporary(root: Path, actions: list[str]) -> None:
    """Delete the temporary files of a killed writer (never read; the lock says no writer is alive)."""
    tmp = sorted((root / store.CELLS).glob(".*.tmp")) if (root / store.CELLS).is_dir() else []
    for path in tmp:
        try:
            path.unlink()
        except OSError as err:
            raise store.StoreAccessError.of(err, "delete the temporary file", path) from None
    if tmp:
        actions.append(f"deleted {len(tmp)} temporary file(s) of a killed writer in {str(root / store.CELLS)!r}")

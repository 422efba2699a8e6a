"""The result store: one Parquet file per finished cell plus a JSON manifest, written atomically.

Layout of a store directory::

    manifest.json          config, its hash, versions, backend, device, git commit, times, compile counts
    cells/<key>.parquet    tidy rows of one finished cell

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so a
killed run never leaves a half-written file under its final name; finished cells are exactly the Parquet files
present. Reading needs only pandas and pyarrow (no JAX).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from varbench.reports import schema

MANIFEST = "manifest.json"
CELLS = "cells"


class StoreError(ValueError):
    """A directory is not a readable result store (reported to people as one line)."""


def atomic_write(path: str | os.PathLike, write: Any, suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a fresh file beside ``path``, then move it into place with ``os.replace``.

    A killed or failing writer never leaves a truncated file under ``path``, and writing again replaces it. The
    temporary name is hidden, unique and in the same directory (so the move is atomic) and ends in ``suffix``
    (writers such as ``np.savez`` append an extension unless the name already has it). It is created with
    ``O_EXCL`` and mode 0o666, so the umask applies as for any file (``tempfile.mkstemp``'s 0o600 would hide
    results from co-workers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{uuid.uuid4().hex}{suffix}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_manifest(root: str | os.PathLike, manifest: dict[str, Any]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=2, default=str)
    atomic_write(Path(root) / MANIFEST, write)


def read_manifest(root: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of the store at ``root``; None if there is none; a :class:`StoreError` if it is not a JSON
    object (a truncated or foreign file)."""
    path = Path(root) / MANIFEST
    if not path.exists():
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StoreError(f"{str(path)!r} is not a readable varbench manifest ({type(err).__name__}); "
                         "run 'varbench suite' to write a store") from None
    if not isinstance(manifest, dict):
        raise StoreError(f"{str(path)!r} is not a varbench manifest (a JSON object); run 'varbench suite'")
    return manifest


def check_store(root: str | os.PathLike, *, need_blocks: bool = False) -> dict[str, Any]:
    """The manifest of the result store at ``root``, or a one-line :class:`StoreError` saying why ``root`` is not
    one: not a directory, no manifest, an unreadable one, or one without the config hash that every store's
    manifest has (``need_blocks``: nor the config's blocks, which a report is organised by)."""
    root = Path(root)
    if not root.is_dir():
        raise StoreError(f"{str(root)!r} is not a varbench result store (not a directory); run 'varbench suite'")
    manifest = read_manifest(root)
    if manifest is None:
        raise StoreError(f"{str(root)!r} is not a varbench result store (no {MANIFEST}); run 'varbench suite'")
    config = manifest.get("config")
    blocks = config.get("block") if isinstance(config, dict) else None
    named = isinstance(blocks, list) and all(isinstance(b, dict) and isinstance(b.get("name"), str) for b in blocks)
    if "config_hash" not in manifest or (need_blocks and not named):
        raise StoreError(f"{str(root / MANIFEST)!r} is not the manifest of a varbench result store (it lacks "
                         f"{'the config hash' if 'config_hash' not in manifest else 'the config blocks'}); run "
                         "'varbench suite'")
    return manifest


def write_cell(root: str | os.PathLike, key: str, rows: Iterable[dict[str, Any]]) -> Path:
    frame = pd.DataFrame.from_records(list(rows))
    path = Path(root) / CELLS / f"{key}.parquet"
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow", index=False))
    return path


def finished_cells(root: str | os.PathLike) -> set[str]:
    folder = Path(root) / CELLS
    return {p.stem for p in folder.glob("*.parquet")} if folder.exists() else set()


def clear(root: str | os.PathLike) -> None:
    """Remove a store's cells and manifest (and nothing else in the directory)."""
    root = Path(root)
    shutil.rmtree(root / CELLS, ignore_errors=True)
    (root / MANIFEST).unlink(missing_ok=True)


def load(root: str | os.PathLike) -> pd.DataFrame:
    """All finished cells of a store as one tidy DataFrame (one row per result × parameter coordinate)."""
    root = Path(root)
    check_store(root)
    files = sorted((root / CELLS).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    frames = []
    for f in files:
        try:
            frames.append(pd.read_parquet(f, engine="pyarrow"))
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise StoreError(f"cell file {str(f)!r} is not readable Parquet ({type(err).__name__}); delete it and "
                             "re-run 'varbench suite' to measure that cell again") from None
    return schema.numeric(pd.concat(frames, ignore_index=True))


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

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
    path = Path(root) / MANIFEST
    if not path.exists():
        return None
    with open(path) as fh:
        return json.load(fh)


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
    if read_manifest(root) is None:
        raise StoreError(f"{str(root)!r} is not a varbench result store (no {MANIFEST}); run 'varbench suite'")
    files = sorted((root / CELLS).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f, engine="pyarrow") for f in files], ignore_index=True)

"""The cell files of a result store (``cells/<key>.parquet``): written atomically with what rebuilds the manifest,
read with their content checked.

Each cell file carries, in its Parquet key-value metadata, its config's hash (``varbench.config_hash``), the config
itself as JSON (``varbench.config``) and the cell's label, ``--quick`` setting and kind (``varbench.cell``), so a
store whose manifest is lost can be rebuilt from its cells (:mod:`varbench.reports.store_repair`). Cells written by
an older varbench have none of it and still load.

A cell file is intact when it is a regular file of readable Parquet whose rows have the columns every cell row has
(:data:`ROW_COLUMNS`, and those of a measurement or a trace row) with values of the right types, whose ``cell``
column is its key, and whose config hash, if it records one, is its store's. Needs no JAX.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from varbench.reports._files import StoreAccessError, StoreError, atomic_write

__all__ = ["CELLS", "CORRUPT", "FOREIGN", "CellMeta", "Scan", "cell_files", "finished_cells", "move_aside",
           "read_cell", "read_cell_meta", "scan", "write_cell"]

CELLS = "cells"
#: Where cell files that cannot be read are moved (``corrupt/<name>.<UTC time>``), then measured again.
CORRUPT = "corrupt"
#: Where intact cell files of another config are moved.
FOREIGN = "foreign"
#: Parquet key-value metadata of a cell file.
META_HASH, META_CONFIG, META_CELL = b"varbench.config_hash", b"varbench.config", b"varbench.cell"


@dataclasses.dataclass(frozen=True)
class CellMeta:
    """What a cell file says about its store: enough to rebuild a lost manifest (all None for older cells)."""

    config_hash: str | None = None
    config: Mapping[str, Any] | None = None
    label: str | None = None        # the cell's label (``block · estimator · seed 0``)
    quick: bool = False
    kind: str = "suite"             # "suite", or "check" for a store that ``varbench check`` wrote
    cells_total: int | None = None  # how many cells the config has

    def metadata(self) -> dict[bytes, bytes]:
        """The Parquet key-value metadata that holds it (none for an empty one)."""
        if self.config_hash is None:
            return {}
        cell = dict(label=self.label, quick=self.quick, kind=self.kind, cells_total=self.cells_total)
        return {META_HASH: self.config_hash.encode(), META_CONFIG: json.dumps(self.config, default=str).encode(),
                META_CELL: json.dumps(cell).encode()}

    @classmethod
    def parse(cls, metadata: Mapping[bytes, bytes] | None) -> CellMeta:
        """The meta a file's key-value metadata holds (empty for an older cell); a ValueError if it is damaged."""
        metadata = metadata or {}
        if META_HASH not in metadata:
            return cls()
        config, cell = json.loads(metadata.get(META_CONFIG, b"null")), json.loads(metadata.get(META_CELL, b"{}"))
        total = cell.get("cells_total") if isinstance(cell, dict) else None
        if not isinstance(config, dict) or not isinstance(cell, dict) or not isinstance(cell.get("kind", ""), str) \
                or not (total is None or (isinstance(total, int) and not isinstance(total, bool))):
            raise ValueError("its varbench metadata is damaged")
        label = cell.get("label")
        return cls(config_hash=metadata[META_HASH].decode(), config=config,
                   label=label if isinstance(label, str) else None, quick=cell.get("quick") is True,
                   kind=cell.get("kind", "suite"), cells_total=total)


def write_cell(root: str | os.PathLike, key: str, rows: Iterable[dict[str, Any]], meta: CellMeta | None = None) -> Path:
    """Write one finished cell's rows to ``root/cells/<key>.parquet``, atomically (:func:`atomic_write`).

    Args:
      root: the store directory.
      key: the cell's key, which names the file.
      rows: the cell's tidy rows (one dict per row, provenance columns included).
      meta: what the file records about its store (:class:`CellMeta`), in its Parquet metadata.

    Returns:
      The path of the written file.

    Raises:
      StoreAccessError: the operating system refused the write (no permission, a full disk); nothing is left under
        the file's name, and the other cells are untouched.
    """
    table = pa.Table.from_pandas(pd.DataFrame.from_records(list(rows)), preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **(meta or CellMeta()).metadata()})
    path = Path(root) / CELLS / f"{key}.parquet"
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    except OSError as err:
        raise StoreAccessError.of(err, "write the cell file", path) from None
    return path


def cell_files(root: str | os.PathLike) -> list[Path]:
    """Every entry of ``root/cells`` named like a cell file, sorted (regular files or not, readable or not).

    Args:
      root: the store directory.

    Returns:
      The paths of ``root/cells/*.parquet`` (none when ``cells/`` is missing).
    """
    folder = Path(root) / CELLS
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def finished_cells(root: str | os.PathLike) -> set[str]:
    """Keys of the cell files present: regular files (readable or not: :func:`scan` reads them)."""
    return {p.stem for p in cell_files(root) if _regular(p)}


def _what(path: Path) -> str:
    """What a non-regular entry is, for messages."""
    mode = os.lstat(path).st_mode
    return next((name for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
                                         (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))
                 if test(mode)), "not a regular file")


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}".rstrip(": ")


def _open(path: Path) -> tuple[pd.DataFrame, CellMeta]:
    """A cell file's rows and meta: a :class:`StoreError` if it is damaged, a :class:`StoreAccessError` if the
    operating system refuses to read it."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):  # never opened: a pipe would block, a directory reads as empty
            raise StoreError(f"cell file {str(path)!r} is {_what(path)}, not a regular file")
        fh = open(path, "rb")
    except FileNotFoundError:
        raise StoreError(f"cell file {str(path)!r} vanished while it was read") from None
    except OSError as err:
        raise StoreAccessError.of(err, "read the cell file", path) from None
    with fh:
        try:  # the file is open: whatever goes wrong now is its content
            meta = CellMeta.parse(pq.read_schema(fh).metadata)
            fh.seek(0)
            frame = pd.read_parquet(fh, engine="pyarrow")
        except Exception as err:  # noqa: BLE001 - pyarrow's and pandas' errors for damaged files are many
            raise StoreError(f"cell file {str(path)!r} is not readable Parquet ({_reason(err)})") from None
    return frame, meta


# --- the content of a cell: required columns and their types ------------------------------------------------------
def _values(column: pd.Series, test: Callable[[Any], bool]) -> bool:
    return all(test(v) for v in column.dropna())


def _text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype) and (column.dtype != object or _values(
        column, lambda v: isinstance(v, str)))


def _integer(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column.dtype):
        return False
    return pd.api.types.is_integer_dtype(column.dtype) or (column.dtype == object and _values(
        column, lambda v: isinstance(v, int) and not isinstance(v, bool)))


def _number(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column.dtype):
        return False
    return pd.api.types.is_numeric_dtype(column.dtype) or (column.dtype == object and _values(
        column, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)))


TEXT, INTEGER, NUMBER = (_text, "text"), (_integer, "integers"), (_number, "numbers")
#: Columns every cell row has (:func:`varbench.reports.schema.measurement_rows` and ``trace_rows``).
ROW_COLUMNS = {"block": TEXT, "cell": TEXT, "estimator": TEXT, "estimator_label": TEXT, "estimator_name": TEXT,
               "problem": TEXT, "method": TEXT}
#: Columns a measurement row has (one per result × parameter coordinate: :func:`varbench.reports.schema.records`).
MEASUREMENT_COLUMNS = {"param": TEXT, "coordinate": TEXT, "point": INTEGER, "grad_mean": NUMBER, "variance": NUMBER}
#: Columns a trace row has (it carries ``trace_seed``).
TRACE_COLUMNS = {"step": INTEGER, "trace_seed": INTEGER, "total_variance": NUMBER}
#: Columns that, where present, hold numbers (missing values allowed).
NUMERIC_COLUMNS = ("grad_se", "grad_exact", "bias", "bias_z", "snr", "mse", "variance_lo", "variance_hi",
                   "total_variance", "objective_exact", "param_value", "num_samples", "seed")


def content_problem(frame: pd.DataFrame, key: str, *, check_key: bool = True) -> str | None:
    """What is wrong with the rows of the cell file named ``key`` (None when nothing is).

    Args:
      frame: its rows.
      key: its file name's stem.
      check_key: whether its rows' ``cell`` column must be ``key`` (suite stores name each file by its cell).

    Returns:
      A fragment such as ``lacks the column 'grad_mean' of a measurement row``, or None.
    """
    if frame.empty:
        return "holds no rows"
    required = {**ROW_COLUMNS, **(TRACE_COLUMNS if "trace_seed" in frame else MEASUREMENT_COLUMNS)}
    for name, (test, kind) in required.items():
        if name not in frame:
            return f"lacks the column {name!r} of a {'trace' if 'trace_seed' in frame else 'measurement'} row"
        if not test(frame[name]):
            return f"holds other values than {kind} in its column {name!r}"
    for name in NUMERIC_COLUMNS:
        if name in frame and name not in required and not _number(frame[name]):
            return f"holds other values than numbers in its column {name!r}"
    if check_key and not (frame["cell"] == key).all():
        other = sorted(set(frame["cell"].dropna().astype(str)) - {key}) or ["a missing value"]
        return f"holds rows of another cell ({other[0]!r})"
    return None


def read_cell_meta(path: str | os.PathLike, *, check_key: bool | None = True) -> tuple[pd.DataFrame, CellMeta]:
    """One cell file's rows and meta, its content checked (:func:`content_problem`).

    Args:
      path: the cell file.
      check_key: whether its rows' ``cell`` column must be its name's stem; None: unless the file says that
        ``varbench check`` wrote it (whose cell files hold one block each, their rows named by measurement).

    Returns:
      Its rows and its :class:`CellMeta`.

    Raises:
      StoreError: it is not a regular file, not readable Parquet, or its content is not a cell's (one line naming
        the file).
      StoreAccessError: the operating system refused to read it.
    """
    path = Path(path)
    frame, meta = _open(path)
    problem = content_problem(frame, path.stem, check_key=meta.kind != "check" if check_key is None else check_key)
    if problem:
        raise StoreError(f"cell file {str(path)!r} {problem}")
    return frame, meta


def read_cell(path: str | os.PathLike, *, check_key: bool = True) -> pd.DataFrame:
    """One cell file's rows (:func:`read_cell_meta` without the meta)."""
    return read_cell_meta(path, check_key=check_key)[0]


@dataclasses.dataclass
class Scan:
    """Every cell file of a store, read: intact ones (``good``, with their ``meta``), damaged ones (``bad``: path
    -> why), those of another config (``foreign``: path -> why) and those the operating system refused to read
    (``denied``: path -> the error's one line)."""

    good: dict[str, pd.DataFrame]
    meta: dict[str, CellMeta]
    bad: dict[Path, str]
    foreign: dict[Path, str]
    denied: dict[Path, str]


def scan(root: str | os.PathLike, *, check_key: bool | None = True, config_hash: str | None = None) -> Scan:
    """Read every cell file of the store at ``root``.

    Args:
      root: the store directory.
      check_key: whether each file's rows must name it (suite stores; None: see :func:`read_cell_meta`).
      config_hash: the store's config hash: a cell file that records another one is foreign.

    Returns:
      The :class:`Scan`.
    """
    found = Scan({}, {}, {}, {}, {})
    for path in cell_files(root):
        try:
            frame, meta = read_cell_meta(path, check_key=check_key)
        except StoreAccessError as err:
            found.denied[path] = str(err)
            continue
        except StoreError as err:
            found.bad[path] = str(err)
            continue
        if config_hash is not None and meta.config_hash is not None and meta.config_hash != config_hash:
            found.foreign[path] = (f"cell file {str(path)!r} was measured for config hash {meta.config_hash}, not "
                                   f"this store's {config_hash} (another config's cell)")
            continue
        found.good[path.stem], found.meta[path.stem] = frame, meta
    return found


def move_aside(root: str | os.PathLike, path: str | os.PathLike, folder: str = CORRUPT) -> Path:
    """Move a cell file (or an entry named like one) out of ``cells/`` into ``root/folder/<name>.<UTC time>``, kept
    for inspection and never read as a result again.

    Args:
      root: the store directory.
      path: the entry to move.
      folder: where to (:data:`CORRUPT`, :data:`FOREIGN`).

    Returns:
      The new path.

    Raises:
      StoreAccessError: the operating system refused the move.
    """
    path = Path(path)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = Path(root) / folder / f"{path.name}.{stamp}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except OSError as err:
        raise StoreAccessError.of(err, f"move aside (to {str(target.parent)!r}) the cell file", path) from None
    return target

"""The files of a check: ``check.json``, ``check.md``, ``variance.png`` and a result store of its measurements."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from varbench.battery._report import CheckReport
from varbench.core.errors import VarbenchError
from varbench.provenance import command_line, environment
from varbench.spec import parse_spec


def check_out(out: str | Path) -> Path:
    """``out`` as a Path if ``varbench check --out`` may write there: a new or empty directory, or the output of an
    earlier check (whose files it replaces); anything else would lose files, a suite's store above all (writing a
    check's manifest over a suite's made the suite refuse its own store as "a different config").

    Args:
      out: the directory.

    Returns:
      ``out`` as a :class:`~pathlib.Path` (nothing is created).

    Raises:
      VarbenchError: ``out`` is a file, or a non-empty directory that is not a check's output (one line).
    """
    from varbench.reports import manifest, store

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VarbenchError(f"--out {str(out)!r} is an existing file; give a new or empty directory, or an earlier "
                            "check's --out")
    try:
        entries = {p.name for p in out.iterdir()} - {store.LOCK} if out.is_dir() else set()
    except OSError as err:
        raise VarbenchError(f"--out {str(out)!r} cannot be read: {err.strerror or err}") from None
    if not entries:
        return out
    try:
        found = manifest.read_json(out)
        kind = (found or {}).get("kind", "suite" if found is not None or store.MANIFEST in entries else None)
    except store.StoreError:
        kind = "damaged"
    if kind == "check":
        return out
    what = {"suite": "a suite's result store", "damaged": "a result store with a damaged manifest"}.get(
        kind, "a result store" if store.CELLS in entries else f"{len(entries)} file(s) of something else")
    raise VarbenchError(f"--out {str(out)!r} holds {what}, not the output of an earlier 'varbench check'; a check "
                        "writes its own result store there: give a new or empty directory")


def write_check(report: CheckReport, out: str | Path) -> Path:
    """Write ``check.json``, ``check.md``, ``variance.png`` and a result store (``manifest.json`` + Parquet cells,
    one block per problem) into ``out``, so that ``varbench report OUT`` includes the measurements.

    The store is locked while it is written (:mod:`varbench.reports.store_lock`): a suite or another check
    writing there is refused.

    Args:
      report: what :func:`~varbench.battery.check` returned.
      out: the directory (created if missing): new, empty or an earlier check's (:func:`check_out`).

    Returns:
      ``out`` as a :class:`~pathlib.Path`.

    Raises:
      VarbenchError: ``out`` holds something else than an earlier check's output (nothing is written).
    """
    from varbench.reports import store_lock

    out = check_out(out)
    with store_lock.StoreLock(out, command=command_line()):
        check_out(out)  # again, under the lock: a suite may have started there meanwhile
        return _write_check(report, out)


def _write_check(report: CheckReport, out: Path) -> Path:
    from varbench.reports import check_figure, manifest, store

    (out / "check.json").write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False, default=float) + "\n")
    (out / "check.md").write_text(report.markdown())
    if report.variance:
        check_figure.variance_figure(report.variance_frame(), title=f"varbench check: {report.estimator}",
                                     path=out / "variance.png")
    by_problem: dict[str, list[Any]] = {}
    for problem, result in report.results:
        by_problem.setdefault(problem, []).append(result)
    blocks = [dict(name=f"check_{index:02d}_{parse_spec(problem)[0]}", problem=problem, method="mixed",
                   title=f"{report.estimator} against the references on {problem}",
                   estimators=sorted({r.estimator for r in results}))
              for index, (problem, results) in enumerate(by_problem.items())]
    config = dict(block=blocks)
    digest = hashlib.sha256(json.dumps(dict(config=config, estimator=report.estimator, level=report.level),
                                       sort_keys=True, default=str).encode()).hexdigest()[:16]
    for block, results in zip(blocks, by_problem.values()):  # each cell records what rebuilds a lost manifest
        meta = store.CellMeta(config_hash=digest, config=config, label=block["name"], kind="check",
                              cells_total=len(blocks))
        store.write_cell(out, block["name"], _block_rows(block["name"], block["problem"], results), meta)
    manifest.write(out, manifest.CheckManifest(config=config, config_hash=digest, check=report.to_dict(),
                                               environment=environment()))
    return out


def _block_rows(name: str, problem: str, results: list[Any]) -> list[dict[str, Any]]:
    """The store's rows of one problem's measurements (one cell per measurement)."""
    from varbench.reports import schema

    rows = []
    for i, result in enumerate(results):
        rows += schema.measurement_rows([result], [dict(options={}, params={})], block=name, cell=f"{name}_{i}",
                                        problem_name=parse_spec(problem)[0],
                                        estimator_name=parse_spec(result.estimator)[0],
                                        estimator_label=result.estimator, estimator_options={}, static={})
    return rows

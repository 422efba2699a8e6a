"""The files of a check: ``check.json``, ``check.md``, ``variance.png`` and a result store of its measurements."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from varbench.battery._report import CheckReport
from varbench.provenance import command_line, environment
from varbench.spec import parse_spec


def write_check(report: CheckReport, out: str | Path) -> Path:
    """Write ``check.json``, ``check.md``, ``variance.png`` and a result store (``manifest.json`` + Parquet cells,
    one block per problem) into ``out``, so that ``varbench report OUT`` includes the measurements.

    The store is locked while it is written (:mod:`varbench.reports.store_lock`): a suite or another check
    writing there is refused.

    Args:
      report: what :func:`~varbench.battery.check` returned.
      out: the directory (created if missing).

    Returns:
      ``out`` as a :class:`~pathlib.Path`.
    """
    from varbench.reports import store_lock

    out = Path(out)
    with store_lock.StoreLock(out, command=command_line()):
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
    blocks = []
    for index, (problem, results) in enumerate(by_problem.items()):
        name = f"check_{index:02d}_{parse_spec(problem)[0]}"
        blocks.append(dict(name=name, title=f"{report.estimator} against the references on {problem}",
                           problem=problem, estimators=sorted({r.estimator for r in results}), method="mixed"))
        store.write_cell(out, name, _block_rows(name, problem, results))
    config = dict(block=blocks)
    digest = hashlib.sha256(json.dumps(dict(config=config, estimator=report.estimator, level=report.level),
                                       sort_keys=True, default=str).encode()).hexdigest()[:16]
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

"""Running ONE cell, wherever an executor runs it: its measurements (or its trace) and a typed outcome.

Failures that belong to the cell (an estimator that does not apply, quadrature that does not converge, non-finite
estimates, memory, an estimator whose code breaks its contract or raises anything at all) come back as a
:class:`CellOutcome`, so the other cells go on alike on every executor; an interrupt (``KeyboardInterrupt``,
``SystemExit``) or a ``MemoryError`` of the process is raised, as a local call would raise it.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from typing import Any, Callable, Mapping

from varbench.core.errors import (
    EstimatorContractError,
    NotApplicableError,
    OutOfMemoryError,
    QuadratureNotConvergedError,
    VarbenchError,
)
from varbench.core.naming import spec_of
from varbench.provenance import now, process_provenance
from varbench.reports import schema
from varbench.reports.manifest import Failure, FailureKind
from varbench.suite._plan import Cell


class CellStatus(enum.Enum):
    """What became of a cell."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"   # its estimator does not apply to its problem


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """One cell's outcome: its status, its rows (done), why it failed or was skipped, what it cost, and the
    provenance of the process that ran it (``started`` and ``finished`` included)."""

    status: CellStatus
    rows: tuple[dict[str, Any], ...] = ()
    failure: Failure | None = None     # FAILED
    skipped: str | None = None         # SKIPPED: why the estimator does not apply
    compiled: int = 0                  # kernels compiled for it
    seconds: float = 0.0
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def run_trace_cell(cell: Cell) -> list[dict[str, Any]]:
    """One optimisation trace (:func:`varbench.trace.trace`); rows: checkpoint × measured estimator."""
    from varbench.trace import trace

    block, table = cell.block, cell.block.trace_table
    records = trace(cell.problems()[0], cell.estimator.estimator, estimators=[s.estimator for s in block.measured],
                    settings=table.settings(block.num_samples), seed=cell.seed, method=block.method)
    names = {spec_of(s.estimator): s.name for s in block.measured}  # a record names its estimator by spec_of
    return schema.trace_rows(records, block=block.name, cell=cell.key, trace_seed=cell.seed,
                             estimator_name=names.__getitem__)


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """Measure every grid point of a cell; returns tidy rows (see :mod:`varbench.reports.schema`).

    Args:
      cell: a cell of a validated plan.

    Returns:
      One row per grid point × parameter coordinate (a trace cell: per checkpoint × measured estimator).
    """
    block, spec = cell.block, cell.estimator
    if cell.driver:
        return run_trace_cell(cell)
    problems = cell.problems()
    spec.estimator.check_applies(problems[0])
    results = measure_call(cell, problems)()
    rows = schema.measurement_rows(results, [p.to_json() for p in cell.points], block=block.name, cell=cell.key,
                                   problem_name=block.problem_name, estimator_name=spec.name,
                                   estimator_label=spec.label, estimator_options=spec.options, static=cell.static)
    ratios = _paired_ratios(cell, problems)
    for row in rows:  # every row names the reference, so that reports know it; paired points add their ratio
        row["var_ratio_reference"] = block.reference
        if ratios is not None:
            r = ratios[row["point"]]
            row.update(var_ratio=r.ratio, var_ratio_lo=r.lo, var_ratio_hi=r.hi, var_ratio_paired=True)
    return rows


def measure_call(cell: Cell, problems: list[Any]) -> Callable[[], list[Any]]:
    """The measurement of a measure cell, as a call (so that compiling ahead calls exactly what the cell runs:
    :mod:`varbench.suite._precompile`).

    Args:
      cell: a measure cell (not a trace's).
      problems: ``cell.problems()``.

    Returns:
      A function returning one :class:`varbench.Result` per grid point.
    """
    from varbench.engine.harness import measure, measure_batch

    block, estimator = cell.block, cell.estimator.estimator
    if block.method == "mc":
        return lambda: measure_batch(problems, estimator, params=[p.params for p in cell.points],
                                     num_samples=block.num_samples, seed=cell.seed, warmup=block.warmup)
    return lambda: [measure(problem, estimator, params=p.params, method="exact", seed=cell.seed,
                            warmup=block.warmup) for problem, p in zip(problems, cell.points)]


def ratio_call(cell: Cell, problems: list[Any]) -> Callable[[], list[Any]] | None:
    """The paired measurement of the variance ratio to the block's reference, as a call, or None where it does not
    apply (exact mode, a trace cell, the reference's own cell, a stateful estimator); see :func:`_paired_ratios`.

    Args:
      cell: a cell of a validated plan.
      problems: ``cell.problems()``.

    Returns:
      A function returning one :class:`varbench.engine.paired.Ratio` per grid point, or None.
    """
    from varbench.engine.paired import measure_ratio_batch

    block, spec = cell.block, cell.estimator
    reference = block.specs.get(block.reference)
    if block.method != "mc" or cell.driver or reference is None or block.reference == spec.label \
            or spec.estimator.stateful or reference.estimator.stateful:
        return None
    return lambda: measure_ratio_batch(problems, spec.estimator, reference.estimator,
                                       params=[p.params for p in cell.points], num_samples=block.num_samples,
                                       seed=cell.seed)


def _paired_ratios(cell: Cell, problems: list[Any]) -> list[Any] | None:
    """The variance ratio to the block's reference at each grid point, measured on common random numbers
    (:func:`varbench.engine.paired.measure_ratio_batch`: one more pass of ``num_samples``); None where that does
    not apply (:func:`ratio_call`), or where the reference fails there (its own cell reports why): the reports
    then compare the two cells' rows unpaired."""
    call = ratio_call(cell, problems)
    if call is None:
        return None
    try:
        return call()
    except VarbenchError:  # different noise, a reference that does not apply or fails: unpaired instead
        return None


def run_cell_task(cell: Cell) -> CellOutcome:
    """One cell, wherever the executor runs it (see the module docstring).

    Args:
      cell: a cell of a validated plan.

    Returns:
      The cell's outcome.
    """
    from varbench.engine import harness

    before, start, started = harness.compile_count(), time.perf_counter(), now()
    rows, failure, skipped = (), None, None
    try:
        rows = tuple(run_cell(cell))
    except QuadratureNotConvergedError as err:  # a failed measurement, not an inapplicable estimator
        failure = Failure(FailureKind.MEASUREMENT, str(err))
    except NotApplicableError as err:
        skipped = str(err)
    except EstimatorContractError as err:  # the estimator's code is at fault: once fixed, a resume measures it again
        failure = Failure(FailureKind.CODE_ERROR, str(err))
    except VarbenchError as err:
        kind = FailureKind.OUT_OF_MEMORY if isinstance(err, OutOfMemoryError) else FailureKind.MEASUREMENT
        failure = Failure(kind, str(err))
    except MemoryError:  # the measurement's own become OutOfMemoryError (memory_guard); any other is the process's
        raise
    except Exception as err:  # noqa: BLE001 - a plugin's code can raise anything; the other cells go on
        failure = Failure(FailureKind.CODE_ERROR, _one_line(err))
    status = CellStatus.FAILED if failure else CellStatus.SKIPPED if skipped is not None else CellStatus.DONE
    return CellOutcome(status, rows, failure, skipped, compiled=harness.compile_count() - before,
                       seconds=time.perf_counter() - start,
                       provenance=dict(process_provenance(), started=started, finished=now()))


def _one_line(err: Exception) -> str:
    """An exception that is not varbench's as one line naming its type (a cell's failure in the manifest)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:397] + '...' if len(text) > 400 else text}" if text else type(err).__name__

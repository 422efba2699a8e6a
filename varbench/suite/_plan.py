"""The plan of a suite: blocks -> grid points -> cells, each cell's key and label, every cell checked up front.

Grid keys that are static options (a cost's name, a dimension) split a block into separately compiled groups; keys
that are value options (``k``) or params vary inside ONE compiled kernel
(:func:`varbench.engine.harness.measure_batch`), so a 50-point ``k`` sweep compiles once. A *cell* is one (block,
estimator, static-option group, seed): the unit of work and of storage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from varbench.catalog import PROBLEMS
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.core.pytree import options_of
from varbench.engine.exact import check_exact
from varbench.engine.params import prepare_params
from varbench.engine.prng import MAX_SEED
from varbench.suite._config import Block, EstimatorSpec


class GridPoint(NamedTuple):
    """One point of a block's grid inside a cell: the problem's value ``options`` and the ``params`` there."""

    options: dict[str, Any]
    params: dict[str, Any]

    def to_json(self) -> dict[str, dict[str, Any]]:
        """``{"options": ..., "params": ...}``, as cell keys and record rows spell a point."""
        return dict(options=self.options, params=self.params)


@dataclasses.dataclass(frozen=True)
class Cell:
    """Unit of work and of storage: one estimator on one static-option group of a block, at one seed.

    A trace block's cell is one trace: ``estimator`` is its driver (whose estimates train the params) and every
    estimator of the block is measured at each checkpoint.
    """

    block: Block
    estimator: EstimatorSpec
    static: Mapping[str, Any]       # static problem options of this group
    points: tuple[GridPoint, ...]   # a trace cell has none (it follows the optimisation)
    seed: int

    @property
    def driver(self) -> EstimatorSpec | None:
        """The estimator that trains the params of a trace cell; None for a measure cell."""
        return self.estimator if self.block.kind == "trace" else None

    @property
    def key(self) -> str:
        """The cell's file name in the store: a hash of everything its rows depend on."""
        block, driver = self.block, self.driver
        estimator = ",".join(block.estimators) if driver else self.estimator.label
        payload = json.dumps(dict(block=block.name, problem=block.problem, estimator=estimator, static=self.static,
                                  points=[p.to_json() for p in self.points], seed=self.seed, method=block.method,
                                  samples=block.num_samples, warmup=block.warmup, trace=block.trace,
                                  driver=driver.label if driver else None),
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The cell as people read it (progress lines, the manifest): block, estimator, static options, seed."""
        static = ",".join(f"{k}={v}" for k, v in self.static.items())
        what = f"trace driven by {self.driver.label}" if self.driver else self.estimator.label
        return f"{self.block.name} · {what}" + (f" · {static}" if static else "") + f" · seed {self.seed}"

    def problems(self) -> list[Any]:
        """The problem at each grid point of the cell (a trace cell: the block's problem)."""
        if self.driver:
            return [self.block.build_problem({})]
        return [self.block.build_problem({**self.static, **p.options}) for p in self.points]


def _split_grid(block: Block) -> tuple[dict, dict, dict]:
    """Grid axes split into static problem options, value problem options and params."""
    name = block.problem_name
    fields = options_of(PROBLEMS[name])
    param_names = set(block.build_problem({}).default_params())
    static, values, params = {}, {}, {}
    for key, axis in block.grid.items():
        if key in fields:
            (static if fields[key].metadata.get("static", True) else values)[key] = axis
        elif key in param_names:
            params[key] = axis
        else:
            raise VarbenchError(f"block {block.name!r}: grid key {key!r} is neither an option nor a parameter of "
                                f"problem {name!r}; valid: {', '.join(list(fields) + sorted(param_names))}")
    return static, values, params


def cells_of(block: Block) -> list[Cell]:
    """The cells of a block, in order: static-option group, then estimator, then seed (a trace block: one cell per
    driver and seed, the whole trace measuring every estimator).

    Args:
      block: a parsed block.

    Returns:
      The cells.

    Raises:
      VarbenchError: a grid key that is neither an option nor a parameter of the block's problem.
    """
    if block.trace_table is not None:
        return [Cell(block, block.specs[driver], {}, (), seed)
                for driver in block.trace_table.drivers for seed in block.seeds]
    static_axes, value_axes, param_axes = _split_grid(block)
    points = tuple(GridPoint(dict(zip(value_axes, v)), dict(zip(param_axes, p)))
                   for v in itertools.product(*value_axes.values()) for p in itertools.product(*param_axes.values()))
    return [Cell(block, block.specs[label], dict(zip(static_axes, values)), points, seed)
            for values in itertools.product(*static_axes.values())
            for label in block.estimators for seed in block.seeds]


def _checked_problems(cell: Cell) -> list[Any]:
    """The cell's problems, with each point's params prepared exactly as the run will prepare them."""
    problems = cell.problems()
    dtype = np.float32 if cell.block.method == "mc" else np.float64
    for problem, point in zip(problems, cell.points):
        prepare_params(problem, point.params, dtype)
    return problems


def _exact_refusal(cell: Cell, problems: list[Any], specs: Sequence[EstimatorSpec], seen: dict[Any, str | None]
                   ) -> str | None:
    """Why exact mode cannot measure ``specs`` on the cell's problems (None: it can), found from the sizes of
    their noise without evaluating an estimate; ``seen`` keeps the answers by static-option group and spec."""
    point = cell.points[0].params if cell.points else None
    for spec in specs:
        key = (json.dumps(cell.static, sort_keys=True, default=str), spec.label)
        if key not in seen:
            try:
                check_exact(problems[0], spec.estimator, prepare_params(problems[0], point, np.float64))
                seen[key] = None
            except NotApplicableError as err:
                seen[key] = str(err)
        if seen[key] is not None:
            return seen[key]
    return None


def _check_block(block: Block, not_applicable: dict[str, str]) -> list[Cell]:
    """The cells of ``block``, checked; those whose estimator does not apply go into ``not_applicable``. A block
    none of whose cells can be measured is refused (it would only create an empty section)."""
    cells = cells_of(block)
    if block.trace_table is not None and max(block.seeds) + 1 + block.trace_table.steps > MAX_SEED:
        raise VarbenchError(f"seeds + trace steps must stay below {MAX_SEED}")  # checkpoint t: seed + 1 + t
    problems_of: dict[str, list[Any]] = {}  # static-option group -> the problems at its grid points
    exact: dict[Any, str | None] = {}
    for cell in cells:
        group = json.dumps(cell.static, sort_keys=True, default=str)
        if group not in problems_of:
            problems_of[group] = _checked_problems(cell)
        specs = [cell.estimator, *block.measured] if cell.driver else [cell.estimator]
        try:
            for spec in specs:
                for problem in problems_of[group]:
                    spec.estimator.check_applies(problem)
        except NotApplicableError as err:
            not_applicable[cell.label] = str(err)
            continue
        # exact mode integrates what is measured (a trace's driver trains by sampling)
        refusal = (_exact_refusal(cell, problems_of[group], block.measured if cell.driver else specs, exact)
                   if block.method == "exact" else None)
        if refusal is not None:
            not_applicable[cell.label] = refusal
    if not cells:
        raise VarbenchError("measures nothing: its grid, estimators and seeds give no cell")
    if all(c.label in not_applicable for c in cells):
        mode = " in exact mode" if block.method == "exact" else ""
        raise VarbenchError(f"measures nothing: no estimator applies to its problem{mode} (e.g. {cells[0].label}: "
                            f"{not_applicable[cells[0].label]})")
    return cells


def validate_cells(blocks: Sequence[Block]) -> tuple[list[Cell], dict[str, str]]:
    """Every cell of every block, built and checked before anything is written.

    Each grid point's problem is built from its options and its params are prepared exactly as the run will
    prepare them, so a bad grid value (``mean = ["a", "b"]``), option or estimator is a one-line error naming the
    block before a store or report exists, not a failed cell discovered after an hour.

    Args:
      blocks: the parsed blocks.

    Returns:
      The cells, and by label those whose estimator does not apply to the problem (with the reason).

    Raises:
      VarbenchError: a one-line message naming the block.
    """
    cells: list[Cell] = []
    not_applicable: dict[str, str] = {}
    for block in blocks:
        try:
            cells += _check_block(block, not_applicable)
        except VarbenchError as err:
            raise VarbenchError(f"block {block.name!r}: {err}") from None
    return cells, not_applicable

"""``varbench suite``: sweeps described in TOML, run cell by cell into a resumable result store.

A config has ``[[block]]`` tables. Each block names a problem spec, a list of estimator specs, a ``grid`` of
problem options and params to sweep (cartesian product), a method (``mc`` or ``exact``), the number of estimates
(``num_samples``) and seeds. Grid keys that are static options (a cost's name, a dimension) split the block into
separately compiled groups; keys that are value options (``k``) or params vary inside ONE compiled kernel
(:func:`varbench.engine.harness.measure_batch`), so a 50-point ``k`` sweep compiles once.

A *cell* is one (block, estimator, static-option combination, seed). Cells are independent: an executor
(:mod:`varbench.executors`) runs them and streams each finished cell back, where it is written atomically to the
store as one Parquet file (:mod:`varbench.reports.store`), so an interrupted suite re-run with the same command
skips finished cells. The manifest (:mod:`varbench.reports.manifest`) records the config's hash, the varbench
version and the history of runs; results of a different config or version are never mixed in silently.

The jobs live in private modules: the config's schema (``_config``), the plan of cells (``_plan``), running one
cell (``_cell``), the store and the run loop (``_runner``), progress and SIGTERM (``_progress``).
"""

from varbench.suite._cell import CellOutcome, CellStatus, run_cell, run_cell_task
from varbench.suite._config import (
    Block,
    EstimatorSpec,
    TraceTable,
    config_hash,
    default_config_path,
    executor_of,
    load_config,
    load_config_plugins,
    parse_block,
    parse_config,
)
from varbench.suite._plan import Cell, GridPoint, cells_of, validate_cells
from varbench.suite._runner import check_out, run_suite

__all__ = ["Block", "Cell", "CellOutcome", "CellStatus", "EstimatorSpec", "GridPoint", "TraceTable", "cells_of",
           "check_out", "config_hash", "default_config_path", "executor_of", "load_config", "load_config_plugins",
           "parse_block", "parse_config", "run_cell", "run_cell_task", "run_suite", "validate_cells"]

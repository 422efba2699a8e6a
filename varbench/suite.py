"""``varbench suite``: sweeps described in TOML, run cell by cell into a resumable result store.

A config has ``[[block]]`` tables. Each block names a problem spec, a list of estimator specs, a ``grid`` of
problem options and params to sweep (cartesian product), a method (``mc`` or ``exact``), sample counts and seeds.
Grid keys that are static options (a cost's name, a dimension) split the block into separately compiled groups;
keys that are value options (``k``) or params vary inside ONE compiled kernel (:func:`varbench.engine.harness.
measure_batch`), so a 50-point ``k`` sweep compiles once.

A *cell* is one (block, estimator, static-option combination, seed). Cells are independent: an executor
(:mod:`varbench.executors`: ``local``, in this process, or ``dask``, on a Dask cluster) runs them and streams each
finished cell back here, where it is written atomically to the store as one Parquet file
(:mod:`varbench.reports.store`), so an interrupted suite re-run with the same command skips finished cells. This
process is the store's only writer and holds its lock (:mod:`varbench.reports.store_lock`) while it runs. Every row
carries its cell's provenance (git commit, versions, backend, devices, host, start and end time) and the manifest
keeps the history of runs. The manifest records the config's hash and the varbench version; results of a different
config or version are never mixed in silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import itertools
import json
import math
import numbers
import os
import signal
import socket
import sys
import time
import tomllib
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from varbench import executors
from varbench.catalog import PROBLEMS, build, resolve_estimator
from varbench.core.errors import (
    NotApplicableError,
    OutOfMemoryError,
    QuadratureNotConvergedError,
    VarbenchError,
)
from varbench.core.pytree import options_of
from varbench.engine.harness import MAX_SAMPLES, MAX_WARMUP
from varbench.engine.params import prepare_params
from varbench.engine.prng import MAX_SEED
from varbench.provenance import command_line, environment, now, process_provenance
from varbench.reports import schema
from varbench.spec import parse_spec

DEFAULT_CONFIG = "default.toml"
BLOCK_KINDS = ("measure", "trace")
BLOCK_KEYS = ("name", "title", "kind", "problem", "estimators", "grid", "method", "samples", "seeds", "warmup",
              "quick", "figure", "trace")
#: Keys of a trace block's ``trace`` table (see :func:`varbench.trace.trace`).
TRACE_KEYS = ("drivers", "lr", "steps", "every")
#: Keys of a grid range ``{start, stop, num}`` (``log = true``: geometric spacing).
RANGE_KEYS = ("start", "stop", "num", "log")
#: Most points of one range axis (every point is a measurement; far beyond any figure's resolution).
MAX_RANGE_POINTS = 10_000


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``[[block]]`` of a suite config, validated."""

    name: str
    title: str
    kind: str
    problem: str
    estimators: tuple[str, ...]
    grid: dict[str, tuple[Any, ...]]
    method: str
    samples: int
    seeds: tuple[int, ...]
    warmup: int
    figure: dict[str, Any]
    trace: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The specs above, parsed and resolved once (problem name and fixed options; estimator spec -> object).
    problem_name: str = dataclasses.field(default="", compare=False)
    problem_options: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    resolved: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def build_problem(self, options: dict[str, Any]) -> Any:
        """The block's problem with ``options`` (grid values) over its fixed ones; no spec string round trip."""
        return build(PROBLEMS, "problem", self.problem_name, {**self.problem_options, **options})


@dataclasses.dataclass(frozen=True)
class Cell:
    """Unit of work and of storage: one estimator on one static-option group of a block, at one seed."""

    block: Block
    estimator: str
    static: dict[str, Any]          # static problem options of this group
    points: tuple[dict, ...]        # per grid point: {"options": {...}, "params": {...}}
    seed: int
    driver: str | None = None       # trace blocks: the estimator whose estimates train the params

    @property
    def key(self) -> str:
        payload = json.dumps(dict(block=self.block.name, problem=self.block.problem, estimator=self.estimator,
                                  static=self.static, points=self.points, seed=self.seed,
                                  method=self.block.method, samples=self.block.samples,
                                  warmup=self.block.warmup, trace=self.block.trace, driver=self.driver),
                             sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        static = ",".join(f"{k}={v}" for k, v in self.static.items())
        what = f"trace driven by {self.driver}" if self.driver else self.estimator
        return f"{self.block.name} · {what}" + (f" · {static}" if static else "") + f" · seed {self.seed}"


def default_config_path() -> Path:
    return Path(str(importlib.resources.files("varbench") / "configs" / DEFAULT_CONFIG))


def load_config(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read a TOML config (the packaged default when ``path`` is None)."""
    path = Path(path) if path is not None else default_config_path()
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise VarbenchError(f"config file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise VarbenchError(f"config file {str(path)!r} is a directory; give a TOML file") from None
    except OSError as err:  # permissions, a path too long, an unreadable device
        raise VarbenchError(f"config file {str(path)!r} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError:  # TOML is UTF-8 text
        raise VarbenchError(f"config file {str(path)!r} is not a text file (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as err:
        raise VarbenchError(f"config file {str(path)!r} is not valid TOML: {err}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _expand_values(where: str, spec: Any) -> tuple[Any, ...]:
    """A grid axis: a list of values, a scalar, or ``{start, stop, num}`` (linspace) / ``{..., log = true}``;
    ``where`` names the axis in errors."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(RANGE_KEYS))
        start, stop, num, log = (spec.get(k) for k in RANGE_KEYS)
        if unknown or not (_is_real(start) and _is_real(stop) and _is_int(num) and 1 <= num <= MAX_RANGE_POINTS):
            raise VarbenchError(f"{where}: a range is {{ start = number, stop = number, num = integer from 1 to "
                                f"{MAX_RANGE_POINTS} }} (log = true: geometric); got {spec!r}")
        if (log is not None and not isinstance(log, bool)) or (log and not start * stop > 0):
            raise VarbenchError(f"{where}: log = true needs start and stop of one sign, not 0; got {spec!r}")
        values = np.geomspace(start, stop, num) if log else np.linspace(start, stop, num)
        return tuple(float(v) for v in values)
    if isinstance(spec, list):
        if not spec:
            raise VarbenchError(f"{where} is empty")
        return tuple(spec)
    return (spec,)


def parse_block(raw: dict[str, Any], *, quick: bool) -> Block:
    if not isinstance(raw, dict):
        raise VarbenchError("each [[block]] must be a table")
    unknown = sorted(set(raw) - set(BLOCK_KEYS))
    name = raw.get("name")
    if unknown:
        raise VarbenchError(f"block {name!r}: unknown key {unknown[0]!r}; valid keys: {', '.join(BLOCK_KEYS)}")
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise VarbenchError(f"every block needs a name of letters, digits, '-' and '_'; got {name!r}")
    if quick and isinstance(raw.get("quick"), dict):
        raw = {**raw, **{k: v for k, v in raw["quick"].items() if k != "skip"}}
    kind = raw.get("kind", "measure")
    if kind not in BLOCK_KINDS:
        raise VarbenchError(f"block {name!r}: unknown kind {kind!r}; valid kinds: {', '.join(BLOCK_KINDS)}")
    method = raw.get("method", "mc")
    if method not in ("mc", "exact"):
        raise VarbenchError(f"block {name!r}: unknown method {method!r}; valid methods: mc, exact")
    estimators = raw.get("estimators")
    if not isinstance(estimators, list) or not estimators or not all(isinstance(e, str) for e in estimators):
        raise VarbenchError(f"block {name!r}: 'estimators' must be a non-empty list of estimator specs")
    samples, warmup = raw.get("samples", 100_000), raw.get("warmup", 0)
    if method == "mc" and not (_is_int(samples) and 0 < samples <= MAX_SAMPLES):
        raise VarbenchError(f"block {name!r}: 'samples' must be an integer from 1 to {MAX_SAMPLES}; got {samples!r}")
    if not (_is_int(warmup) and 0 <= warmup <= MAX_WARMUP):
        raise VarbenchError(f"block {name!r}: 'warmup' must be an integer from 0 to {MAX_WARMUP}; got {warmup!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and 0 <= s <= MAX_SEED for s in seeds):
        raise VarbenchError(f"block {name!r}: 'seeds' must be a list of integers from 0 to {MAX_SEED}; got {seeds!r}")
    for key, expected in (("title", str), ("figure", dict), ("grid", dict), ("trace", dict)):
        if key in raw and not isinstance(raw[key], expected):
            raise VarbenchError(f"block {name!r}: {key!r} must be a {'string' if expected is str else 'table'}; got "
                                f"{raw[key]!r}")
    grid = {k: _expand_values(f"block {name!r}: grid axis {k!r}", v) for k, v in (raw.get("grid") or {}).items()}
    problem = raw.get("problem")
    if not isinstance(problem, str):
        raise VarbenchError(f"block {name!r}: 'problem' must be a problem spec string")
    problem_name, problem_options = parse_spec(problem)
    build(PROBLEMS, "problem", problem_name, problem_options)  # validates early, with the usual one-line errors
    trace = dict(raw.get("trace") or {})
    if kind == "trace":
        unknown = sorted(set(trace) - set(TRACE_KEYS))
        if unknown or not trace.get("drivers"):
            raise VarbenchError(f"block {name!r}: a trace block needs trace = {{ drivers = [...], lr, steps, every }}"
                                f"; valid keys: {', '.join(TRACE_KEYS)}")
        if grid:
            raise VarbenchError(f"block {name!r}: a trace block has no grid (it follows the optimisation)")
        _check_trace(name, trace)
        estimators = estimators + list(trace["drivers"])
    resolved = {spec: resolve_estimator(spec) for spec in estimators}
    return Block(name=name, title=raw.get("title", name), kind=kind, problem=problem,
                 estimators=tuple(raw["estimators"]), grid=grid, method=method, samples=int(samples),
                 seeds=tuple(seeds), warmup=int(warmup), figure=dict(raw.get("figure") or {}), trace=trace,
                 problem_name=problem_name, problem_options=problem_options, resolved=resolved)


def _check_trace(name: str, trace: dict[str, Any]) -> None:
    """The ``trace`` table of a trace block, with the types and ranges :func:`varbench.trace.trace` accepts."""
    drivers, lr, steps, every = (trace.get(k, d) for k, d in zip(TRACE_KEYS, (None, 0.01, 1000, 100)))
    if not isinstance(drivers, list) or not all(isinstance(d, str) for d in drivers):
        raise VarbenchError(f"block {name!r}: trace 'drivers' must be a list of estimator specs; got {drivers!r}")
    if not (_is_real(lr) and lr > 0):
        raise VarbenchError(f"block {name!r}: trace 'lr' must be a positive number; got {lr!r}")
    if not (_is_int(steps) and steps >= 0):
        raise VarbenchError(f"block {name!r}: trace 'steps' must be a non-negative integer; got {steps!r}")
    if not (_is_int(every) and every >= 1):
        raise VarbenchError(f"block {name!r}: trace 'every' must be a positive integer; got {every!r}")


#: Top-level keys of a suite config.
CONFIG_KEYS = ("plugins", "executor", "block")
#: Keys of the config's ``[executor]`` table (the same as ``--executor``, ``--workers``, ``--scheduler``).
EXECUTOR_KEYS = ("kind", "workers", "scheduler")


def executor_choice(raw: dict[str, Any], kind: str | None = None, workers: int | None = None,
                    scheduler: str | None = None) -> tuple[str, int | None, str | None]:
    """The executor of a run: the command line's ``kind``, ``workers`` and ``scheduler`` over the config's
    ``[executor]`` table, validated (nothing is started). The table is not part of the config's hash: a sweep
    started on one machine can be resumed on a cluster."""
    table = raw.get("executor", {})
    unknown = sorted(set(table) - set(EXECUTOR_KEYS)) if isinstance(table, dict) else ["(not a table)"]
    if unknown:
        raise VarbenchError(f"the config's [executor] table has an unknown key {unknown[0]!r}; valid keys: "
                            f"{', '.join(EXECUTOR_KEYS)} (e.g. executor = {{ kind = \"dask\", workers = 4 }})")
    kind = kind if kind is not None else table.get("kind")
    if kind != "local" and workers is None and scheduler is None:
        workers, scheduler = table.get("workers"), table.get("scheduler")
    return executors.check_options(kind, workers, scheduler)


def load_config_plugins(raw: dict[str, Any], extra: Sequence[str] = ()) -> list[str]:
    """Import the plugin modules named by ``plugins = [...]`` in the config and by ``extra`` (``--plugin``)."""
    from varbench.catalog import load_plugin

    named = raw.get("plugins", [])
    if not isinstance(named, list) or not all(isinstance(m, str) and m.strip() for m in named):
        raise VarbenchError("'plugins' must be a list of module names, e.g. plugins = [\"my_package.estimators\"]")
    modules = list(dict.fromkeys([*named, *extra]))
    for module in modules:
        load_plugin(module)
    return modules


def parse_config(raw: dict[str, Any], *, quick: bool = False) -> list[Block]:
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise VarbenchError(f"unknown top-level key {unknown[0]!r} in the suite config; valid keys: "
                            f"{', '.join(CONFIG_KEYS)}")
    blocks = raw.get("block")
    if not isinstance(blocks, list) or not blocks:
        raise VarbenchError("a suite config needs at least one [[block]] table")
    if quick:  # `quick = { skip = true }` leaves a block out of --quick runs (keeps the quick suite fast)
        blocks = [b for b in blocks if not (isinstance(b, dict) and isinstance(b.get("quick"), dict)
                                            and b["quick"].get("skip") is True)]
    parsed = [parse_block(b, quick=quick) for b in blocks]
    names = [b.name for b in parsed]
    if len(set(names)) != len(names):
        raise VarbenchError("block names must be unique")
    return parsed


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
    if block.kind == "trace":  # one cell per driver and seed: the whole trace, measuring every estimator
        return [Cell(block, ",".join(block.estimators), {}, (), seed, driver)
                for driver in block.trace["drivers"] for seed in block.seeds]
    static_axes, value_axes, param_axes = _split_grid(block)
    points = tuple(dict(options=dict(zip(value_axes, v)), params=dict(zip(param_axes, p)))
                   for v in itertools.product(*value_axes.values()) for p in itertools.product(*param_axes.values()))
    cells = []
    for static_values in itertools.product(*static_axes.values()):
        static = dict(zip(static_axes, static_values))
        for estimator in block.estimators:
            for seed in block.seeds:
                cells.append(Cell(block, estimator, static, points, seed))
    return cells


def validate_cells(blocks: Sequence[Block]) -> tuple[list[Cell], dict[str, str]]:
    """Every cell of every block, built and checked before anything is written; returns the cells and, by label,
    those whose estimator does not apply to the problem (with the reason).

    Each grid point's problem is built from its options and its params are prepared exactly as the run will
    prepare them, so a bad grid value (``mean = ["a", "b"]``), option or estimator is a one-line error naming the
    block before a store or report exists, not a failed cell discovered after an hour.
    """
    cells: list[Cell] = []
    not_applicable: dict[str, str] = {}
    for block in blocks:
        try:
            block_cells = cells_of(block)
            problems_of: dict[str, list[Any]] = {}  # static-option group -> the problems at its grid points
            if block.kind == "trace":
                steps = block.trace.get("steps", 1000)
                if max(block.seeds) + 1 + steps > MAX_SEED:  # checkpoint t is measured with seed + 1 + t
                    raise VarbenchError(f"seeds + trace steps must stay below {MAX_SEED}")
                problems_of["{}"] = [block.build_problem({})]
            for cell in block_cells:
                group = json.dumps(cell.static, sort_keys=True, default=str)
                if group not in problems_of:
                    dtype = np.float32 if block.method == "mc" else np.float64
                    problems = [block.build_problem({**cell.static, **p["options"]}) for p in cell.points]
                    for problem, point in zip(problems, cell.points):
                        prepare_params(problem, point["params"], dtype)
                    problems_of[group] = problems
                specs = [cell.driver, *block.estimators] if cell.driver else [cell.estimator]
                try:
                    for spec in specs:
                        for problem in problems_of[group]:
                            block.resolved[spec].check_applies(problem)
                except NotApplicableError as err:
                    not_applicable[cell.label] = str(err)
        except VarbenchError as err:
            raise VarbenchError(f"block {block.name!r}: {err}") from None
        cells += block_cells
    return cells, not_applicable


def check_out(out: Any) -> Path:
    """``out`` as a Path if a result store can be created or resumed there; else a one-line error (nothing is
    created: the checks only look)."""
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip() or "\0" in str(out):
        raise VarbenchError(f"the result store (--out) must be a non-empty directory path; got {out!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise VarbenchError(f"--out {str(path)!r} is an existing file; give a directory (new, or a result store)")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise VarbenchError(f"--out {str(path)!r} cannot be created: {str(parent)!r} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VarbenchError(f"--out {str(path)!r} cannot be created or written: no write permission in "
                            f"{str(parent)!r}")
    return path


def run_trace_cell(cell: Cell) -> list[dict[str, Any]]:
    """One optimisation trace (:func:`varbench.trace.trace`); rows: checkpoint × measured estimator."""
    from varbench.trace import TraceSettings, trace

    block, spec, default = cell.block, cell.block.trace, TraceSettings()
    settings = TraceSettings(lr=float(spec.get("lr", default.lr)), steps=int(spec.get("steps", default.steps)),
                             every=int(spec.get("every", default.every)), num_samples=block.samples)
    records = trace(block.build_problem({}), block.resolved[cell.driver],
                    estimators=[block.resolved[e] for e in block.estimators], settings=settings, seed=cell.seed,
                    method=block.method)
    return schema.trace_rows(records, block=block.name, cell=cell.key, trace_seed=cell.seed,
                             estimator_name=lambda label: parse_spec(label)[0])


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """Measure every grid point of a cell; returns tidy rows (see :mod:`varbench.reports.schema`)."""
    from varbench.engine.harness import measure, measure_batch

    block = cell.block
    if block.kind == "trace":
        return run_trace_cell(cell)
    problems = [block.build_problem({**cell.static, **p["options"]}) for p in cell.points]
    estimator = block.resolved[cell.estimator]
    estimator.check_applies(problems[0])
    if block.method == "mc":
        results = measure_batch(problems, estimator, params=[p["params"] for p in cell.points],
                                num_samples=block.samples, seed=cell.seed, warmup=block.warmup)
    else:
        results = [measure(pr, estimator, params=p["params"], method="exact", seed=cell.seed, warmup=block.warmup)
                   for pr, p in zip(problems, cell.points)]
    est_name, est_options = parse_spec(cell.estimator)
    return schema.measurement_rows(results, cell.points, block=block.name, cell=cell.key,
                                   problem_name=block.problem_name, estimator_name=est_name,
                                   estimator_label=cell.estimator, estimator_options=est_options, static=cell.static)


def config_hash(raw: dict[str, Any], quick: bool) -> str:
    """What a store's results depend on: the config (without ``[executor]``: where cells run does not change what
    they measure), ``--quick`` and the varbench version."""
    from varbench import __version__
    config = {k: v for k, v in raw.items() if k != "executor"}
    payload = json.dumps(dict(config=config, quick=quick, version=__version__), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: Prefix of a failure reason that a resume retries (memory depends on what else was running).
OUT_OF_MEMORY_TAG = "out of memory: "
#: Prefix of the failure of a cell whose workers kept dying (a resume retries it too).
WORKER_DIED_TAG = "worker died: "
#: Failures that a resume measures again.
RETRIED_ON_RESUME = (OUT_OF_MEMORY_TAG, WORKER_DIED_TAG)

def run_cell_task(cell: Cell) -> dict[str, Any]:
    """One cell, wherever the executor runs it: ``{status: done | failed | skipped, rows, reason, compiled, seconds,
    provenance}``. Failures that belong to the cell (an estimator that does not apply, quadrature that does not
    converge, non-finite estimates, memory) come back as data; anything else is raised, as a local call would."""
    from varbench.engine import harness

    before, start, started = harness.compile_count(), time.perf_counter(), now()
    rows, reason = None, None
    try:
        rows, status = run_cell(cell), "done"
    except QuadratureNotConvergedError as err:  # a failed measurement, not an inapplicable estimator
        status, reason = "failed", str(err)
    except NotApplicableError as err:
        status, reason = "skipped", str(err)
    except VarbenchError as err:
        status, reason = "failed", (OUT_OF_MEMORY_TAG if isinstance(err, OutOfMemoryError) else "") + str(err)
    return dict(status=status, rows=rows, reason=reason, compiled=harness.compile_count() - before,
                seconds=time.perf_counter() - start,
                provenance=dict(process_provenance(), started=started, finished=now()))


class _sigterm_interrupts:
    """SIGTERM (a batch system ending the job, ``kill``) interrupts like Ctrl-C, so the lock is released, the run is
    recorded as interrupted and a cluster started here is shut down; a no-op outside the main thread."""

    def __enter__(self) -> None:
        self.previous = None
        try:
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread
            pass

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def run_suite(config: str | os.PathLike | None = None, out: str | os.PathLike = "varbench-results", *,
              quick: bool = False, resume: bool = True, progress: Callable[[str], None] | None = None,
              report: bool = True, plugins: Sequence[str] = (), executor: str | None = None,
              workers: int | None = None, scheduler: str | None = None, wait: bool = False) -> dict[str, Any]:
    """Run (or resume) a suite into the store ``out``; returns the final manifest.

    ``plugins`` (module names) are imported before the config is read, like the config's own
    ``plugins = [...]``, so their problems and estimators can be named in its blocks (and on every Dask worker).

    ``executor`` (``"local"``, the default, or ``"dask"``), ``workers`` and ``scheduler`` say where the cells run
    (:mod:`varbench.executors`; they override the config's ``[executor]`` table). ``wait``: if another process
    writes ``out``, wait until it has finished instead of refusing.

    The whole config (every cell's problem, options, params and estimators), the executor and ``out`` are checked
    before the store is created, so bad input leaves nothing on disk. Each finished cell is written atomically with
    its provenance; a cell that fails (for example with non-finite estimates) is recorded in the manifest with its
    one-line reason and the suite goes on; a cell file that cannot be read is moved aside to ``corrupt/`` and
    measured again; a cell whose worker died is measured again by another worker, and the manifest says so.
    """
    from varbench.reports import store_lock

    raw = load_config(config)
    modules = load_config_plugins(raw, plugins)
    blocks = parse_config(raw, quick=quick)
    kind, workers, scheduler = executor_choice(raw, executor, workers, scheduler)
    cells, not_applicable = validate_cells(blocks)
    if len(not_applicable) == len(cells):
        first = next(iter(not_applicable.items()), None)
        raise VarbenchError("the config measures nothing: " + (
            f"no estimator applies to its problem (e.g. {first[0]}: {first[1]})" if first else "it has no cells"))
    digest = config_hash(raw, quick)
    out = check_out(out)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    lock = store_lock.StoreLock(out, command=command_line(), wait=wait, on_wait=say)
    with _sigterm_interrupts():
        try:
            if not wait:  # a live writer is named first; then the store's config (both only look)
                lock.check()
            _existing_manifest(out, digest, resume)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", store_lock.StaleLockWarning)
                lock.acquire()
        except store_lock.StoreLockedError as err:
            raise VarbenchError(str(err)) from None
        for warning in caught:
            say(f"warning: {warning.message}")
        try:
            return _run_locked(raw, cells, digest, out, quick=quick, resume=resume, say=say, report=report,
                               modules=modules, kind=kind, workers=workers, scheduler=scheduler, lock=lock)
        finally:
            lock.release()


def _existing_manifest(out: Path, digest: str, resume: bool) -> dict[str, Any] | None:
    """The manifest already in ``out`` (``{}`` for an unreadable one that --no-resume overwrites), or a one-line
    refusal if the store there cannot be resumed with this config."""
    from varbench.reports import store

    try:
        existing = store.read_manifest(out)
    except store.StoreError:  # a truncated or foreign manifest.json: never resumed from, overwritten only if asked
        if resume:
            raise VarbenchError(f"{str(out)!r} holds a manifest.json that is not a varbench manifest; use --no-resume "
                                "to overwrite the store there or choose another --out") from None
        return {}
    if existing is not None and resume and existing.get("config_hash") != digest:
        raise VarbenchError(
            f"{str(out)!r} holds results of a different config, version or --quick setting "
            f"({existing.get('config_hash')} != {digest}); use --no-resume to overwrite or choose another --out")
    return existing


def _run_locked(raw: dict[str, Any], cells: list[Cell], digest: str, out: Path, *, quick: bool, resume: bool,
                say: Callable[[str], None], report: bool, modules: list[str], kind: str, workers: int | None,
                scheduler: str | None, lock: Any) -> dict[str, Any]:
    """The suite, with the store locked: the manifest is read again under the lock, where no other writer changes
    it."""
    from varbench.reports import store

    existing = _existing_manifest(out, digest, resume)  # again: another writer may have finished meanwhile
    # The executor starts (or connects) before anything is written: a cluster that cannot be reached refuses the
    # command with the store untouched.
    with executors.make_executor(kind, workers=workers, scheduler=scheduler, plugins=modules) as pool:
        if existing is not None and not resume:
            store.clear(out)
        manifest = _run_cells(raw, cells, digest, out, quick=quick, say=say, pool=pool, command=lock.command,
                              took_over=lock.took_over)
    if report:
        from varbench.reports.page import write_report
        write_report(out)
    return manifest


def _run_cells(raw: dict[str, Any], cells: list[Cell], digest: str, out: Path, *, quick: bool,
               say: Callable[[str], None], pool: executors.Executor, command: str,
               took_over: dict[str, Any] | None) -> dict[str, Any]:
    from varbench.reports import schema as sc
    from varbench.reports import store

    own = {c.key for c in cells}
    good, bad = store.scan_cells(out)
    moved = {}
    for path, reason in bad.items():
        target = store.move_aside(out, path)
        moved[path.name] = str(target)
        say(f"warning: {reason}; moved aside to {str(target)!r}; that cell is measured again")
    for key in sorted(set(good) - own):  # not a cell of this config (copied in, or an unlocked writer's)
        path = out / store.CELLS / f"{key}.parquet"
        target = store.move_aside(out, path, "foreign")
        moved[path.name] = str(target)
        say(f"warning: cell file {str(path)!r} is not a cell of this config; moved aside to {str(target)!r}")
    done = set(good) & own
    try:
        previous = store.read_manifest(out) or {}
    except store.StoreError:
        previous = {}
    # We hold the lock: a run recorded as running was killed before it could say so.
    runs = [dict(r, status="interrupted") if r.get("status") == "running" else r
            for r in previous.get("runs", []) if isinstance(r, dict)]
    env = environment()
    described = pool.describe()
    run = dict(run=len(runs) + 1, started=now(), finished=None, status="running", command=command,
               host=socket.gethostname(), pid=os.getpid(), executor=described, environment=env, cells_finished=0,
               cells_retried={}, cells_moved_aside=moved, took_over_lock=took_over)
    # A resumed run keeps what the earlier runs recorded (start time, first environment, compile counts, seconds
    # per block); each run's own environment is in ``runs``, each cell's in its rows' provenance columns.
    manifest = dict(config=raw, config_hash=digest, quick=quick, started=previous.get("started", run["started"]),
                    resumed=previous.get("resumed", []) + ([run["started"]] if previous else []), finished=None,
                    environment=previous.get("environment") or env, runs=runs + [run],
                    cells={c.key: c.label for c in cells}, cells_total=len(cells), cells_done=len(done),
                    cells_skipped={}, cells_failed={}, cells_retried=dict(previous.get("cells_retried") or {}),
                    compile_counts=previous.get("compile_counts", {}), seconds=previous.get("seconds", {}))
    try:  # the first write creates the store's files; check_out looked, but a mount or a race can still refuse
        store.write_manifest(out, manifest)
    except OSError as err:
        raise VarbenchError(f"cannot write the result store {str(out)!r}: {err.strerror or err}") from None
    # A cell that failed in an earlier run of the same config and version fails the same way again (same seeds,
    # same code), so a resume keeps its failure instead of retrying it on every resume; running out of memory
    # depends on what else ran, and workers die for reasons of their own, so those cells are retried.
    failed_before = {label: reason for label, reason in (previous.get("cells_failed") or {}).items()
                     if not str(reason).startswith(RETRIED_ON_RESUME)}
    manifest["cells_failed"].update(failed_before)
    todo = [c for c in cells if c.key not in done and c.label not in failed_before]
    where = "" if pool.kind == "local" else f" on {described['workers']} Dask workers ({described['scheduler']})"
    say(f"varbench suite: {len(cells)} cells, {len(cells) - len(todo) - len(failed_before)} already finished in "
        f"{str(out)!r}, {len(todo)} to run{where}" + (
            f", {len(failed_before)} failed before and not retried (use --no-resume to measure everything again)"
            if failed_before else ""))
    try:
        with _progress_bar(len(todo)) as advance:
            names = [f"cell-{c.block.name}-{c.key}" for c in todo]
            for outcome in pool.map(run_cell_task, todo, names=names):
                cell = todo[outcome.index]
                retried = ""
                if outcome.lost_workers:
                    run["cells_retried"][cell.label] = list(outcome.lost_workers)
                    manifest["cells_retried"][cell.label] = outcome.attempts
                    retried = f"; retried: worker {', '.join(outcome.lost_workers)} died running it"
                result = outcome.value
                if outcome.error is not None:
                    manifest["cells_failed"][cell.label] = WORKER_DIED_TAG + str(outcome.error)
                    store.write_manifest(out, manifest)
                    advance(f"FAILED {cell.label}: {outcome.error}")
                elif result["status"] == "skipped":
                    manifest["cells_skipped"][cell.label] = result["reason"]
                    advance(f"skipped {cell.label}: {result['reason']}")
                elif result["status"] == "failed":
                    manifest["cells_failed"][cell.label] = result["reason"]
                    store.write_manifest(out, manifest)
                    advance(f"FAILED {cell.label}: {result['reason']}{retried}")
                else:
                    provenance = dict(result["provenance"], executor=pool.kind, attempts=outcome.attempts,
                                      run=run["run"])
                    columns = {sc.provenance_column(k): v for k, v in provenance.items()}
                    store.write_cell(out, cell.key, [dict(row, **columns) for row in result["rows"]])
                    name = cell.block.name
                    manifest["compile_counts"][name] = manifest["compile_counts"].get(name, 0) + result["compiled"]
                    manifest["seconds"][name] = manifest["seconds"].get(name, 0.0) + result["seconds"]
                    run["cells_finished"] += 1
                    manifest["cells_done"] += 1
                    store.write_manifest(out, manifest)
                    advance(f"done {cell.label} ({result['seconds']:.1f} s{retried})")
    except BaseException:
        run.update(status="interrupted", finished=now())
        store.write_manifest(out, manifest)
        raise
    manifest["cells_done"] = len(own & store.finished_cells(out))
    manifest["finished"] = run["finished"] = now()
    run["status"] = "finished"
    store.write_manifest(out, manifest)
    return manifest


def _eta(done: int, total: int, elapsed: float) -> str:
    """Time left if the remaining cells take as long, on average, as the finished ones (``?`` before the first)."""
    if done == 0:
        return "?"
    left = round(elapsed / done * (total - done))
    return f"{left // 3600}h{left // 60 % 60:02d}m" if left >= 3600 else f"{left // 60}m{left % 60:02d}s"


class _progress_bar:
    """A rich progress bar with the time left on a terminal; plain log lines with an ETA otherwise (CI, pipes)."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self) -> Callable[[str], None]:
        from rich.console import Console
        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
            self._bar.start()
            task = self._bar.add_task("suite", total=self.total)

            def advance(line: str) -> None:
                self._bar.console.log(line)
                self._bar.advance(task)
            return advance
        self._bar = None
        count, start = iter(range(1, self.total + 1)), time.perf_counter()

        def log(line: str) -> None:
            done = next(count)
            eta = _eta(done, self.total, time.perf_counter() - start)
            print(f"[{done}/{self.total}, ETA {eta}] {line}", file=sys.stderr, flush=True)
        return log

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

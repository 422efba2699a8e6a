"""``varbench suite``: sweeps described in TOML, run cell by cell into a resumable result store.

A config has ``[[block]]`` tables. Each block names a problem spec, a list of estimator specs, a ``grid`` of
problem options and params to sweep (cartesian product), a method (``mc`` or ``exact``), sample counts and seeds.
Grid keys that are static options (a cost's name, a dimension) split the block into separately compiled groups;
keys that are value options (``k``) or params vary inside ONE compiled kernel (:func:`varbench.harness.
measure_batch`), so a 50-point ``k`` sweep compiles once.

A *cell* is one (block, estimator, static-option combination, seed). Each finished cell is written atomically to
the store as one Parquet file (:mod:`reports.store`), so an interrupted suite re-run with the same command skips
finished cells. The store's manifest records the config's hash and the varbench version; results of a different
config or version are never mixed in silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.resources
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from varbench.errors import NotApplicableError, VarbenchError
from varbench.pytree import options_of
from varbench.registry import PROBLEMS, resolve_estimator, resolve_problem
from varbench.spec import format_spec, parse_spec

DEFAULT_CONFIG = "default.toml"
BLOCK_KINDS = ("measure", "trace")
BLOCK_KEYS = ("name", "title", "kind", "problem", "estimators", "grid", "method", "samples", "seeds", "warmup",
              "quick", "figure", "trace")
#: Keys of a trace block's ``trace`` table (see :func:`varbench.trace.trace`).
TRACE_KEYS = ("drivers", "lr", "steps", "every")


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
    except tomllib.TOMLDecodeError as err:
        raise VarbenchError(f"config file {str(path)!r} is not valid TOML: {err}") from None


def _expand_values(name: str, spec: Any) -> tuple[Any, ...]:
    """A grid axis: a list of values, a scalar, or ``{start, stop, num}`` (linspace) / ``{..., log = true}``."""
    if isinstance(spec, dict):
        try:
            start, stop, num = float(spec["start"]), float(spec["stop"]), int(spec["num"])
        except (KeyError, TypeError, ValueError):
            raise VarbenchError(f"grid axis {name!r}: a range needs numeric start, stop and num") from None
        values = np.geomspace(start, stop, num) if spec.get("log") else np.linspace(start, stop, num)
        return tuple(float(v) for v in values)
    if isinstance(spec, list):
        if not spec:
            raise VarbenchError(f"grid axis {name!r} is empty")
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
    if method == "mc" and (not isinstance(samples, int) or samples <= 0):
        raise VarbenchError(f"block {name!r}: 'samples' must be a positive integer; got {samples!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise VarbenchError(f"block {name!r}: 'seeds' must be a list of non-negative integers")
    grid = {k: _expand_values(k, v) for k, v in (raw.get("grid") or {}).items()}
    problem = raw.get("problem")
    if not isinstance(problem, str):
        raise VarbenchError(f"block {name!r}: 'problem' must be a problem spec string")
    resolve_problem(problem)  # validates name and fixed options early, with the usual one-line errors
    trace = dict(raw.get("trace") or {})
    if kind == "trace":
        unknown = sorted(set(trace) - set(TRACE_KEYS))
        if unknown or not trace.get("drivers"):
            raise VarbenchError(f"block {name!r}: a trace block needs trace = {{ drivers = [...], lr, steps, every }}"
                                f"; valid keys: {', '.join(TRACE_KEYS)}")
        if grid:
            raise VarbenchError(f"block {name!r}: a trace block has no grid (it follows the optimisation)")
        estimators = estimators + list(trace["drivers"])
    for spec in estimators:
        resolve_estimator(spec)
    return Block(name=name, title=raw.get("title", name), kind=kind, problem=problem,
                 estimators=tuple(raw["estimators"]), grid=grid, method=method, samples=int(samples),
                 seeds=tuple(seeds), warmup=int(warmup), figure=dict(raw.get("figure") or {}), trace=trace)


def parse_config(raw: dict[str, Any], *, quick: bool = False) -> list[Block]:
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
    name, fixed = parse_spec(block.problem)
    fields = options_of(PROBLEMS[name])
    param_names = set(resolve_problem(block.problem).default_params())
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


def _problem_spec(block: Block, static: dict, options: dict) -> str:
    name, fixed = parse_spec(block.problem)
    return format_spec(name, {**fixed, **static, **options})


def run_trace_cell(cell: Cell) -> list[dict[str, Any]]:
    """One optimisation trace (:func:`varbench.trace.trace`); rows: checkpoint × measured estimator.

    Rows stay flat for Parquet: per-parameter dicts are dropped (``params`` is kept as ``params_json``) and the
    per-group fields become one column per group, ``group_variance_encoder`` and so on.
    """
    from varbench.trace import GROUP_FIELDS, trace

    block, spec = cell.block, cell.block.trace
    rows = trace(block.problem, cell.driver, estimators=list(block.estimators), lr=float(spec.get("lr", 0.01)),
                 steps=int(spec.get("steps", 1000)), every=int(spec.get("every", 100)), samples=block.samples,
                 seed=cell.seed, method=block.method)
    out = []
    for row in rows:
        flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
        flat.update(block=block.name, cell=cell.key, estimator_label=row["estimator"],
                    estimator_name=parse_spec(row["estimator"])[0], trace_seed=cell.seed,
                    params_json=json.dumps(row["params"]))
        flat.update({f"{field}_{group}": value for field in GROUP_FIELDS
                     for group, value in (row.get(field) or {}).items()})
        out.append(flat)
    return out


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """Measure every grid point of a cell; returns tidy rows (see :func:`reports.records`)."""
    from reports.records import records
    from varbench.harness import measure, measure_batch

    block = cell.block
    if block.kind == "trace":
        return run_trace_cell(cell)
    problems = [resolve_problem(_problem_spec(block, cell.static, p["options"])) for p in cell.points]
    estimator = resolve_estimator(cell.estimator)
    estimator.check_applies(problems[0])
    if block.method == "mc":
        results = measure_batch(problems, estimator, params=[p["params"] for p in cell.points],
                                num_samples=block.samples, seed=cell.seed, warmup=block.warmup)
    else:
        results = [measure(pr, estimator, params=p["params"], method="exact", seed=cell.seed, warmup=block.warmup)
                   for pr, p in zip(problems, cell.points)]
    rows = []
    est_name, est_options = parse_spec(cell.estimator)
    for index, (point, result) in enumerate(zip(cell.points, results)):
        for row in records([result]):
            row.update(block=block.name, cell=cell.key, point=index, estimator_name=est_name,
                       estimator_label=cell.estimator, problem_name=parse_spec(block.problem)[0],
                       **{f"grid_{k}": v for k, v in {**cell.static, **point["options"], **point["params"]}.items()},
                       **{f"opt_{k}": v for k, v in est_options.items()})
            rows.append(row)
    return rows


def config_hash(raw: dict[str, Any], quick: bool) -> str:
    from varbench import __version__
    payload = json.dumps(dict(config=raw, quick=quick, version=__version__), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    import jax

    from varbench import __version__
    return dict(varbench_version=__version__, jax_version=jax.__version__, numpy_version=np.__version__,
                python=sys.version.split()[0], platform=platform.platform(), backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()], git_commit=_git_commit())


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_suite(config: str | os.PathLike | None = None, out: str | os.PathLike = "varbench-results", *,
              quick: bool = False, resume: bool = True, progress: Callable[[str], None] | None = None,
              report: bool = True) -> dict[str, Any]:
    """Run (or resume) a suite into the store ``out``; returns the final manifest.

    Each finished cell is written atomically; a cell that fails (for example with non-finite estimates) is
    recorded in the manifest with its one-line reason and the suite goes on.
    """
    from reports import store
    from varbench import harness

    raw = load_config(config)
    blocks = parse_config(raw, quick=quick)
    digest = config_hash(raw, quick)
    out = Path(out)
    existing = store.read_manifest(out)
    if existing is not None:
        if not resume:
            store.clear(out)
        elif existing.get("config_hash") != digest:
            raise VarbenchError(
                f"{str(out)!r} holds results of a different config, version or --quick setting "
                f"({existing.get('config_hash')} != {digest}); use --no-resume to overwrite or choose another --out")
    cells = [c for b in blocks for c in cells_of(b)]
    done = store.finished_cells(out)
    previous = store.read_manifest(out) or {}
    # A resumed run keeps what the earlier runs recorded (start time, compile counts, seconds per block).
    manifest = dict(config=raw, config_hash=digest, quick=quick, started=previous.get("started", _now()),
                    resumed=previous.get("resumed", []) + ([_now()] if previous else []), finished=None,
                    environment=environment(), cells_total=len(cells), cells_done=len(done), cells_skipped={},
                    cells_failed={}, compile_counts=previous.get("compile_counts", {}),
                    seconds=previous.get("seconds", {}))
    store.write_manifest(out, manifest)
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    todo = [c for c in cells if c.key not in done]
    say(f"varbench suite: {len(cells)} cells, {len(cells) - len(todo)} already finished in {str(out)!r}, "
        f"{len(todo)} to run")
    with _progress_bar(len(todo)) as advance:
        for cell in todo:
            before, start = harness.compile_count(), time.perf_counter()
            try:
                rows = run_cell(cell)
            except NotApplicableError as err:
                manifest["cells_skipped"][cell.label] = str(err)
                advance(f"skipped {cell.label}: {err}")
                continue
            except VarbenchError as err:
                manifest["cells_failed"][cell.label] = str(err)
                advance(f"FAILED {cell.label}: {err}")
                continue
            store.write_cell(out, cell.key, rows)
            name = cell.block.name
            manifest["compile_counts"][name] = manifest["compile_counts"].get(name, 0) + harness.compile_count() - before
            manifest["seconds"][name] = manifest["seconds"].get(name, 0.0) + time.perf_counter() - start
            store.write_manifest(out, manifest)
            advance(f"done {cell.label} ({time.perf_counter() - start:.1f} s)")
    manifest["cells_done"] = len(store.finished_cells(out))
    manifest["finished"] = _now()
    store.write_manifest(out, manifest)
    if report:
        from reports.page import write_report
        write_report(out)
    return manifest


class _progress_bar:
    """A rich progress bar on a terminal; plain log lines otherwise (CI logs, pipes)."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self) -> Callable[[str], None]:
        from rich.console import Console
        console = Console(stderr=True)
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
            self._bar.start()
            task = self._bar.add_task("suite", total=self.total)

            def advance(line: str) -> None:
                self._bar.console.log(line)
                self._bar.advance(task)
            return advance
        self._bar = None
        count = iter(range(1, self.total + 1))
        return lambda line: print(f"[{next(count)}/{self.total}] {line}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()

"""A suite config: the TOML file, its schema and validation, parsed into :class:`Block` values.

A config has ``[[block]]`` tables, an optional ``plugins = [...]`` list and an optional ``[executor]`` table. Its
structure (keys and types of every table) is checked against :mod:`varbench.suite._schema` first; every value is
checked here with a one-line error naming the block and the valid choices; problem and estimator specs are parsed
and built once (:class:`EstimatorSpec`), so nothing downstream parses a spec string again.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.resources
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from varbench.catalog import ESTIMATORS, PROBLEMS, build
from varbench.core.errors import VarbenchError
from varbench.core.naming import spec_of
from varbench.core.options import MAX_NESTING, check_nesting, is_finite_real, is_integer
from varbench.core.pytree import options_of
from varbench.engine.harness import MAX_SAMPLES, MAX_WARMUP
from varbench.engine.prng import MAX_SEED
from varbench.executors import ExecutorChoice
from varbench.spec import parse_spec
from varbench.suite._schema import SCHEMA, check_block, check_config, check_figure, check_table, check_title
from varbench.trace import TraceSettings

DEFAULT_CONFIG = "default.toml"
BLOCK_KINDS = ("measure", "trace")
METHODS = ("mc", "exact")
BLOCK_KEYS = tuple(SCHEMA["block"])
#: Estimates per grid point when a block does not say.
DEFAULT_NUM_SAMPLES = 100_000
#: Keys of a trace block's ``trace`` table (see :func:`varbench.trace.trace`).
TRACE_KEYS = tuple(SCHEMA["trace"])
#: Keys of a grid range ``{start, stop, num}`` (``log = true``: geometric spacing).
RANGE_KEYS = tuple(SCHEMA["range"])
#: Most points of one range axis (every point is a measurement; far beyond any figure's resolution).
MAX_RANGE_POINTS = 10_000
#: Top-level keys of a suite config.
CONFIG_KEYS = tuple(SCHEMA["config"])
#: Keys of the config's ``[executor]`` table (the same as ``--executor``, ``--workers``, ``--scheduler``).
EXECUTOR_KEYS = tuple(SCHEMA["executor"])


class EstimatorSpec(NamedTuple):
    """An estimator spec of a config, parsed and built once: ``label`` as the config writes it (``name:options``),
    the registered ``name``, the ``options`` given, and the ``estimator`` object they build."""

    label: str
    name: str
    options: dict[str, Any]
    estimator: Any

    @classmethod
    def parse(cls, label: str) -> EstimatorSpec:
        """The spec ``label``, parsed and built (one-line errors naming the valid estimators and options)."""
        name, options = parse_spec(label)
        return cls(label, name, options, build(ESTIMATORS, "estimator", name, options))


_TRACE_DEFAULTS = TraceSettings()


class TraceTable(NamedTuple):
    """A trace block's ``trace`` table, validated, with the defaults of :class:`varbench.trace.TraceSettings`
    filled in."""

    drivers: tuple[str, ...]
    lr: float = _TRACE_DEFAULTS.lr
    steps: int = _TRACE_DEFAULTS.steps
    every: int = _TRACE_DEFAULTS.every
    ema_decay: float = _TRACE_DEFAULTS.ema_decay
    objective_samples: int = _TRACE_DEFAULTS.objective_samples

    def settings(self, num_samples: int) -> TraceSettings:
        """The trace's settings, measuring ``num_samples`` estimates at each checkpoint."""
        return TraceSettings(lr=self.lr, steps=self.steps, every=self.every, num_samples=num_samples,
                             ema_decay=self.ema_decay, objective_samples=self.objective_samples)


@dataclasses.dataclass(frozen=True)
class Block:
    """One ``[[block]]`` of a suite config, validated (``--quick`` overrides applied)."""

    name: str
    title: str
    kind: str
    problem: str
    estimators: tuple[str, ...]
    grid: dict[str, tuple[Any, ...]]
    method: str
    num_samples: int
    seeds: tuple[int, ...]
    warmup: int
    figure: dict[str, Any]
    trace: dict[str, Any] = dataclasses.field(default_factory=dict)  # as written (part of a trace cell's key)
    reference: str = ""  # the label of the estimator that variance ratios divide by (one of ``estimators``)
    # The specs above, parsed and built once: the problem's name and fixed options; every estimator (and driver).
    problem_name: str = dataclasses.field(default="", compare=False)
    problem_options: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    specs: dict[str, EstimatorSpec] = dataclasses.field(default_factory=dict, compare=False)
    trace_table: TraceTable | None = dataclasses.field(default=None, compare=False)  # trace blocks

    def build_problem(self, options: Mapping[str, Any]) -> Any:
        """The block's problem with ``options`` (grid values) over its fixed ones; no spec string round trip."""
        return build(PROBLEMS, "problem", self.problem_name, {**self.problem_options, **options})

    @property
    def measured(self) -> tuple[EstimatorSpec, ...]:
        """The block's estimators, parsed (a trace block measures each of them at every checkpoint)."""
        return tuple(self.specs[label] for label in self.estimators)


def default_config_path() -> Path:
    """The packaged default suite config (``varbench/configs/default.toml``)."""
    return Path(str(importlib.resources.files("varbench") / "configs" / DEFAULT_CONFIG))


def load_config(path: str | os.PathLike | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a TOML config (the packaged default when ``path`` is None; a table already read is copied); one-line
    errors for unreadable files."""
    if isinstance(path, Mapping):
        check_nesting("the suite config", path)  # before deepcopy, json or any check recurses into it
        return copy.deepcopy(dict(path))
    path = Path(path) if path is not None else default_config_path()
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        check_nesting(f"config file {str(path)!r}", raw)
        return raw
    except RecursionError:  # tomllib recurses once per level of nesting
        raise VarbenchError(f"config file {str(path)!r} nests arrays or tables more than {MAX_NESTING} deep, the "
                            "limit for any value") from None
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


def _expand_values(where: str, spec: Any) -> tuple[Any, ...]:
    """A grid axis: a list of values, a scalar, or ``{start, stop, num}`` (linspace) / ``{..., log = true}``;
    ``where`` names the axis in errors (the range's keys and types are checked by the schema)."""
    if isinstance(spec, dict):
        start, stop, num, log = (spec.get(k) for k in RANGE_KEYS)
        if not (is_finite_real(start) and is_finite_real(stop) and is_integer(num)
                           and 1 <= num <= MAX_RANGE_POINTS):
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


def with_quick(raw: dict[str, Any], name: str, quick: bool) -> dict[str, Any]:
    """The block's table with its ``quick = {...}`` overrides applied when ``quick`` (its keys are checked by
    :func:`varbench.suite._schema.check_block`; ``name`` names the block)."""
    overrides = raw.get("quick")
    if not quick or not isinstance(overrides, dict):
        return raw
    return {**raw, **{k: v for k, v in overrides.items() if k != "skip"}}


def _check_numbers(name: str, raw: dict[str, Any], method: str) -> tuple[int, tuple[int, ...], int]:
    """A block's ``num_samples``, ``seeds`` and ``warmup``, validated."""
    num_samples, warmup = raw.get("num_samples", DEFAULT_NUM_SAMPLES), raw.get("warmup", 0)
    if method == "mc" and not (is_integer(num_samples) and 0 < num_samples <= MAX_SAMPLES):
        raise VarbenchError(f"block {name!r}: 'num_samples' must be an integer from 1 to {MAX_SAMPLES}; got "
                            f"{num_samples!r}")
    if not (is_integer(warmup) and 0 <= warmup <= MAX_WARMUP):
        raise VarbenchError(f"block {name!r}: 'warmup' must be an integer from 0 to {MAX_WARMUP}; got {warmup!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(is_integer(s) and 0 <= s <= MAX_SEED for s in seeds):
        raise VarbenchError(f"block {name!r}: 'seeds' must be a list of integers from 0 to {MAX_SEED}; got {seeds!r}")
    _refuse_repeats(f"block {name!r}: 'seeds'", seeds)
    return int(num_samples), tuple(seeds), int(warmup)


def _refuse_repeats(where: str, values: Sequence[Any], canonical: Sequence[Any] | None = None) -> None:
    """A one-line refusal of a value listed twice (a cell measured twice would also never count as finished on a
    resume); ``canonical`` compares values by another form (estimator specs by their canonical spec)."""
    seen: dict[Any, Any] = {}
    for value, key in zip(values, canonical if canonical is not None else values):
        if key in seen:
            same = "" if seen[key] == value else f" (the same as {seen[key]!r})"
            raise VarbenchError(f"{where} lists {value!r} twice{same}; list each once")
        seen[key] = value


def _check_choices(name: str, raw: dict[str, Any]) -> tuple[str, str, list[str]]:
    """A block's ``kind``, ``method`` and ``estimators``, validated; and the types of its tables."""
    kind = raw.get("kind", "measure")
    if kind not in BLOCK_KINDS:
        raise VarbenchError(f"block {name!r}: unknown kind {kind!r}; valid kinds: {', '.join(BLOCK_KINDS)}")
    method = raw.get("method", "mc")
    if method not in METHODS:
        raise VarbenchError(f"block {name!r}: unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    estimators = raw.get("estimators")
    if not isinstance(estimators, list) or not estimators or not all(isinstance(e, str) for e in estimators):
        raise VarbenchError(f"block {name!r}: 'estimators' must be a non-empty list of estimator specs")
    return kind, method, estimators


def _check_report(block: Block) -> None:
    """What the report draws from ``block``: its title's mathtext and its figure's keys (checked here, before any
    cell runs, rather than when the report fails after every cell was measured)."""
    where = f"block {block.name!r}: "
    check_title(block.title, where)
    estimators = [spec.estimator for spec in block.specs.values()]
    options = {o for e in estimators for o in options_of(type(e))}
    given = {o for spec in block.specs.values() for o in spec.options}
    check_figure(block.figure, where + "figure: ", grid=list(block.grid), options=options, given=given,
                 trace=block.kind == "trace")


def _check_trace(name: str, trace: dict[str, Any], grid: dict[str, Any]) -> TraceTable:
    """The ``trace`` table of a trace block, with the ranges :func:`varbench.trace.trace` accepts (its keys and
    types are checked by the schema)."""
    if not trace.get("drivers"):
        raise VarbenchError(f"block {name!r}: a trace block needs trace = {{ drivers = [...], lr, steps, every }}"
                            f"; valid keys: {', '.join(TRACE_KEYS)}")
    if grid:
        raise VarbenchError(f"block {name!r}: a trace block has no grid (it follows the optimisation)")
    default = TraceTable(())
    drivers, lr, steps, every, decay, draws = (trace.get(k, d) for k, d in zip(TRACE_KEYS, default))
    if not isinstance(drivers, list) or not all(isinstance(d, str) for d in drivers):
        raise VarbenchError(f"block {name!r}: trace 'drivers' must be a list of estimator specs; got {drivers!r}")
    if not (is_finite_real(lr) and lr > 0):
        raise VarbenchError(f"block {name!r}: trace 'lr' must be a positive number; got {lr!r}")
    if not (is_integer(steps) and steps >= 0):
        raise VarbenchError(f"block {name!r}: trace 'steps' must be a non-negative integer; got {steps!r}")
    if not (is_integer(every) and every >= 1):
        raise VarbenchError(f"block {name!r}: trace 'every' must be a positive integer; got {every!r}")
    if not (is_finite_real(decay) and 0 < decay < 1):
        raise VarbenchError(f"block {name!r}: trace 'ema_decay' must be a number in (0, 1), e.g. 0.999; got {decay!r}")
    if not (is_integer(draws) and draws >= 0):
        raise VarbenchError(f"block {name!r}: trace 'objective_samples' must be a non-negative integer; got {draws!r}")
    return TraceTable(tuple(drivers), float(lr), int(steps), int(every), float(decay), int(draws))


def _reference(name: str, given: str | None, estimators: Sequence[str], specs: Mapping[str, EstimatorSpec]) -> str:
    """The label of the block's reference estimator: ``given`` (one of ``estimators``, compared by canonical
    spec), else the plain score function when listed, else the first estimator."""
    listed = {spec_of(specs[e].estimator): e for e in estimators}
    if given is None:
        return listed.get("score_function", estimators[0])
    try:
        canonical = spec_of(EstimatorSpec.parse(given).estimator)
    except VarbenchError as err:
        raise VarbenchError(f"block {name!r}: 'reference': {err}") from None
    if canonical not in listed:
        raise VarbenchError(f"block {name!r}: 'reference' {given!r} is not one of the block's estimators; valid: "
                            f"{', '.join(estimators)}")
    return listed[canonical]


def parse_block(raw: dict[str, Any], *, quick: bool) -> Block:
    """One ``[[block]]`` table, validated, with ``quick``'s overrides applied and its specs built.

    Args:
      raw: the block's table as TOML reads it.
      quick: apply the block's ``quick = {...}`` overrides (``varbench suite --quick``).

    Returns:
      The block.

    Raises:
      VarbenchError: a one-line message naming the block and the valid choices.
    """
    name = check_block(raw)
    raw = with_quick(raw, name, quick)
    kind, method, estimators = _check_choices(name, raw)
    num_samples, seeds, warmup = _check_numbers(name, raw, method)
    grid = {k: _expand_values(f"block {name!r}: grid axis {k!r}", v) for k, v in (raw.get("grid") or {}).items()}
    problem = raw.get("problem")
    if not isinstance(problem, str):
        raise VarbenchError(f"block {name!r}: 'problem' must be a problem spec string")
    problem_name, problem_options = parse_spec(problem)
    build(PROBLEMS, "problem", problem_name, problem_options)  # validates early, with the usual one-line errors
    trace = dict(raw.get("trace") or {})
    table = _check_trace(name, trace, grid) if kind == "trace" else None
    specs = {label: EstimatorSpec.parse(label) for label in [*estimators, *(table.drivers if table else ())]}
    _refuse_repeats(f"block {name!r}: 'estimators'", estimators, [spec_of(specs[e].estimator) for e in estimators])
    for axis, values in grid.items():
        _refuse_repeats(f"block {name!r}: grid axis {axis!r}", values, [json.dumps(v, sort_keys=True) for v in values])
    block = Block(name=name, title=raw.get("title", name), kind=kind, problem=problem, estimators=tuple(estimators),
                  grid=grid, method=method, num_samples=num_samples, seeds=seeds, warmup=warmup,
                  figure=dict(raw.get("figure") or {}), trace=trace,
                  reference=_reference(name, raw.get("reference"), estimators, specs), problem_name=problem_name,
                  problem_options=problem_options, specs=specs, trace_table=table)
    _check_report(block)
    return block


def parse_config(raw: dict[str, Any], *, quick: bool = False) -> list[Block]:
    """Every block of a config, validated (``quick``: with the ``--quick`` overrides, without the blocks that say
    ``quick = { skip = true }``).

    Args:
      raw: the config as :func:`load_config` reads it.
      quick: the config's quick variant.

    Returns:
      The blocks, in config order.

    Raises:
      VarbenchError: a one-line message naming the block and the valid choices.
    """
    check_config(raw)  # the whole structure first, the blocks that --quick leaves out included
    blocks = raw["block"]
    if quick:  # `quick = { skip = true }` leaves a block out of --quick runs (keeps the quick suite fast)
        blocks = [b for b in blocks if not (isinstance(b, dict) and isinstance(b.get("quick"), dict)
                                            and b["quick"].get("skip") is True)]
    parsed = [parse_block(b, quick=quick) for b in blocks]
    names = [b.name for b in parsed]
    if len(set(names)) != len(names):
        raise VarbenchError("block names must be unique")
    return parsed


def executor_of(raw: dict[str, Any], given: ExecutorChoice | None, plugins: Sequence[str] = ()) -> ExecutorChoice:
    """Where the cells run: ``given`` (the command line's choice) over the config's ``[executor]`` table, validated
    (nothing is started), with the ``plugins`` every worker imports.

    ``given=None`` takes the table (local if it has none). A given dask choice without ``workers`` or ``scheduler``
    takes the table's. The table is not part of the config's hash: a sweep started on one machine can be resumed
    on a cluster.
    """
    table = raw.get("executor", {})
    if not isinstance(table, dict):
        raise VarbenchError(f"suite config: 'executor' must be a table, e.g. executor = {{ kind = \"dask\", "
                            f"workers = 4 }}; got {table!r}")
    check_table(table, "executor", "suite config: executor: ")
    kind, workers, scheduler = ((table.get("kind"), None, None) if given is None else
                                (given.kind, given.workers, given.scheduler))
    if kind != "local" and workers is None and scheduler is None:
        workers, scheduler = table.get("workers"), table.get("scheduler")
    return ExecutorChoice.checked(kind, workers, scheduler, plugins)


def _beside(folder: Path, plugin: str) -> str:
    """A config's plugin as it is loaded: a ``.py`` file relative to the config's folder, or a module name that is a
    file in that folder (``my_plugin`` for ``my_plugin.py`` beside the config), as that file's path; otherwise the
    module name, imported from the installed packages or the working directory."""
    plugin = plugin.strip()
    if plugin.endswith(".py"):
        return str(folder / plugin)
    beside = folder / (plugin.replace(".", os.sep) + ".py")
    return str(beside) if beside.is_file() else plugin


def load_config_plugins(raw: dict[str, Any], extra: Sequence[str] = (), folder: Path | None = None) -> list[str]:
    """Import the plugins named by ``plugins = [...]`` in the config (found beside the config file in ``folder``
    first, see :func:`_beside`) and by ``extra`` (``--plugin``, from the working directory); returns them as
    loaded (names or file paths), without repeats."""
    from varbench.catalog import load_plugin

    named = raw.get("plugins", [])
    if not isinstance(named, list) or not all(isinstance(m, str) and m.strip() for m in named):
        raise VarbenchError("'plugins' must be a list of module names or .py files, e.g. plugins = "
                            "[\"my_package.estimators\"]")
    if folder is not None:
        named = [_beside(folder, m) for m in named]
    modules = list(dict.fromkeys([*named, *extra]))
    for module in modules:
        load_plugin(module)
    return modules


def config_hash(raw: dict[str, Any], quick: bool) -> str:
    """What a store's results depend on: the config (without ``[executor]``: where cells run does not change what
    they measure), ``--quick`` and the varbench version."""
    from varbench import __version__
    config = {k: v for k, v in raw.items() if k != "executor"}
    payload = json.dumps(dict(config=config, quick=quick, version=__version__), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]

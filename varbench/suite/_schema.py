"""The schema of a suite config, written once: every table's keys, their types and what each key means.

:data:`SCHEMA` maps each table of a config (the top level, ``[executor]``, a ``[[block]]``, its ``quick``,
``figure`` and ``trace`` tables, a grid range ``{start, stop, num}``) to its keys; :func:`config_schema` returns it
(documentation can be generated from it). :func:`check_config` and :func:`check_block` validate a config against
it before anything runs: an unknown key (with a did-you-mean suggestion), a wrong type or a missing required key
is a one-line :class:`VarbenchError` naming the key, where it is and the valid keys or the expected type.

What depends on more than one key is checked here too: a figure's kind and the grid axes or estimator options its
keys name (:func:`check_figure`), a title's mathtext (:func:`check_title`), a block's name (:func:`check_name`).
Values (ranges, specs, seeds) are checked where they are read (:mod:`varbench.suite._config`).
"""

from __future__ import annotations

import difflib
import numbers
from typing import Any, Callable, Collection, Mapping, NamedTuple

from varbench.core.errors import VarbenchError
from varbench.core.options import is_integer
from varbench.reports.schema import GRID_PREFIX, OPTION_PREFIX

#: Longest block name: it names the block's report section, figure file and cells.
MAX_NAME = 100


class Field(NamedTuple):
    """One key of a config table: its ``type`` (a key of :data:`TYPES`), whether it is ``required``, a one-line
    ``doc``, and for a table (or a grid's ranges) the key of :data:`SCHEMA` that describes it."""

    type: str
    required: bool
    doc: str
    table: str | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(v) for v in value)


#: Each type of :class:`Field`: how messages and docs name it, and the test a value must pass.
TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", is_integer),
    "number": ("a number", _is_number),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "strings": ("a list of strings", _list_of(lambda v: isinstance(v, str))),
    "integers": ("a list of integers", _list_of(is_integer)),
    "table": ("a table", lambda v: isinstance(v, dict)),
    "tables": ("a list of tables", lambda v: isinstance(v, list)),  # each item: see check_block
    "grid": ("a table of grid axes (axis = [values], a value, or { start, stop, num })", lambda v: isinstance(v, dict)),
}

_BLOCK = {
    "name": Field("string", True, f"the block's name: at most {MAX_NAME} letters, digits, '-' and '_'"),
    "title": Field("string", False, "the report section's title (default: the name); $...$ is matplotlib mathtext"),
    "kind": Field("string", False, "measure (default: a grid of measurements) or trace (along an optimisation)"),
    "problem": Field("string", True, "the problem spec, e.g. gaussian:dim=1"),
    "estimators": Field("strings", True, "the estimator specs measured, e.g. score_function:baseline=optimal"),
    "grid": Field("grid", False, "problem options and params swept (cartesian product)", "range"),
    "method": Field("string", False, "mc (Monte Carlo, default) or exact (quadrature over each estimate's noise)"),
    "num_samples": Field("integer", False, "estimates per grid point (Monte Carlo)"),
    "seeds": Field("integers", False, "the seeds; each is a cell of its own (default [0])"),
    "warmup": Field("integer", False, "steps that fit stateful estimators before they are measured (default 0)"),
    "reference": Field("string", False, "the estimator (one of the block's) that variance ratios divide by "
                                        "(default: score_function when listed, else the first estimator)"),
    "quick": Field("table", False, "keys that replace the block's under --quick; skip = true leaves it out", "quick"),
    "figure": Field("table", False, "the figure the report draws for the block, and the section's note", "figure"),
    "trace": Field("table", False, "a trace block's optimisation: drivers, lr, steps, every, ema_decay, "
                   "objective_samples", "trace"),
}

#: Every table of a suite config -> its keys, in the order messages and docs list them.
SCHEMA: dict[str, dict[str, Field]] = {
    "config": {
        "plugins": Field("strings", False, "modules or .py files (beside the config) imported before the blocks"),
        "executor": Field("table", False, "where the cells run (the command line's --executor wins)", "executor"),
        "block": Field("tables", True, "the blocks ([[block]] tables), measured in order", "block"),
    },
    "executor": {
        "kind": Field("string", False, "local (default) or dask"),
        "workers": Field("integer", False, "dask: the worker processes of a local cluster"),
        "scheduler": Field("string", False, "dask: the address of a running cluster's scheduler"),
    },
    "block": _BLOCK,
    "quick": {**{k: f._replace(required=False) for k, f in _BLOCK.items() if k not in ("name", "quick")},
              "skip": Field("boolean", False, "true: leave the block out of --quick runs")},
    "figure": {
        "kind": Field("string", False, "variance_vs, trace, sequential, series or model_bias (none: no figure)"),
        "x": Field("string", False, "the x axis: a grid axis (variance_vs), an estimator option (model_bias) or a "
                                    "column such as opt_lambda (series)"),
        "col": Field("string", False, "variance_vs: a grid axis with a panel per value"),
        "line": Field("string", False, "model_bias: a grid axis with a line per value"),
        "hue": Field("string", False, "series: the column with a line per value (default estimator_name)"),
        "overlay": Field("string", False, "another block whose rows are drawn on the same axes"),
        "note": Field("string", False, "text printed above the figure"),
        "groups": Field("boolean", False, "add the variance per parameter group to the block's table"),
    },
    "trace": {
        "drivers": Field("strings", True, "the estimators whose estimates train the params (a trace each)"),
        "lr": Field("number", False, "Adam's learning rate"),
        "steps": Field("integer", False, "optimisation steps"),
        "every": Field("integer", False, "steps between checkpoints"),
        "ema_decay": Field("number", False, "decay of the moving averages of the driver's g and g² (papers: 0.999)"),
        "objective_samples": Field("integer", False, "cost draws of the objective's estimate per checkpoint (0: none)"),
    },
    "range": {
        "start": Field("number", True, "the first value"),
        "stop": Field("number", True, "the last value"),
        "num": Field("integer", True, "the number of values"),
        "log": Field("boolean", False, "true: geometric spacing (start and stop of one sign)"),
    },
}


class FigureNeeds(NamedTuple):
    """What a figure kind needs from its block: keys it requires, keys that name a grid axis, an estimator option
    or a column of the block's rows, and whether it draws a trace block's rows (and only those)."""

    required: tuple[str, ...] = ()
    axes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    trace: bool = False


#: Each figure kind (:class:`varbench.reports._contents.FigureKind`) and what it needs.
FIGURE_KINDS: dict[str, FigureNeeds] = {
    "variance_vs": FigureNeeds(required=("x",), axes=("x", "col")),
    "trace": FigureNeeds(trace=True),
    "sequential": FigureNeeds(),
    "series": FigureNeeds(required=("x",), columns=("x", "hue")),
    "model_bias": FigureNeeds(required=("x", "line"), axes=("line",), options=("x",)),
}
#: Columns of every measurement row that a series figure may name besides grid axes and options.
ROW_COLUMNS = ("estimator_name", "estimator_label", "method")


def config_schema() -> dict[str, dict[str, Field]]:
    """Every table of a suite config with its keys, their types and one-line descriptions.

    Returns:
      Table (``config``, ``executor``, ``block``, ``quick``, ``figure``, ``trace``, ``range``) -> key ->
      :class:`Field`; ``TYPES[field.type][0]`` names a field's type in words. A copy: changing it changes nothing.
    """
    return {table: dict(fields) for table, fields in SCHEMA.items()}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: Any, valid: Collection[str]) -> str:
    close = difflib.get_close_matches(str(word), list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_table(table: Mapping[str, Any], schema: str, where: str) -> None:
    """Refuse a key of ``table`` outside ``SCHEMA[schema]``, a value of the wrong type (tables inside are checked
    the same way) or a missing required key.

    Args:
      table: the table as TOML reads it.
      schema: its key in :data:`SCHEMA`.
      where: where the table is, the prefix of messages (``"block 'a': quick: "``).

    Raises:
      VarbenchError: one line naming the key, the valid keys (and a close match) or the expected type.
    """
    fields = SCHEMA[schema]
    if "samples" in table and schema in ("block", "quick"):
        raise VarbenchError(f"{where}'samples' is now 'num_samples' (the number of estimates; 'samples' is an "
                            "estimator option: draws per estimate)")
    for key in table:
        if key not in fields:
            raise VarbenchError(f"{where}unknown key {key!r}; valid keys: {', '.join(fields)}{_suggest(key, fields)}")
    for key, field in fields.items():
        if key in table:
            _check_value(table[key], key, field, where)
        elif field.required:
            raise VarbenchError(f"{where}missing key {key!r}: {field.doc}")


def _check_value(value: Any, key: str, field: Field, where: str) -> None:
    words, passes = TYPES[field.type]
    if not passes(value):
        raise VarbenchError(f"{where}{key!r} must be {words}; got {_short(value)}")
    if field.type == "table" and field.table:
        check_table(value, field.table, f"{where}{key}: ")
    elif field.type == "grid":
        for axis, spec in value.items():
            if not isinstance(axis, str):
                raise VarbenchError(f"{where}grid axes are named by strings; got {_short(axis)}")
            if isinstance(spec, dict):
                check_table(spec, field.table, f"{where}grid axis {axis!r}: ")


def check_name(name: Any) -> str:
    """A block's name: at most :data:`MAX_NAME` letters, digits, ``-`` and ``_``.

    Args:
      name: the block's ``name``.

    Returns:
      The name.

    Raises:
      VarbenchError: one line naming the rule.
    """
    if not (isinstance(name, str) and len(name) <= MAX_NAME and name.isprintable()
            and name.replace("_", "").replace("-", "").isalnum()):
        raise VarbenchError(f"every block needs a name of at most {MAX_NAME} letters, digits, '-' and '_' "
                            f"(key 'name'); got {_short(name)}")
    return name


def check_block(raw: Any, index: int | None = None) -> str:
    """The structure of one ``[[block]]`` table (its name, keys, types and inner tables); values are checked
    where they are read.

    Args:
      raw: the block's table as TOML reads it.
      index: its position in the config (for the message when it is not a table).

    Returns:
      The block's name.

    Raises:
      VarbenchError: one line naming the block and the key.
    """
    if not isinstance(raw, dict):
        at = "" if index is None else f" (block {index + 1})"
        raise VarbenchError(f"each [[block]] must be a table{at}; got {_short(raw)}")
    name = check_name(raw.get("name"))
    check_table(raw, "block", f"block {name!r}: ")
    return name


def check_config(raw: Mapping[str, Any]) -> None:
    """The structure of a whole suite config: its top-level keys, ``[executor]`` and every block (those that
    ``--quick`` leaves out included), before anything is built or run.

    Args:
      raw: the config as :func:`varbench.suite.load_config` reads it.

    Raises:
      VarbenchError: one line naming the key and where it is.
    """
    where = "suite config: "
    if not isinstance(raw, Mapping):
        raise VarbenchError(f"a suite config is a table of [[block]] tables; got {_short(raw)}")
    fields = SCHEMA["config"]
    for key in raw:
        if key not in fields:
            raise VarbenchError(f"{where}unknown top-level key {key!r}; valid keys: {', '.join(fields)}"
                                f"{_suggest(key, fields)}")
    blocks = raw.get("block")
    if blocks is None or (isinstance(blocks, list) and not blocks):
        raise VarbenchError("a suite config needs at least one [[block]] table")
    check_table(raw, "config", where)
    for index, block in enumerate(raw["block"]):
        check_block(block, index)


def _refuse_name(value: Any, valid: Collection[str], what: str, where: str) -> None:
    if value not in valid:
        choices = f"valid: {', '.join(valid)}{_suggest(value, valid)}" if valid else "the block has none"
        raise VarbenchError(f"{where}{what}; {choices}")


def check_figure(figure: Mapping[str, Any], where: str, *, grid: Collection[str], options: Collection[str],
                 given: Collection[str], trace: bool) -> None:
    """A block's ``figure`` table against its block: the kind exists and the keys it draws from name what the
    block's rows will have (otherwise the report would fail after every cell was measured).

    Args:
      figure: the block's ``figure`` table (its structure already checked).
      where: the prefix of messages (``"block 'a': figure: "``).
      grid: the block's grid axes.
      options: the options of the block's estimators (a model_bias ``x``).
      given: the options its estimator specs give (the ``opt_<name>`` columns of its rows).
      trace: the block is a trace block.

    Raises:
      VarbenchError: one line naming the key and the valid choices.
    """
    kind = figure.get("kind")
    if kind is None:
        return
    _refuse_name(kind, list(FIGURE_KINDS), f"unknown figure kind {kind!r}", where)
    needs = FIGURE_KINDS[kind]
    if needs.trace != trace:
        raise VarbenchError(f"{where}a {kind} figure draws " + ("a trace block's rows; this block is not one" if
                            needs.trace else "measurements; a trace block draws kind = \"trace\""))
    for key in needs.required:
        if key not in figure:
            raise VarbenchError(f"{where}a {kind} figure needs {key!r}: {SCHEMA['figure'][key].doc}")
    columns = [*ROW_COLUMNS, *(GRID_PREFIX + a for a in grid), *(OPTION_PREFIX + o for o in given)]
    for keys, valid, what in ((needs.axes, list(grid), "grid axis of the block"),
                              (needs.options, sorted(options), "option of the block's estimators"),
                              (needs.columns, columns, "column of the block's rows")):
        for key in (k for k in keys if k in figure):
            _refuse_name(figure[key], valid, f"{key} = {figure[key]!r} names no {what}", where)


def check_title(title: str, where: str) -> None:
    """Refuse a title whose ``$...$`` mathtext matplotlib cannot parse (it would fail drawing the report's figure).

    Matplotlib reads a text as mathtext when it has an even, non-zero number of unescaped ``$``; such a title is
    parsed here without drawing anything.

    Args:
      title: the block's title.
      where: the prefix of messages (``"block 'a': "``).

    Raises:
      VarbenchError: one line with matplotlib's reason.
    """
    dollars = title.count("$") - title.count(r"\$")
    if dollars == 0 or dollars % 2:
        return
    from matplotlib.mathtext import MathTextParser  # only a title with mathtext pays for importing the parser

    try:
        MathTextParser("path").parse(title)
    except Exception as err:  # pyparsing's errors and any other refusal: the report would fail the same way
        lines = str(err).strip().splitlines()
        reason = (lines[-1] if lines else type(err).__name__)[:120]
        raise VarbenchError(f"{where}'title' has $...$ mathtext that matplotlib cannot parse ({reason}); write \\$ "
                            "for a literal dollar sign") from None

"""Human-readable output for the CLI (rich tables)."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from varbench.catalog import (
    ESTIMATORS,
    PROBLEMS,
    describe,
    estimator_names,
    origin,
    problem_names,
)
from varbench.core.capabilities import capabilities_of
from varbench.engine.result import Result

if TYPE_CHECKING:  # the battery imports far more than a table needs
    from varbench.battery import CheckReport


def _fmt(x: Any, digits: int = 5) -> str:
    """A number for a table cell, ``digits`` significant digits; ``-`` for None."""
    if x is None:
        return "-"
    x = float(x)
    if not np.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    return f"{x:.{digits}g}"


def make_console() -> Console:
    """A console for the CLI's tables.

    Returns:
      A rich console at least 120 columns wide, even when stdout is not a terminal (rich would assume 80).
    """
    return Console(highlight=False, width=max(shutil.get_terminal_size((120, 24)).columns, 120))


#: Results with more parameter coordinates than this print one row per parameter (``--per-coordinate``: all).
MAX_COORDINATE_ROWS = 40


def print_result(res: Result, console: Console | None = None, *, groups: dict[str, list[str]] | None = None,
                 per_coordinate: bool = False) -> None:
    """Print a result as tables.

    Args:
      res: the measurement.
      console: where to print (default: :func:`make_console`).
      groups: an amortized problem's ``param_groups()``: adds the variance summed per group (encoder, decoder).
      per_coordinate: one row per parameter coordinate even above :data:`MAX_COORDINATE_ROWS` coordinates (else
        one row per parameter there).
    """
    console = console or make_console()
    exact_mode = res.method == "exact"
    console.print(f"[bold]{res.estimator}[/bold] on [bold]{res.problem}[/bold]  ({res.method}, "
                  f"{res.num_samples:,} {'quadrature nodes' if exact_mode else 'estimates'}, seed {res.seed})")
    size = sum(int(np.size(m)) for m in res.grad_mean.values())
    if per_coordinate or size <= MAX_COORDINATE_ROWS:
        console.print(_coordinate_table(res))
    else:
        console.print(_parameter_table(res, groups))
        console.print(f"({size:,} coordinates, one row per parameter; --per-coordinate prints each)")
    if groups:
        console.print(_group_totals(res, groups))
    console.print(f"total variance {_fmt(res.total_variance)} · objective (exact) {_fmt(res.objective_exact)} · "
                  f"{res.evaluations_per_estimate} cost evaluations/estimate")
    if exact_mode:  # estimates/s and a kernel compile time mean nothing for quadrature
        console.print(f"exact mode: {res.num_samples:,} quadrature nodes in {res.run_seconds:.3f} s · {res.backend} "
                      f"{res.dtype} · varbench {res.version}")
    else:
        console.print(f"{_fmt(res.estimates_per_second, 4)} estimates/s · run {res.run_seconds:.3f} s · compile "
                      f"{res.compile_seconds:.3f} s · {res.backend} {res.dtype} · varbench {res.version}")


def _bias(res: Result) -> tuple[str, dict[str, np.ndarray] | None]:
    """The bias column's title and values: exact mode has no sampling noise, so its bias is the exact bias, not a
    z-score against a zero standard error."""
    return ("bias", res.bias) if res.method == "exact" else ("bias z", res.bias_z)


def _table(columns: list[str], left: tuple[str, ...]) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def _coordinate_table(res: Result) -> Table:
    """One row per parameter coordinate."""
    bias_col, bias = _bias(res)
    table = _table(["param", "grad mean", "± se", "exact", bias_col, "variance", "variance 95% CI", "SNR"],
                   ("param",))
    for name, mean in res.grad_mean.items():
        for idx in np.ndindex(mean.shape):
            exact = None if res.grad_exact is None else res.grad_exact[name][idx]
            b = None if bias is None else bias[name][idx]
            lo, hi = res.variance_ci[name][idx]
            label = name + (str(list(idx)) if mean.size > 1 else "")
            table.add_row(label, _fmt(mean[idx]), _fmt(res.grad_se[name][idx], 2), _fmt(exact),
                          _fmt(b, 3), _fmt(res.variance[name][idx]), f"[{_fmt(lo, 4)}, {_fmt(hi, 4)}]",
                          _fmt(res.snr[name][idx], 4))
    return table


def _parameter_table(res: Result, groups: dict[str, list[str]] | None) -> Table:
    """One row per parameter (large problems), with its group when ``groups`` are given."""
    bias_col, bias = _bias(res)
    group_of = {n: g for g, names in (groups or {}).items() for n in names}
    columns = ["param"] + (["group"] if groups else []) + ["shape", "coordinates", "variance (sum)",
                                                           f"max |{bias_col}|"]
    table = _table(columns, ("param", "group", "shape"))
    for name, mean in res.grad_mean.items():
        b = None if bias is None else float(np.max(np.abs(bias[name])))
        table.add_row(name, *([group_of.get(name, "-")] if groups else []), str(tuple(np.shape(mean))),
                      str(int(np.size(mean))), _fmt(float(np.sum(res.variance[name]))), _fmt(b, 3))
    return table


def _group_totals(res: Result, groups: dict[str, list[str]]) -> Table:
    """The variance summed per group, and times the cost evaluations per estimate."""
    table = _table(["group", "coordinates", "variance (sum)", "variance × evaluations"], ("group",))
    for group, names in groups.items():
        var = float(sum(np.sum(res.variance[n]) for n in names if n in res.variance))
        table.add_row(group, str(sum(int(np.size(res.variance[n])) for n in names if n in res.variance)),
                      _fmt(var), _fmt(var * res.evaluations_per_estimate))
    return table


#: Params with at most this many values are printed in full in a trace table; larger ones are summarised.
TRACE_PARAM_VALUES = 8


def _params_cell(params: dict[str, Any]) -> str:
    """The params of a checkpoint, compactly: every value for small problems, else count and norm (a VAE's
    thousands of weights do not fit a table row; ``--save-params`` keeps them)."""
    arrays = [np.asarray(v, dtype=float) for v in params.values()]
    size = sum(a.size for a in arrays)
    if size <= TRACE_PARAM_VALUES:
        return " ".join(f"{k}={np.round(a, 4).tolist()}" for k, a in zip(params, arrays))
    norm = float(np.sqrt(sum(np.sum(a * a) for a in arrays)))
    return f"‖θ‖₂={_fmt(norm, 4)} ({size:,} values)"


def _objective_cell(record: dict[str, Any]) -> str:
    """The exact objective, else its Monte Carlo estimate ± standard error (``objective_samples`` draws)."""
    if record.get("objective") is not None or record.get("objective_mc") is None:
        return _fmt(record.get("objective"))
    return f"{_fmt(record['objective_mc'])} ± {_fmt(record.get('objective_mc_stderr'), 2)}"


def print_trace(records: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print a trace as a table: one row per (checkpoint, estimator), with the variance per parameter group
    (encoder, decoder) for problems that have groups.

    Args:
      records: the records of :func:`varbench.trace.trace`.
      console: where to print (default: :func:`make_console`).
    """
    console = console or make_console()
    if records:
        console.print(f"trace of [bold]{records[0]['problem']}[/bold] driven by [bold]{records[0]['driver']}[/bold] "
                      f"({records[0]['method']}, {records[0]['num_samples']:,} estimates per measurement)")
    groups = list(dict.fromkeys(g for r in records for g in (r.get("group_variance") or {})))
    columns = ["step", "estimator", "objective", "total variance", "log variance"]
    table = _table(columns + [f"{g} variance" for g in groups] + ["params"], ("estimator", "params"))
    for r in records:
        per_group = r.get("group_variance") or {}
        table.add_row(str(r["step"]), r["estimator"], _objective_cell(r), _fmt(r["total_variance"]),
                      _fmt(r["log_variance"], 4), *(_fmt(per_group.get(g)) for g in groups), _params_cell(r["params"]))
    console.print(table)
    ema = [f"step {r['step']}: {_fmt(r['paper_ema_variance'])}" for r in records
           if r.get("paper_ema_variance") is not None]
    if ema:  # the driver's own trajectory, so one value per checkpoint, on a line of its own
        console.print("papers' moving-average variance of the driver's estimate (mean over encoder coordinates, or "
                      f"all): {'; '.join(ema)}")


def catalogue() -> dict[str, Any]:
    """The registered problems and estimators (``varbench list``).

    Returns:
      ``{"problems": {name: info}, "estimators": {name: info}}``; each info has ``summary``, ``origin`` (built in, or
      the plugin module), ``options`` (:func:`varbench.catalog.describe`); a problem's also ``params`` (shapes at its
      default options) and ``properties``; an estimator's ``unbiased`` and ``stateful``.
    """
    problems = {n: dict(summary=PROBLEMS[n].summary, origin=origin(PROBLEMS[n]), options=describe(PROBLEMS[n]),
                        params=_param_shapes(n),
                        properties=[f for f in ("discrete", "has_exact_objective") if getattr(PROBLEMS[n], f, False)]
                        + capabilities_of(PROBLEMS[n]))
                for n in problem_names()}
    estimators = {n: dict(summary=ESTIMATORS[n].summary, origin=origin(ESTIMATORS[n]), options=describe(ESTIMATORS[n]),
                          unbiased=bool(ESTIMATORS[n].unbiased), stateful=bool(ESTIMATORS[n].stateful))
                  for n in estimator_names()}
    return {"problems": problems, "estimators": estimators}


def _param_shapes(name: str) -> dict[str, list[int]] | str:
    """The params of a problem built with its default options, ``{name: shape}`` (shapes depend on options such as
    ``dim`` or ``T``; these are the defaults'); a one-line reason if it cannot be built without more options."""
    try:
        return {k: list(v) for k, v in PROBLEMS[name]().param_shapes().items()}
    except Exception as err:  # noqa: BLE001 (a plugin problem may need options; list still lists it)
        return f"depend on options ({type(err).__name__})"


def print_catalogue(console: Console | None = None) -> None:
    """Print :func:`catalogue` as two tables (problems, estimators): each row a name, where it comes from (``built
    in`` or the plugin module) and its tags, summary, params and options.

    Args:
      console: where to print (default: :func:`make_console`).
    """
    console = console or make_console()
    data = catalogue()
    for section in ("problems", "estimators"):
        table = Table(title=section, title_style="bold underline", title_justify="left", show_lines=True,
                      header_style="bold")
        table.add_column("name", no_wrap=True, style="bold")
        table.add_column("from", no_wrap=True)
        table.add_column("tags, summary, options")
        for name, info in data[section].items():
            source = info["origin"] if info["origin"] == "built in" else f"plugin {info['origin']}"
            table.add_row(Text(name), Text(source), Text("\n".join(_catalogue_lines(section, info))))
        console.print(table)
        console.print()


def _catalogue_lines(section: str, info: dict[str, Any]) -> list[str]:
    """The description cell of one :func:`print_catalogue` row: tags and summary, params, one line per option."""
    tags = info.get("properties") or []
    if section == "estimators":
        tags = ["unbiased" if info["unbiased"] else "BIASED"] + (["stateful"] if info["stateful"] else [])
    lines = [f"({', '.join(tags)})  {info['summary']}".rstrip()]
    if "params" in info:
        shapes = info["params"]
        text = shapes if isinstance(shapes, str) else ", ".join(
            f"{k} {tuple(v) if v else 'scalar'}" for k, v in shapes.items())
        lines.append(f"params (default options): {text}")
    for opt in info["options"]:
        choices = f" one of {', '.join(map(str, opt['choices']))};" if opt["choices"] else ""
        lines.append(f"{opt['name']}={opt['default']}  ·{choices} {opt['doc']}")
    return lines


_STATUS_STYLE = {"pass": "green", "fail": "bold red", "biased": "yellow", "flag": "magenta", "skip": "dim"}


def print_check(report: CheckReport, console: Console | None = None) -> None:
    """Print the ``varbench check`` table: one row per problem × point × check, then the verdict line.

    Args:
      report: the report of :func:`varbench.check`.
      console: where to print (default: :func:`make_console`).
    """
    console = console or make_console()
    table = Table(title=f"varbench check {report.estimator} (level {report.level})", show_lines=False)
    for col in ("problem", "point", "check", "status", "detail"):
        table.add_column(col, overflow="fold")
    for r in report.rows:
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(r.problem, r.point, r.check, f"[{style}]{r.status}[/{style}]" if style else r.status, r.detail)
    console.print(table)
    console.print(f"[{'green' if report.passed else 'bold red'}]{report.verdict}[/]")

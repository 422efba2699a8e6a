"""The battery's report as Markdown and as plain JSON data.

The functions take the report's parts as plain tuples (a :class:`~varbench.battery.CheckRow` and a
:class:`~varbench.battery.VarianceEntry` are NamedTuples), so that the report type can call them.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

_ROWS_HEAD = ["| problem | point | check | status | detail |", "|---|---|---|---|---|"]
#: Columns of the variance table, in Markdown and in the terminal: the work-normalized variance and its rank beside
#: the raw ones, since estimators averaging different numbers of samples compare only per cost evaluation.
VARIANCE_COLUMNS = ("problem", "point", "estimator", "method", "total variance", "95% interval", "rank",
                    "× evaluations", "rank × evaluations", "× seconds")
_VARIANCE_HEAD = ["## Variance against the references", "", "| " + " | ".join(VARIANCE_COLUMNS) + " |",
                  "|" + "---|" * len(VARIANCE_COLUMNS)]


def markdown(estimator: str, verdict: str, rows: Iterable[tuple[Any, ...]], variance: Iterable[Any]) -> str:
    """The report as Markdown: a title, the verdict, a table of the rows and, if any, the variance table.

    Args:
      estimator: the label of the estimator checked.
      verdict: the report's verdict line.
      rows: check rows ``(problem, point, check, status, detail, value)``.
      variance: variance entries (fields of :class:`~varbench.battery.VarianceEntry`).

    Returns:
      The Markdown text, ending with a newline.
    """
    lines = [f"# varbench check: {estimator}", "", f"**{verdict}**", "", *_ROWS_HEAD]
    lines += [f"| {problem} | {point} | {check} | {status} | {detail.replace('|', '/')} |"
              for problem, point, check, status, detail, _ in rows]
    entries = list(variance)
    if entries:
        lines += ["", *_VARIANCE_HEAD]
        lines += [_variance_line(v) for v in entries]
    return "\n".join(lines) + "\n"


def _variance_line(v: Any) -> str:
    cells = variance_cells(v)
    if v.candidate:
        cells[2] = f"**{cells[2]}**"
    return "| " + " | ".join(cells) + " |"


def variance_cells(v: Any) -> list[str]:
    """One variance entry's cells under :data:`VARIANCE_COLUMNS`; a biased entry's ranks read "— (biased)"."""
    ranks = ["— (biased)"] * 2 if v.biased else [str(v.rank), str(v.work_rank)]
    return [v.problem, v.point, v.estimator, v.method, f"{v.total_variance:.4g}",
            f"[{v.total_variance_lo:.4g}, {v.total_variance_hi:.4g}]", ranks[0], f"{v.work_evaluations:.4g}",
            ranks[1], _number(v.work_seconds)]


def _number(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.4g}"


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: containers as dicts and lists, NumPy scalars as Python numbers, numbers that
    are not finite as None."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value

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
#: Columns the Markdown table adds: the total variance ÷ the ratio reference's, and its 95% interval (the terminal
#: table has no room for them at 120 columns; there the variance row's detail states the ratios).
RATIO_COLUMNS = ("ratio to reference", "ratio 95% interval")
_VARIANCE_HEAD = ["## Variance against the references", "",
                  "| " + " | ".join(VARIANCE_COLUMNS + RATIO_COLUMNS) + " |",
                  "|" + "---|" * len(VARIANCE_COLUMNS + RATIO_COLUMNS)]


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
        lines += ["", ratio_note(entries)] if ratio_note(entries) else []
    return "\n".join(lines) + "\n"


def _variance_line(v: Any) -> str:
    cells = variance_cells(v) + ratio_cells(v)
    if v.candidate:
        cells[2] = f"**{cells[2]}**"
    return "| " + " | ".join(cells) + " |"


def variance_cells(v: Any) -> list[str]:
    """One variance entry's cells under :data:`VARIANCE_COLUMNS`; a biased entry's ranks read "— (biased)"."""
    ranks = ["— (biased)"] * 2 if v.biased else [str(v.rank), str(v.work_rank)]
    return [v.problem, v.point, v.estimator, v.method, f"{v.total_variance:.4g}",
            f"[{v.total_variance_lo:.4g}, {v.total_variance_hi:.4g}]", ranks[0], f"{v.work_evaluations:.4g}",
            ranks[1], _number(v.work_seconds)]


def ratio_note(entries: Iterable[Any]) -> str:
    """What the ratio columns divide by, and how their intervals were made (empty without ratios)."""
    references = sorted({v.ratio_reference for v in entries if getattr(v, "ratio_reference", "")})
    if not references:
        return ""
    return (f"ratio: total variance ÷ {' / '.join(references)}'s at the same point; interval: paired (common random "
            "numbers) where the two consume the same noise, else from the two measurements (conservative), none "
            "where both are exact")


def ratio_cells(v: Any) -> list[str]:
    """The ratio and its interval, marked paired where it was measured on common random numbers."""
    if not getattr(v, "ratio_reference", "") or not np.isfinite(v.ratio):
        return ["–", "–"]
    if v.ratio_reference == v.estimator:
        return ["1 (reference)", "–"]
    if v.ratio_lo == v.ratio_hi and not v.ratio_paired:
        return [f"{v.ratio:.4g}", "(exact)"]
    mark = " paired" if v.ratio_paired else ""
    return [f"{v.ratio:.4g}", f"[{v.ratio_lo:.4g}, {v.ratio_hi:.4g}]{mark}"]


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

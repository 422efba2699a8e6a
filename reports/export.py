"""Tables for papers: ``varbench results DIR --format latex|markdown``. Pure pandas (never JAX).

One table per block, since a paper prints one table per experiment and a block is one (its problem, sample count,
seeds and method, which the caption states, differ between blocks). Its columns are those a paper reports: the
estimator, the variance of one estimate with its 95% interval, the work-normalised variance (× cost evaluations
per estimate), the ratio to the block's reference estimator where the summary has one, the bound on the relative
bias (or the verdict) and the cost evaluations per estimate. The lowest variance among estimators without a
detected bias is in bold, per column: a variance lowered by a bias is no gain. A trace block gets its table at
fixed steps (:mod:`varbench.reports.trace_table`).

A number with a 95% interval is rounded to the decimal of the interval's half-width's first significant digit (the
digits after it are noise), and the value and its interval share one power of ten outside [0.01, 1000). The
LaTeX is assembled by hand: a handful of lines per table, no template engine, and its escaping is tested.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from varbench.reports import schema, trace_table, verdict
# the numbers and cells of a table (kept under this module's names too: callers read export.round_to_interval)
from varbench.reports._numbers import (DEFAULT_DIGITS, PLAIN_RANGE, Cell, Figures, PaperTable,  # noqa: F401
                                       round_to_interval)
from varbench.reports._numbers import finite as _finite

#: Output formats of :func:`render`.
FORMATS = ("latex", "markdown")
#: Marks a ratio whose interval comes from a paired measurement (both estimators on the same noise).
PAIRED_MARK = "†"


#: LaTeX for each character that is special to LaTeX, and for the Unicode signs the tables and captions use.
_LATEX = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "≤": r"$\leq$", "×": r"$\times$",
          "‖": r"$\|$", "–": "--", "≈": r"$\approx$", "†": r"$^\dagger$", "√": r"$\surd$", "∞": r"$\infty$",
          "±": r"$\pm$", "²": r"$^2$", "−": r"$-$"}
_LATEX_PATTERN = re.compile("|".join(map(re.escape, _LATEX)))


def latex_escape(text: str) -> str:
    """Text as LaTeX prints it literally: its special characters escaped in one pass (an escape is never escaped
    again), the Unicode signs the tables use as their LaTeX.

    Args:
      text: plain text (an estimator label, a caption).

    Returns:
      The LaTeX source.
    """
    return _LATEX_PATTERN.sub(lambda m: _LATEX[m.group(0)], str(text))


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _latex_cell(cell: Cell) -> str:
    if cell.content is None:
        return "--"
    mark = latex_escape(cell.mark)
    if isinstance(cell.content, str):
        text = latex_escape(cell.content)
        return (rf"\textbf{{{text}}}" if cell.bold else text) + mark
    f = cell.content
    body = rf"\mathbf{{{f.value}}}" if cell.bold else f.value
    if f.lo is not None:
        body = rf"{body}\ [{f.lo},\,{f.hi}]"
    if f.exponent:
        body = (f"({body})" if f.lo is not None else body) + rf"\times10^{{{f.exponent}}}"
    return f"${body}$" + mark


def _markdown_cell(cell: Cell) -> str:
    if cell.content is None:
        return "–"
    if isinstance(cell.content, str):
        text = cell.content.replace("|", r"\|")
        return (f"**{text}**" if cell.bold else text) + cell.mark
    f = cell.content
    body = f"**{f.value}**" if cell.bold else f.value
    if f.lo is not None:
        body = f"{body} [{f.lo}, {f.hi}]"
    if f.exponent:
        body = (f"({body})" if f.lo is not None else body) + "×10" + str(f.exponent).translate(_SUPERSCRIPT)
    return body + cell.mark


def _label(block: str) -> str:
    """A ``\\label`` key for the block's table (letters, digits and hyphens only)."""
    return "tab:varbench-" + re.sub(r"[^A-Za-z0-9]+", "-", block).strip("-")


def to_latex(tables: Sequence[PaperTable]) -> str:
    """The tables as LaTeX: a ``table`` float per block with a booktabs ``tabular`` (no vertical rules).

    Args:
      tables: from :func:`paper_tables`.

    Returns:
      The LaTeX source (it needs ``\\usepackage{booktabs}``), ending with a newline.
    """
    out = ["% varbench results: one table per block; needs \\usepackage{booktabs}. A table wider than the text can",
           "% be scaled: \\resizebox{\\linewidth}{!}{<the tabular>} (\\usepackage{graphicx})."]
    for t in tables:
        align = "l" * t.text_columns + "r" * (len(t.header) - t.text_columns)  # text left, numbers right
        out += ["", r"\begin{table}[tbp]", r"\centering", r"\small", rf"\caption{{{latex_escape(t.caption)}}}",
                rf"\label{{{_label(t.block)}}}", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
                " & ".join(map(latex_escape, t.header)) + r" \\", r"\midrule"]
        out += [" & ".join(map(_latex_cell, row)) + r" \\" for row in t.rows]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def text_frame(table: PaperTable) -> pd.DataFrame:
    """A table's cells as the Markdown text shows them, in a frame (the report page's sections show it).

    Args:
      table: a table of :func:`paper_tables` or :func:`varbench.reports.trace_table.paper_tables`.

    Returns:
      A frame of text, one column per header.
    """
    return pd.DataFrame([[_markdown_cell(c) for c in row] for row in table.rows], columns=table.header)


def to_markdown(tables: Sequence[PaperTable]) -> str:
    """The tables as GitHub Markdown: per block a heading, the caption and a pipe table.

    Args:
      tables: from :func:`paper_tables`.

    Returns:
      The Markdown text, ending with a newline.
    """
    out = []
    for t in tables:
        frame = text_frame(t)
        # the cells are text already: tabulate must not parse them back into numbers
        table = frame.to_markdown(index=False, disable_numparse=True,
                                  colalign=["left"] * t.text_columns + ["right"] * (len(t.header) - t.text_columns))
        out += [f"### {t.block}", "", t.caption, "", table, ""]
    return "\n".join(out)


def _measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Per block × estimator label: the medians over its measurements (grid points × seeds) of the total variance,
    of its 95% interval's ends (each measurement's coordinate intervals summed, as ``varbench check`` does) and of
    the same × cost evaluations per estimate. The median is monotone, so where every measurement's interval holds,
    the medians of the ends bound the median of the true variances."""
    rows = schema.numeric(schema.measurements(frame))
    rows = rows.assign(**{c: np.nan for c in ("variance_lo", "variance_hi") if c not in rows})  # an older store
    if rows.empty:
        return pd.DataFrame(columns=["block", "estimator", "var", "var_lo", "var_hi", "work", "work_lo", "work_hi"])
    per = rows.groupby(["block", "estimator_label", "cell", "point"], sort=False).agg(
        var=("total_variance", "first"), var_lo=("variance_lo", lambda s: s.sum(min_count=1)),
        var_hi=("variance_hi", lambda s: s.sum(min_count=1)), evaluations=("evaluations_per_estimate", "first"))
    for end in ("", "_lo", "_hi"):
        per["work" + end] = per["var" + end] * per["evaluations"]
    out = per.drop(columns="evaluations").groupby(level=["block", "estimator_label"], sort=False).median()
    return out.reset_index().rename(columns={"estimator_label": "estimator"})


def _bias_text(row: Mapping[str, Any]) -> str | None:
    """The bias column: the bound where no bias was detected (marked inconclusive above the threshold), the
    bound beside "detected", the exact value in exact mode."""
    found = verdict.conclusion(row)
    bound = row.get("rel_bias_ub95")
    if found is verdict.Conclusion.UNTESTED:
        return None
    if row.get("method") == "exact":
        return "none (exact)" if found is verdict.Conclusion.NONE_DETECTED else f"{verdict.percent(bound)} (exact)"
    if found is verdict.Conclusion.DETECTED:
        return f"detected (≤ {verdict.percent(bound)})"
    if found is verdict.Conclusion.INCONCLUSIVE:
        return f"inconclusive (≤ {verdict.percent(bound)})" if _finite(bound) else "inconclusive"
    return f"≤ {verdict.percent(bound)}"


def _counts(values: pd.Series, one: str, many: str) -> str:
    """``1 seed``, ``20000 estimates`` or ``20000 or 40000 estimates`` (the rows of a block can differ)."""
    found = sorted({int(v) for v in values if _finite(v)})
    return " or ".join(map(str, found)) + " " + (one if found == [1] else many) if found else ""


def _caption(block: str, rows: pd.DataFrame, manifest: Mapping[str, Any] | None, reference: str | None) -> str:
    """What a reader needs to judge the table: the problem, method, samples, grid points and seeds, what each
    column is, and which code measured it."""
    config = trace_table.block_config(manifest, block)
    title, problem = config.get("title"), config.get("problem")
    where = f"block {block}" + (f", problem {problem}" if problem else "")
    parts = [f"{title} ({where})." if title else f"{where[0].upper()}{where[1:]}."]
    methods = []
    if rows["method"].eq("mc").any():
        mc = rows[rows["method"].eq("mc")]
        methods.append(f"Monte Carlo with {_counts(mc['num_samples'], 'estimate', 'estimates')} per grid point and "
                       f"seed, {_counts(mc['seeds'], 'seed', 'seeds')}")
    if rows["method"].eq("exact").any():
        methods.append("exact (quadrature or enumeration over each estimator's noise)")
    methods = "; ".join(methods)
    parts.append(f"{methods[:1].upper()}{methods[1:]}; {_counts(rows['points'], 'grid point', 'grid points')}.")
    parts += ["Variance: of one estimate, summed over parameter coordinates, median over grid points and seeds, "
              "with the median of their 95% intervals in brackets (exact rows have none); × evaluations: the same "
              "times the cost evaluations per estimate.",
              "Relative bias: simultaneous 95% upper bound on ‖bias‖ / ‖gradient‖ per parameter group (Holm-tested "
              "across the report), inconclusive where it is not below "
              f"{verdict.percent(verdict.CONCLUSIVE_BOUND)}.",
              "Bold: the lowest value of its column among estimators without a detected bias."]
    if reference:
        parts.append(f"Ratio: variance over that of {reference}, with its 95% interval ({PAIRED_MARK}: paired, "
                     "both estimators on the same noise).")
    env = (manifest or {}).get("environment") or {}
    if env.get("varbench_version"):
        commit = f", commit {str(env['git_commit'])[:8]}" if env.get("git_commit") else ""
        parts.append(f"Measured with varbench {env['varbench_version']}{commit} on {env.get('backend', 'unknown')}.")
    return " ".join(parts)


#: The summary's variance-ratio columns (value, lower and upper end of its 95% interval), where it has them.
_RATIO = ("var_ratio", "var_ratio_lo", "var_ratio_hi")


def _columns(rows: pd.DataFrame) -> list[tuple[str, Sequence[str] | None]]:
    """Header and the value, lower and upper columns of each numeric column (None: a text column)."""
    columns = [("Estimator", None), ("Variance", ("var", "var_lo", "var_hi")),
               ("Variance × evaluations", ("work", "work_lo", "work_hi"))]
    if set(_RATIO) <= set(rows.columns) and pd.to_numeric(rows["var_ratio"], errors="coerce").notna().any():
        columns.append(("Ratio to reference", _RATIO))
    return columns + [("Relative bias", None), ("Evaluations", None)]


def _block_table(block: str, rows: pd.DataFrame, manifest: Mapping[str, Any] | None) -> PaperTable:
    """One block's :class:`PaperTable` from its summary rows joined with their intervals."""
    columns = _columns(rows)
    eligible = [verdict.conclusion(r) is not verdict.Conclusion.DETECTED for _, r in rows.iterrows()]
    best = {}
    for _, keys in columns:
        if keys:
            values = pd.to_numeric(rows[keys[0]], errors="coerce").where(eligible)
            best[keys[0]] = values.min() if values.notna().any() else None
    table = []
    for (_, r), ok in zip(rows.iterrows(), eligible):
        cells = [Cell(str(r["estimator"]))]
        for _, keys in columns[1:-2]:
            value = r[keys[0]]
            if keys == _RATIO and r["estimator"] == r.get("var_ratio_reference"):
                cells.append(Cell("reference"))  # its ratio is 1 by definition
                continue
            flag = r.get("var_ratio_paired")
            paired = keys == _RATIO and pd.notna(flag) and bool(flag)
            cells.append(Cell(round_to_interval(value, r[keys[1]], r[keys[2]]),
                              bold=ok and _finite(value) and value == best[keys[0]],
                              mark=PAIRED_MARK if paired else ""))
        evaluations = f"{float(r['evaluations']):g}" if _finite(r["evaluations"]) else None
        cells += [Cell(_bias_text(r)), Cell(evaluations)]
        table.append(cells)
    reference = None
    if len(columns) > 5:
        names = rows["var_ratio_reference"].dropna() if "var_ratio_reference" in rows else pd.Series(dtype=object)
        reference = str(names.iloc[0]) if len(names) else "the block's reference"
    return PaperTable(block, _caption(block, rows, manifest, reference), [h for h, _ in columns], table)


def paper_tables(summary: pd.DataFrame, frame: pd.DataFrame,
                 manifest: Mapping[str, Any] | None = None) -> list[PaperTable]:
    """The tables of a store, one per block, in the summary's order.

    Args:
      summary: :func:`varbench.reports.schema.summary` of the store (the variance-ratio columns ``var_ratio``,
        ``var_ratio_lo``, ``var_ratio_hi``, ``var_ratio_paired`` and ``var_ratio_reference`` are used when present).
      frame: the store's tidy rows (:func:`varbench.reports.store.load`), for the variances' intervals.
      manifest: the store's manifest (its config's block titles and problems, the environment), if any.

    Returns:
      One :class:`PaperTable` per block of ``summary``.
    """
    joined = summary.merge(_measured(frame), on=["block", "estimator"], how="left")
    joined["var"] = joined["median_total_variance"]  # exactly the number every other output prints
    return [_block_table(block, rows.reset_index(drop=True), manifest)
            for block, rows in joined.groupby("block", sort=False)]


def spelled_out(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as ``varbench results`` prints it for reading: the bias verdict in words
    (:func:`varbench.reports.verdict.describe`, which holds the p-value) instead of a bare True / False.

    Args:
      summary: :func:`varbench.reports.schema.summary`.

    Returns:
      A copy whose ``bias_detected`` is text and without ``p_value``.
    """
    words = [verdict.describe(r) for _, r in summary.iterrows()]
    return summary.assign(bias_detected=words).drop(columns="p_value", errors="ignore")


def render(fmt: str, summary: pd.DataFrame, frame: pd.DataFrame, manifest: Mapping[str, Any] | None = None) -> str:
    """A store's tables in one of :data:`FORMATS`: the measurement blocks' and the trace blocks'
    (:func:`varbench.reports.trace_table.paper_tables`), in the config's block order.

    Args:
      fmt: ``latex`` or ``markdown``.
      summary: as for :func:`paper_tables`.
      frame: as for :func:`paper_tables`.
      manifest: as for :func:`paper_tables`.

    Returns:
      The text (a comment or a line saying so when the store has no finished measurement).

    Raises:
      ValueError: for a format not in :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    tables = (paper_tables(summary, frame, manifest) if not summary.empty else []) + \
        trace_table.paper_tables(frame, manifest)
    names = [b.get("name") for b in ((manifest or {}).get("config") or {}).get("block", []) if isinstance(b, dict)]
    tables.sort(key=lambda t: names.index(t.block) if t.block in names else len(names))  # config order, stable
    if not tables:
        return "% no finished cells\n" if fmt == "latex" else "(no finished cells)\n"
    return to_latex(tables) if fmt == "latex" else to_markdown(tables)

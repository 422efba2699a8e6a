"""The report page's text: the same sections written as Markdown and as one self-contained HTML file."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Sequence

import pandas as pd

from varbench.reports import schema, verdict
from varbench.reports._contents import Contents, Section
from varbench.reports._files import safe_stem

#: What each column of the page's tables means. The block tables fold the summary's ``p_value`` into
#: ``bias_detected`` (``yes (p = 3e-12)``), so the page describes it there and lists no ``p_value`` column.
TABLE_LEGEND = {
    **{k: v for k, v in schema.SUMMARY_LEGEND.items() if k != "p_value"},
    "bias_detected": "yes / no bias detected / inconclusive: Holm-corrected test over every coordinate and point, "
                     "corrected again across the report's blocks × estimators, with the report-wide Holm-adjusted "
                     "p-value in parentheses (Monte Carlo rows); 'no bias detected' only where rel_bias_ub95 is below "
                     f"{verdict.CONCLUSIVE_BOUND:.0%}, else 'inconclusive' with n, the estimates per grid point that "
                     f"would bring it below {verdict.CONCLUSIVE_BOUND:.0%}; exact rows: the exact bias beyond float32 "
                     "rounding",
    "total_variance": "geometric mean over the block's grid points of the variance of one estimate",
    "var_x_seconds": "geometric mean over grid points of the variance × seconds per estimate",
    "var_x_evaluations": "geometric mean over grid points of the variance × cost evaluations per estimate",
    "confirmed": "varbench suite --confirm: the flagged estimator measured again on fresh seeds, tested again "
                 "(Holm across the re-tested rows at the same level); 'no' means the first verdict did not repeat",
    "driver": "the estimator whose gradients drive the optimization",
    "first_step": "the first checkpoint's optimization step", "last_step": "the last checkpoint's optimization step",
    "log_variance_first": "log of the total variance at the first checkpoint (mean over trace seeds)",
    "log_variance_last": "log of the total variance at the last checkpoint (mean over trace seeds)",
}
#: Column suffixes of the per-group columns (``encoder_variance``), which vary with the problem's groups.
GROUP_LEGEND = {"_variance_x_evaluations": "median variance × cost evaluations of the {} parameters",
                "_variance_last": "the {} parameters' variance at the last checkpoint",
                "_variance": "median variance of one estimate of the {} parameters, summed over their coordinates"}


def legend(sections: Sequence[Section]) -> dict[str, str]:
    """The legend of the page's tables: an entry for each column that some table shows, none for another.

    Args:
      sections: the page's sections.

    Returns:
      Column -> meaning, in :data:`TABLE_LEGEND`'s order, then the per-group columns in order of appearance.
    """
    shown = list(dict.fromkeys(c for s in sections if s.table is not None for c in s.table.columns))
    out = {k: v for k, v in TABLE_LEGEND.items() if k in shown}
    for column in shown:
        suffix = next((x for x in GROUP_LEGEND if column.endswith(x) and len(column) > len(x)), None)
        if column not in out and suffix:
            out[column] = GROUP_LEGEND[suffix].format(column.removesuffix(suffix))
    return out

#: The page's style sheet. Wide tables (many estimators' group columns) scroll inside the page instead of being cut
#: off.
STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         ".scroll{overflow-x:auto;max-width:100%}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
         "text-align:right;white-space:nowrap}th{background:#f3f3f3}img{max-width:100%}"
         ".meta{color:#666;font-size:13px}dl.legend{font-size:13px}dl.legend dt{font-family:monospace;"
         "float:left;clear:left;width:14em}dl.legend dd{margin-left:15em}")


def _is_number(text: object) -> bool:
    """Whether a formatted cell is a number (or ``–``, a missing one)."""
    try:
        float(str(text))
    except ValueError:
        return text == "–"
    return True


def _alignment(table: pd.DataFrame) -> list[str]:
    """Markdown column alignment: numbers right (digits line up), text left."""
    return ["right" if len(table) and table[c].map(_is_number).all() else "left" for c in table.columns]


def write_markdown(path: Path, sections: Sequence[Section], contents: Contents) -> None:
    """Write the Markdown page; its figures are linked by file name.

    Args:
      path: the page's file.
      sections: the sections, in order.
      contents: the header line and the lists of cells that end the page.
    """
    lines = ["# varbench report", "", contents.header, "", "**Columns of the tables.** " + "; ".join(
        f"`{k}`: {v}" for k, v in legend(sections).items()) + ".", "", verdict.RULE, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.note:
            lines += [s.note, ""]
        lines += [line for image in s.images for line in (f"![{s.title}]({image})", "")]
        if s.table is not None:
            # the cells are formatted already: tabulate must not parse them back into numbers and reformat them
            # its own way (it printed 7.279e+05 as 727900 beside 3.2e+06)
            lines += [s.table.to_markdown(index=False, disable_numparse=True, colalign=_alignment(s.table)), ""]
    for title, items in contents.cell_lists():
        if items:
            lines += [f"## {title}", ""] + [f"- {k}: {v}" for k, v in items.items()] + [""]
    path.write_text("\n".join(lines))


def write_html(path: Path, sections: Sequence[Section], contents: Contents, folder: Path) -> Path:
    """Write the HTML page, a single self-contained file.

    Args:
      path: the page's file.
      sections: the sections, in order.
      contents: the header line and the lists of cells that end the page.
      folder: where the sections' figures are; they are embedded (base64).

    Returns:
      ``path``.
    """
    entries = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in legend(sections).items())
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>varbench report</title><style>", STYLE,
             "</style></head><body><h1>varbench report</h1>", f"<p class='meta'>{html.escape(contents.header)}</p>",
             f"<details><summary>Columns of the tables</summary><dl class='legend'>{entries}</dl></details>",
             f"<p>{html.escape(verdict.RULE)}</p>"]
    for s in sections:
        parts.append(f"<h2 id='{safe_stem(s.name)}'>{html.escape(s.title)}</h2>")  # store text: never markup
        if s.note:
            parts.append(f"<p>{html.escape(s.note)}</p>")
        for image in s.images:
            data = base64.b64encode((folder / image).read_bytes()).decode()
            parts.append(f"<img alt='{html.escape(s.title)}' src='data:image/png;base64,{data}'>")
        if s.table is not None:
            parts.append("<div class='scroll'>" + s.table.to_html(index=False, border=0) + "</div>")
    for title, items in contents.cell_lists():
        if items:
            parts.append(f"<h2>{title}</h2><ul>" + "".join(
                f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in items.items()) + "</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path

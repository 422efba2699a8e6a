"""The report page's text: the same sections written as Markdown and as one self-contained HTML file."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Sequence

from varbench.reports import schema, verdict
from varbench.reports._contents import Contents, Section

#: The page's style sheet. Wide tables (many estimators' group columns) scroll inside the page instead of being cut
#: off.
STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         ".scroll{overflow-x:auto;max-width:100%}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
         "text-align:right;white-space:nowrap}th{background:#f3f3f3}img{max-width:100%}"
         ".meta{color:#666;font-size:13px}dl.legend{font-size:13px}dl.legend dt{font-family:monospace;"
         "float:left;clear:left;width:14em}dl.legend dd{margin-left:15em}")


def write_markdown(path: Path, sections: Sequence[Section], contents: Contents) -> None:
    """Write the Markdown page; its figures are linked by file name.

    Args:
      path: the page's file.
      sections: the sections, in order.
      contents: the header line and the lists of cells that end the page.
    """
    lines = ["# varbench report", "", contents.header, "", "**Columns of the block tables.** " + "; ".join(
        f"`{k}`: {v}" for k, v in schema.SUMMARY_LEGEND.items()) + ".", "", verdict.RULE, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.note:
            lines += [s.note, ""]
        if s.image:
            lines += [f"![{s.title}]({s.image})", ""]
        if s.table is not None:
            lines += [s.table.to_markdown(index=False), ""]
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
    legend = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in schema.SUMMARY_LEGEND.items())
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>varbench report</title><style>", STYLE,
             "</style></head><body><h1>varbench report</h1>", f"<p class='meta'>{html.escape(contents.header)}</p>",
             f"<details><summary>Columns of the block tables</summary><dl class='legend'>{legend}</dl></details>",
             f"<p>{html.escape(verdict.RULE)}</p>"]
    for s in sections:
        parts.append(f"<h2 id='{s.name}'>{html.escape(s.title)}</h2>")
        if s.note:
            parts.append(f"<p>{html.escape(s.note)}</p>")
        if s.image:
            data = base64.b64encode((folder / s.image).read_bytes()).decode()
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

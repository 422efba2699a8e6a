"""``varbench report``: figures, a self-contained HTML page and a Markdown page from a result store."""

from __future__ import annotations

import base64
import html
import os
import shutil
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image
from varbench.reports import figures, schema, store, verdict
from varbench.reports.groups import group_table

DPI = 100


def _block_table(frame: pd.DataFrame, estimator_order: list[str]) -> pd.DataFrame:
    """The block's rows of :func:`schema.summary` (the same columns as ``varbench results``), without the block
    column and without columns that no row of the block has (exact blocks have no Monte Carlo-only columns); the
    bias verdict is spelled out (``yes (p = 3e-12)``)."""
    table = schema.summary(frame, estimator_order={frame["block"].iloc[0]: estimator_order}).drop(columns="block")
    table["bias_detected"] = [verdict.describe(r) for _, r in table.iterrows()]
    table = table.drop(columns="p_value")  # spelled out in bias_detected
    return table.dropna(axis=1, how="all")


def _trace_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Log-variance of each measured estimator at the first and last checkpoint, per driver; with parameter groups,
    also each group's variance at the last checkpoint."""
    groups = schema.trace_groups(frame)
    rows = []
    for (driver, label), d in frame.groupby(["driver", "estimator_label"], sort=False):
        columns = ["log_variance"] + [schema.GROUP_VARIANCE_PREFIX + g for g in groups]
        d = d.groupby("step")[columns].mean()
        rows.append(dict(driver=driver, estimator=label, first_step=int(d.index.min()),
                         log_variance_first=d["log_variance"].iloc[0], last_step=int(d.index.max()),
                         log_variance_last=d["log_variance"].iloc[-1],
                         **{f"{g}_variance_last": d[schema.GROUP_VARIANCE_PREFIX + g].iloc[-1] for g in groups}))
    return pd.DataFrame(rows)


def _failures_by_block(manifest: dict[str, Any], names: list[str]) -> dict[str, list[str]]:
    """Failed cells (label -> reason) of the manifest, grouped under the block whose name starts their label."""
    out: dict[str, list[str]] = {}
    for label, reason in ((manifest or {}).get("cells_failed") or {}).items():
        block = label.split(" · ", 1)[0]
        out.setdefault(block if block in names else "", []).append(f"{label.removeprefix(block + ' · ')}: {reason}")
    return out


def _fmt_table(table: pd.DataFrame) -> pd.DataFrame:
    def fmt(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else f"{v:.4g}"
        return v
    return table.map(fmt)


def _save(fig: plt.Figure, folder: Path, name: str) -> str:
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    # Line plots use few colours: a 256-colour palette keeps them sharp at a third of the size, so the
    # self-contained HTML page (figures embedded) stays small enough to commit and to mail.
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.name


def _block_figure(block: dict[str, Any], frame: pd.DataFrame, everything: pd.DataFrame,
                  palette: dict[str, tuple]) -> plt.Figure | None:
    spec = block.get("figure") or {}
    kind = spec.get("kind")
    if spec.get("overlay"):
        # Draw another block's rows (typically its exact-mode twin) on the same axes.
        frame = pd.concat([frame, everything[everything["block"] == spec["overlay"]]], ignore_index=True)
    if kind == "variance_vs":
        x = schema.grid_column(spec["x"])
        col = schema.grid_column(spec["col"]) if spec.get("col") else None
        return figures.variance_vs(frame, x=x, col=col, title=block.get("title", block["name"]), palette=palette)
    if kind == "trace":
        return figures.trace_log_variance(frame, title=block.get("title", block["name"]), palette=palette)
    if kind == "sequential":
        return figures.sequential_panels(frame, title=block.get("title", block["name"]))
    if kind == "series":
        return figures.series_vs(frame, x=spec["x"], title=block.get("title", block["name"]),
                                 hue=spec.get("hue", "estimator_name"))
    if kind == "model_bias":
        return figures.model_bias(frame, x=spec["x"], line=spec["line"], title=block.get("title", block["name"]))
    return None


def write_report(root: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.md``, ``report.html`` and PNG figures for the store at ``root`` into ``out``.

    Returns the HTML page's path. The HTML embeds its figures (base64) so it is a single self-contained file.
    """
    root = Path(root)
    out = Path(out) if out is not None else root / "report"
    manifest = store.check_store(root, need_blocks=True)  # before anything is created
    frame = store.load(root)
    if out.exists() and not out.is_dir():
        raise store.StoreError(f"report folder {str(out)!r} is an existing file; give a directory (--out)")
    created = out  # the outermost folder this report creates (None: out exists)
    while not created.parent.exists() and created.parent != created:
        created = created.parent
    created = None if out.exists() else created
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise store.StoreError(f"cannot create the report folder {str(out)!r}: {err.strerror or err}") from None
    try:
        return _write_pages(root, out, manifest, frame)
    except BaseException:
        if created is not None:  # a report that failed leaves no half-written folder behind
            shutil.rmtree(created, ignore_errors=True)
        raise


def _write_pages(root: Path, out: Path, manifest: dict[str, Any], frame: Any) -> Path:
    sections: list[dict[str, Any]] = []
    blocks = (manifest or {}).get("config", {}).get("block", [])
    _, estimator_order = store.config_order(manifest)
    failed = _failures_by_block(manifest, [b["name"] for b in blocks])
    # one colour per estimator across the whole report, variants shaded in config order
    palette = figures.estimator_palette([e for names in estimator_order.values() for e in names] +
                                        (list(frame["estimator_label"]) if not frame.empty else []))
    for block in blocks:
        sub = frame[frame["block"] == block["name"]] if not frame.empty else frame
        note = (block.get("figure") or {}).get("note", "")
        if failed.get(block["name"]):
            note = (note + " " if note else "") + "FAILED cells (not measured; listed under 'Cells that failed'): " + \
                "; ".join(failed[block["name"]]) + "."
        if sub.empty:
            if failed.get(block["name"]):
                sections.append(dict(title=block.get("title", block["name"]), name=block["name"], image=None,
                                     table=None, note=note))
            continue
        fig = _block_figure(block, sub, frame, palette)
        if block.get("kind") == "trace":
            table = _trace_table(sub)
        else:
            table = _block_table(sub, estimator_order.get(block["name"], []))
        # variance per parameter group (encoder/decoder); trace tables carry it already (no coordinates)
        if (block.get("figure") or {}).get("groups") and block.get("kind") != "trace":
            groups = group_table(sub)
            if not groups.empty:
                table = table.merge(groups.drop(columns="block"), on="estimator", how="left")
        sections.append(dict(title=block.get("title", block["name"]), name=block["name"],
                             image=_save(fig, out, block["name"]) if fig is not None else None,
                             table=_fmt_table(table), note=note))
    # Cross-block figures use the per-coordinate measurement rows (trace rows carry no coordinates).
    frame = schema.measurements(frame)
    if not frame.empty and (frame["method"] == "mc").any():
        block_order = [b["name"] for b in blocks]
        fig = figures.bias_vs_variance(frame, block_order, estimator_order, palette)
        sections.append(dict(title="Bias vs variance", name="bias_vs_variance",
                             image=_save(fig, out, "bias_vs_variance"), table=None,
                             note="One point per estimator and Monte Carlo block: the simultaneous 95% upper bound "
                                  "on its largest relative bias against its median total variance; a cross marks a "
                                  "bias detected by the Holm-corrected test. " + verdict.RULE))
        fig, table = figures.work_normalized(frame, block_order, palette)
        sections.append(dict(title="Work-normalized variance", name="work_normalized",
                             image=_save(fig, out, "work_normalized"), table=_fmt_table(table),
                             note="Variance of one estimate times its cost (seconds or cost evaluations); the "
                                  "geometric mean over each block's grid points. Each block has its own axis: "
                                  "compare estimators within a block."))
    env = (manifest or {}).get("environment", {})
    runs = [r for r in (manifest or {}).get("runs", []) if isinstance(r, dict)]
    commits = list(dict.fromkeys(str((r.get("environment") or {}).get("git_commit"))[:10] for r in runs))
    header = (f"varbench {env.get('varbench_version', '?')} · JAX {env.get('jax_version', '?')} · backend "
              f"{env.get('backend', '?')} · started {manifest.get('started') if manifest else '?'} · finished "
              f"{manifest.get('finished') if manifest else '?'} · compile counts "
              f"{(manifest or {}).get('compile_counts', {})}" +
              (f" · {len(runs)} runs (git commits {', '.join(commits)}; each row's prov_* columns say which)"
               if len(runs) > 1 else ""))
    _write_markdown(out / "report.md", sections, header, manifest)
    return _write_html(out / "report.html", sections, header, out, manifest)


#: The two lists that end a report: failures first (something went wrong), then cells that cannot be measured.
CELL_LISTS = (("Cells that failed", "cells_failed"), ("Cells not measured (not applicable)", "cells_skipped"))


def _legend() -> list[tuple[str, str]]:
    return list(schema.SUMMARY_LEGEND.items())


def _write_markdown(path: Path, sections: list[dict], header: str, manifest: dict | None) -> None:
    lines = ["# varbench report", "", header, "", "**Columns of the block tables.** " + "; ".join(
        f"`{k}`: {v}" for k, v in _legend()) + ".", "", verdict.RULE, ""]
    for s in sections:
        lines += [f"## {s['title']}", ""]
        if s["note"]:
            lines += [s["note"], ""]
        if s["image"]:
            lines += [f"![{s['title']}]({s['image']})", ""]
        if s["table"] is not None:
            lines += [s["table"].to_markdown(index=False), ""]
    for title, key in CELL_LISTS:
        items = (manifest or {}).get(key) or {}
        if items:
            lines += [f"## {title}", ""] + [f"- {k}: {v}" for k, v in items.items()] + [""]
    path.write_text("\n".join(lines))


def _write_html(path: Path, sections: list[dict], header: str, folder: Path, manifest: dict | None) -> Path:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>varbench report</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             # wide tables (many estimators' group columns) scroll inside the page instead of being cut off
             ".scroll{overflow-x:auto;max-width:100%}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
             "text-align:right;white-space:nowrap}th{background:#f3f3f3}img{max-width:100%}"
             ".meta{color:#666;font-size:13px}dl.legend{font-size:13px}dl.legend dt{font-family:monospace;"
             "float:left;clear:left;width:14em}dl.legend dd{margin-left:15em}",
             "</style></head><body><h1>varbench report</h1>", f"<p class='meta'>{html.escape(header)}</p>",
             "<details><summary>Columns of the block tables</summary><dl class='legend'>" + "".join(
                 f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _legend()) + "</dl></details>",
             f"<p>{html.escape(verdict.RULE)}</p>"]
    for s in sections:
        parts.append(f"<h2 id='{s['name']}'>{html.escape(s['title'])}</h2>")
        if s["note"]:
            parts.append(f"<p>{html.escape(s['note'])}</p>")
        if s["image"]:
            data = base64.b64encode((folder / s["image"]).read_bytes()).decode()
            parts.append(f"<img alt='{html.escape(s['title'])}' src='data:image/png;base64,{data}'>")
        if s["table"] is not None:
            parts.append("<div class='scroll'>" + s["table"].to_html(index=False, border=0) + "</div>")
    for title, key in CELL_LISTS:
        items = (manifest or {}).get(key) or {}
        if items:
            parts.append(f"<h2>{title}</h2><ul>" + "".join(
                f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in items.items()) + "</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path

"""``varbench report``: figures, a self-contained HTML page and a Markdown page from a result store."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from varbench.reports import figures, schema, store
from varbench.reports.groups import group_table

DPI = 100


def _block_table(frame: pd.DataFrame) -> pd.DataFrame:
    per = frame.drop_duplicates(["cell", "point"])
    z = pd.to_numeric(frame["bias_z"], errors="coerce").abs()
    # Bias relative to the gradient's scale: |∇_i| floored at a tenth of the largest |∇_j| of the same result (as
    # varbench.testing.gradient_scale does), so coordinates whose exact gradient crosses zero do not explode.
    grad = pd.to_numeric(frame["grad_exact"], errors="coerce").abs()
    largest = grad.groupby([frame["cell"], frame["point"]]).transform("max")
    rel_bias = pd.to_numeric(frame["bias"], errors="coerce").abs() / np.maximum(grad, 0.1 * largest).replace(0, np.nan)
    stats = frame.assign(abs_z=z, rel_bias=rel_bias).groupby("estimator_label", sort=False).agg(
        max_abs_bias_z=("abs_z", "max"), max_bias_over_gradient_scale=("rel_bias", "max"))
    work = per.groupby("estimator_label", sort=False).agg(
        method=("method", "first"), points=("point", "nunique"), samples=("num_samples", "first"),
        median_total_variance=("total_variance", "median"), evaluations=("evaluations_per_estimate", "first"),
        estimates_per_second=("samples_per_second", "median"))
    return work.join(stats).reset_index().rename(columns={"estimator_label": "estimator"})


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
    return path.name


def _block_figure(block: dict[str, Any], frame: pd.DataFrame, everything: pd.DataFrame) -> plt.Figure | None:
    spec = block.get("figure") or {}
    kind = spec.get("kind")
    if spec.get("overlay"):
        # Draw another block's rows (typically its exact-mode twin) on the same axes.
        frame = pd.concat([frame, everything[everything["block"] == spec["overlay"]]], ignore_index=True)
    if kind == "variance_vs":
        x = schema.grid_column(spec["x"])
        col = schema.grid_column(spec["col"]) if spec.get("col") else None
        return figures.variance_vs(frame, x=x, col=col, title=block.get("title", block["name"]))
    if kind == "trace":
        return figures.trace_log_variance(frame, title=block.get("title", block["name"]))
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise store.StoreError(f"cannot create the report folder {str(out)!r}: {err.strerror or err}") from None
    sections: list[dict[str, Any]] = []
    blocks = (manifest or {}).get("config", {}).get("block", [])
    for block in blocks:
        sub = frame[frame["block"] == block["name"]] if not frame.empty else frame
        if sub.empty:
            continue
        fig = _block_figure(block, sub, frame)
        table = _trace_table(sub) if block.get("kind") == "trace" else _block_table(sub)
        # variance per parameter group (encoder/decoder); trace tables carry it already (no coordinates)
        if (block.get("figure") or {}).get("groups") and block.get("kind") != "trace":
            table = table.merge(group_table(sub), on="estimator", how="left")
        sections.append(dict(title=block.get("title", block["name"]), name=block["name"],
                             image=_save(fig, out, block["name"]) if fig is not None else None,
                             table=_fmt_table(table), note=block.get("figure", {}).get("note", "")))
    # Cross-block figures use the per-coordinate measurement rows (trace rows carry no coordinates).
    frame = frame[frame["param"].notna()] if "param" in frame else frame.iloc[0:0]
    if not frame.empty and (frame["method"] == "mc").any():
        fig = figures.bias_vs_variance(frame)
        sections.append(dict(title="Bias vs variance", name="bias_vs_variance",
                             image=_save(fig, out, "bias_vs_variance"), table=None,
                             note="Each point is one parameter coordinate of one Monte Carlo measurement; points "
                                  "above |z| = 3 are biased at the measured precision."))
        fig, table = figures.work_normalized(frame)
        sections.append(dict(title="Work-normalized variance", name="work_normalized",
                             image=_save(fig, out, "work_normalized"), table=_fmt_table(table),
                             note="Variance of one estimate times its cost (seconds or cost evaluations); the "
                                  "geometric mean over each block's grid points."))
    env = (manifest or {}).get("environment", {})
    header = (f"varbench {env.get('varbench_version', '?')} · JAX {env.get('jax_version', '?')} · backend "
              f"{env.get('backend', '?')} · started {manifest.get('started') if manifest else '?'} · finished "
              f"{manifest.get('finished') if manifest else '?'} · compile counts "
              f"{(manifest or {}).get('compile_counts', {})}")
    _write_markdown(out / "report.md", sections, header, manifest)
    return _write_html(out / "report.html", sections, header, out, manifest)


def _write_markdown(path: Path, sections: list[dict], header: str, manifest: dict | None) -> None:
    lines = ["# varbench report", "", header, ""]
    failed = (manifest or {}).get("cells_failed") or {}
    skipped = (manifest or {}).get("cells_skipped") or {}
    for s in sections:
        lines += [f"## {s['title']}", ""]
        if s["note"]:
            lines += [s["note"], ""]
        if s["image"]:
            lines += [f"![{s['title']}]({s['image']})", ""]
        if s["table"] is not None:
            lines += [s["table"].to_markdown(index=False), ""]
    if skipped:
        lines += ["## Cells not measured (not applicable)", ""] + [f"- {k}: {v}" for k, v in skipped.items()] + [""]
    if failed:
        lines += ["## Cells that failed", ""] + [f"- {k}: {v}" for k, v in failed.items()] + [""]
    path.write_text("\n".join(lines))


def _write_html(path: Path, sections: list[dict], header: str, folder: Path, manifest: dict | None) -> Path:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>varbench report</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
             "text-align:right}th{background:#f3f3f3}img{max-width:100%}.meta{color:#666;font-size:13px}",
             "</style></head><body><h1>varbench report</h1>", f"<p class='meta'>{html.escape(header)}</p>"]
    for s in sections:
        parts.append(f"<h2 id='{s['name']}'>{html.escape(s['title'])}</h2>")
        if s["note"]:
            parts.append(f"<p>{html.escape(s['note'])}</p>")
        if s["image"]:
            data = base64.b64encode((folder / s["image"]).read_bytes()).decode()
            parts.append(f"<img alt='{html.escape(s['title'])}' src='data:image/png;base64,{data}'>")
        if s["table"] is not None:
            parts.append(s["table"].to_html(index=False, border=0))
    for title, key in (("Cells not measured (not applicable)", "cells_skipped"), ("Cells that failed", "cells_failed")):
        items = (manifest or {}).get(key) or {}
        if items:
            parts.append(f"<h2>{title}</h2><ul>" + "".join(
                f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in items.items()) + "</ul>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
    return path

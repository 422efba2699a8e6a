"""The papers' figure of a trace block: the variance as ARM, DisARM, Double CV and RODEO plot it (an exponential
moving average along each driver's own training run), and the ELBO along that run.

varbench's own trace figure (:mod:`._traces`) measures every estimator at the same params; the papers' metric is
what each estimator's own run saw, so the two answer different questions and are drawn side by side.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from varbench.reports import schema
from varbench.reports.figures._axes import line_ends, set_ylabel, wrapped_grid
from varbench.reports.figures._families import style_of
from varbench.reports.figures._labels import SIDE, framed, label_lines
from varbench.reports.figures._style import Palette, estimator_palette
from varbench.reports.trace_table import (  # noqa: F401 - has_papers_figure: the figures' name too
    GROUP, PAPER_EMA, PAPERS_DECAY, has_papers_figure, objective_of, paper_metric, values)

#: Standard errors either side of the objective in its band (a 95% interval).
Z95 = 1.96


def _finite(frame: pd.DataFrame, column: str) -> pd.Series:
    """Whether each row has a finite ``column`` (all False where the frame lacks it: an older store)."""
    return pd.Series(np.isfinite(values(frame, column).to_numpy()), frame.index)


def _per_driver(frame: pd.DataFrame, column: str, stderr: str | None) -> dict[str, pd.DataFrame]:
    """Per driver, the mean over trace seeds of ``column`` per step (``y``) and its standard error (``se``: the
    seeds' errors combined, NaN without them), from the rows where it is finite."""
    rows = frame[_finite(frame, column)]
    out = {}
    for driver, d in rows.groupby("driver", sort=False):
        y = pd.to_numeric(d[column], errors="coerce")
        se = pd.to_numeric(d[stderr], errors="coerce") if stderr and stderr in d else pd.Series(np.nan, d.index)
        per = pd.DataFrame({"step": d["step"], "y": y, "var": se ** 2}).groupby("step")
        # several seeds' runs at one step: the mean, whose error is sqrt(sum se²) / n
        out[str(driver)] = pd.DataFrame({"y": per["y"].mean(), "se": np.sqrt(per["var"].sum(min_count=1)) /
                                         per["y"].count()}).reset_index()
    return out


def _driver_labels(frame: pd.DataFrame) -> dict[str, str]:
    """Each driver's estimator label (its colour's key): that of its own rows (where the papers' metric is), else
    the driver itself."""
    own = frame[_finite(frame, PAPER_EMA)] if PAPER_EMA in frame else frame.iloc[0:0]
    labels = dict(zip(own["driver"].astype(str), own["estimator_label"].astype(str)))
    return {str(d): labels.get(str(d), str(d)) for d in dict.fromkeys(frame["driver"])}


def _draw(ax: plt.Axes, curves: dict[str, pd.DataFrame], labels: dict[str, str], colors: Palette,
          log: bool) -> dict[str, tuple[object, float]]:
    """One panel: a line per driver (natural log of ``y`` when ``log``), with a band of ±:data:`Z95` standard
    errors where they are finite; returns per label its line and last value."""
    ends = {}
    for k, (driver, d) in enumerate(curves.items()):
        label = labels[driver]
        y = np.log(d["y"].where(d["y"] > 0)) if log else d["y"]
        band = d[np.isfinite(d["se"])]
        if not log and len(band):
            ax.fill_between(band["step"], band["y"] - Z95 * band["se"], band["y"] + Z95 * band["se"],
                            color=colors[label], alpha=0.2, lw=0)
        style = style_of(label)
        (line,) = ax.plot(d["step"], y, marker=style.marker, ms=3.5, color=colors[label], ls=style.dash,
                          lw=max(0.9, 1.8 - 0.25 * k))
        finite = y[np.isfinite(y)]
        ends[label] = (line, float(finite.iloc[-1]) if len(finite) else np.nan)
    return ends


def trace_papers(frame: pd.DataFrame, title: str = "", palette: Palette | None = None,
                 width: float | None = None, decay: float | None = None) -> plt.Figure:
    """The papers' figure of a trace block: ln of the papers' EMA gradient variance vs step, one line per driver
    along its own training run, and the ELBO (else the Monte Carlo objective) vs step per driver with its 95% band.

    Each panel is drawn only where the rows have its column (:func:`has_papers_figure`); the papers' variance is on
    the driver's own rows, the objective on every row of a checkpoint (the params are the driver's).

    Args:
      frame: the trace rows of one block (:func:`varbench.reports.schema.trace_rows`).
      title: the figure's title.
      palette: a colour per estimator label (default: :func:`estimator_palette` of the drivers' labels).
      width: the figure's width in inches (default: 4.2 per panel); panels wrap onto more rows when they do not fit.
      decay: the decay of the papers' moving averages, as the block's config sets it (None: the papers' 0.999).

    Returns:
      The figure.
    """
    labels = _driver_labels(frame)
    colors = {**estimator_palette(list(labels.values())), **(palette or {})}
    panels = []
    if _finite(frame, PAPER_EMA).any():
        # The trace averages the encoder's coordinates where the problem has an encoder group, else all of them.
        over = GROUP if GROUP in schema.trace_groups(frame) else "all"
        panels.append((PAPER_EMA, None, f"ln EMA variance ({over})", "ln EMA var.", True,
                       "papers' metric: EMA gradient variance\n"
                       f"(decay {decay or PAPERS_DECAY:g}, mean over {over} coordinates)"))
    objective = objective_of(frame)
    if objective is not None:
        panels.append((objective[0], objective[1], objective[2], objective[2], False,
                       f"{objective[2]} at each driver's params\n(band: 95% interval)"))
    fig, rows = wrapped_grid([max(1, len(panels))], width or 4.2 * max(1, len(panels)) + SIDE, SIDE,
                             height=(1.8, 3.0))
    for ax, (column, stderr, ylabel, short, log, what) in zip(rows[0], panels):
        ends = _draw(ax, _per_driver(frame, column, stderr), labels, colors, log)
        ax.set_title(what, fontsize=8.5)
        ax.set_xlabel("optimisation step (each driver's own run)")
        set_ylabel(ax, ylabel, short)
        if ax in line_ends(rows):
            label_lines(ax, ends, colors)
    heading = (title + "\n" if title else "") + "As the papers plot it" + (
        f": the variance is {paper_metric(decay)}." if panels and panels[0][0] == PAPER_EMA else ".")
    return framed(fig, heading, [], list(labels.values()))

"""The figure of ``varbench check``: an estimator's variance against the references, per problem and point.

Reads the check's variance table (pandas), never JAX.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from varbench.reports.figures._style import estimator_palette  # noqa: E402

#: A value below this fraction of its panel's largest is drawn at that floor, as a ◀: an exact zero (DisARM's
#: variance at logit 0 is 1e-35 in float64) would otherwise stretch the shared log axis over 30 decades and squeeze
#: every other estimator into one spot.
FLOOR_FRACTION = 1e-6
#: The two panels: title, the value's column, and the factor applied to the variance's 95% bounds.
MEASURES = (("variance of one estimate", "total_variance", None),
            ("variance × cost evaluations", "work_evaluations", "evaluations"))
#: The checked estimator's colour: the references get the report's estimator colours.
CANDIDATE_COLOR = "black"


def _floor(values: pd.Series) -> float:
    """The panel's floor: :data:`FLOOR_FRACTION` of its largest value (1 without a positive value)."""
    top = pd.to_numeric(values, errors="coerce").max()
    return FLOOR_FRACTION * float(top) if np.isfinite(top) and top > 0 else 1.0


def _entry(ax: plt.Axes, row: pd.Series, y: float, color: object, floor: float, factor: float) -> float:
    """Draw one estimator's value at one place; returns the smallest x drawn (inf: nothing drawn).

    Monte Carlo: a filled marker with its 95% interval as a line, on top; exact: a larger hollow circle beneath, so
    a Monte Carlo value at the same spot shows through it. A value under the floor is a ◀ at the floor."""
    value = float(row["value"])
    mc = row["method"] != "exact"
    if np.isnan(value):
        return np.inf
    if value < floor:
        ax.plot([floor], [y], ls="none", marker="<", ms=8, color=color, zorder=5)
        return floor
    smallest = value
    bounds = [float(pd.to_numeric(row.get(k), errors="coerce")) for k in ("total_variance_lo", "total_variance_hi")]
    if mc and np.isfinite(bounds).all():
        lo, hi = (max(b * factor, floor) for b in bounds)
        ax.plot([lo, hi], [y, y], color=color, lw=1.5, zorder=4, solid_capstyle="butt")
        smallest = min(smallest, lo)
    marker = "D" if row["candidate"] else "o"
    if mc:
        ax.plot([value], [y], ls="none", marker=marker, ms=6.5, color=color, mec="white", mew=0.6, zorder=4)
    else:
        ax.plot([value], [y], ls="none", marker=marker, ms=10, mfc="none", mec=color, mew=1.6, zorder=3)
    return smallest


def _panel(ax: plt.Axes, long: pd.DataFrame, places: list[str], estimators: list[str], colors: dict) -> bool:
    """One measure's panel: a row per place, the estimators side by side within it (dodged, so none hides
    another). Returns whether a value was clipped at the floor."""
    floor = _floor(long["value"])
    step = min(0.7 / max(len(estimators), 1), 0.2)
    smallest = np.inf
    for _, row in long.iterrows():
        k = estimators.index(row["estimator"])
        y = places.index(row["place"]) + (k - (len(estimators) - 1) / 2) * step
        factor = float(row["evaluations"]) if row["measure_factor"] else 1.0
        smallest = min(smallest, _entry(ax, row, y, colors[row["estimator"]], floor, factor))
    ax.set_xscale("log")
    top = float(long["value"].max()) if len(long) else 1.0
    ax.set_xlim(min(smallest, top) / 3, max(top, floor) * 3)
    return bool((long["value"] < floor).any())


def _legend(fig: plt.Figure, estimators: list[str], colors: dict, clipped: bool) -> None:
    """Colours for the estimators, then what each kind of marker means."""
    handles = [Line2D([], [], ls="none", marker="s", ms=8, color=colors[e], label=e) for e in estimators]
    kinds = [Line2D([], [], ls="-", marker="o", ms=6.5, color="0.3", mec="white", label="Monte Carlo (line: 95% CI)"),
             Line2D([], [], ls="none", marker="o", ms=10, mfc="none", mec="0.3", mew=1.6, label="exact"),
             Line2D([], [], ls="none", marker="D", ms=6.5, color=CANDIDATE_COLOR, label="the checked estimator")]
    if clipped:
        kinds.append(Line2D([], [], ls="none", marker="<", ms=8, color="0.3",
                            label=f"below {FLOOR_FRACTION:g} × the panel's largest\n(drawn at that floor; "
                                  f"e.g. an exact zero)"))
    fig.legend(handles=handles + kinds, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False,
               title="estimator · marker")


def draw(table: pd.DataFrame, title: str) -> plt.Figure:
    """The check's figure: two panels, one row per place (problem · point).

    Left, the total variance of one estimate; right, the variance × cost evaluations. One colour per estimator (the
    checked one black, as diamonds), Monte Carlo values filled with their 95% interval, exact ones as hollow
    circles. Log scale: variances span decades; a value below :data:`FLOOR_FRACTION` of its panel's largest (an
    exact zero, such as DisARM's at logit 0) is drawn at that floor as a ◀, not stretching the axis.

    Args:
      table: the check's variance table: ``problem``, ``point``, ``estimator``, ``candidate`` (the checked
        estimator's rows), ``method``, ``total_variance`` (and its ``total_variance_lo``/``_hi`` bounds),
        ``evaluations`` and ``work_evaluations``.
      title: the figure's title.

    Returns:
      The figure.
    """
    table = table.assign(place=table["problem"] + " · " + table["point"])
    for column, default in (("method", "mc"), ("evaluations", 1.0)):
        if column not in table:
            table = table.assign(**{column: default})
    places = list(dict.fromkeys(table["place"]))
    refs = list(dict.fromkeys(table.loc[~table["candidate"].astype(bool), "estimator"]))
    estimators = refs + [e for e in dict.fromkeys(table["estimator"]) if e not in refs]
    colors = {**estimator_palette(refs), **{e: CANDIDATE_COLOR for e in estimators if e not in refs}}
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + max(0.55, 0.16 * len(estimators)) * len(places)), sharey=True,
                             squeeze=False)
    clipped = False
    for ax, (measure, column, factor) in zip(axes[0], MEASURES):
        long = table.assign(value=pd.to_numeric(table[column], errors="coerce"), measure_factor=factor is not None)
        clipped |= _panel(ax, long, places, estimators, colors)
        ax.set_title(measure)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels collide
    axes[0][0].set_yticks(range(len(places)), places)
    axes[0][0].set_ylim(len(places) - 0.5, -0.5)
    _legend(fig, estimators, colors, clipped)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def variance_figure(table: pd.DataFrame, title: str, path: str | Path) -> Path:
    """Draw (:func:`draw`) and save the check's figure.

    Args:
      table: the check's variance table (see :func:`draw`).
      title: the figure's title.
      path: the PNG file to write.

    Returns:
      ``path``.
    """
    fig = draw(table, title)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path

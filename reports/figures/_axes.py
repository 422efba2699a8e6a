"""Axis helpers that every figure shares: readable log and integer ticks, values that log axes cannot show, curves
that hide each other, grids of panels and the legend beside them."""

from __future__ import annotations

from typing import Iterable

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

#: Variances below this fraction of a panel's largest are zero up to rounding and are not drawn on log axes.
ZERO_FRACTION = 1e-12


def positive(series: pd.Series, scale: float | None = None) -> pd.Series:
    """The values a log axis can show.

    Args:
      series: values (numbers, or anything :func:`pandas.to_numeric` reads).
      scale: the panel's largest value; values at or below :data:`ZERO_FRACTION` of it are zero up to rounding.

    Returns:
      ``series`` as numbers, missing where not positive (not above the scale's fraction).
    """
    values = pd.to_numeric(series, errors="coerce")
    floor = 0.0 if scale is None else ZERO_FRACTION * scale
    return values.where(values > floor)


def integer_ticks(ax: plt.Axes, values: pd.Series, axis: str = "x") -> None:
    """Integer axes (n, T, a number of transitions) get integer ticks only (no 1.5, 2.5).

    Args:
      ax: the axes.
      values: the values drawn along the axis; when all are integers, so are the ticks.
      axis: ``"x"`` or ``"y"``.
    """
    values = pd.to_numeric(values, errors="coerce").dropna()
    if len(values) and np.all(values == np.round(values)):
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def coincide(curves: dict[str, pd.Series], rtol: float = 1e-3) -> list[list[str]]:
    """The curves that hide each other.

    Args:
      curves: label -> values indexed by x.
      rtol: the relative tolerance within which values coincide.

    Returns:
      Groups of two or more labels whose curves coincide (same x, values within ``rtol``), in drawing order.
    """
    groups: list[list[str]] = []
    for label, y in curves.items():
        for g in groups:
            other = curves[g[0]]
            if other.index.equals(y.index) and np.allclose(y.to_numpy(float), other.to_numpy(float), rtol=rtol,
                                                           equal_nan=True):
                g.append(label)
                break
        else:
            groups.append([label])
    return [g for g in groups if len(g) > 1]


def plain_log_ticks(ax: plt.Axes) -> None:
    """Readable ticks on small log axes (call after drawing): decades when the range spans them; otherwise a few
    plain numbers, never the overlapping 2×10⁰, 3×10⁰, ... minor labels.

    Args:
      ax: the axes; their linear axes are left alone.
    """
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or min(limits) <= 0:
            continue
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        decades = np.log10(max(limits) / min(limits))
        if decades >= 2.5:
            axis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
            continue
        if decades >= 0.4:  # 1, 2, 5 × 10^k
            axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=10))
        else:  # less than a factor of 2.5: a few plain values, with the digits that tell them apart
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
        digits = max(3, int(np.ceil(-np.log10(decades + 1e-12))) + 2)
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _, d=digits: f"{v:.{d}g}"))


def panel_grid(n: int, width: float, height: float, ncols: int = 3) -> tuple[plt.Figure, np.ndarray]:
    """A figure with a grid of panels.

    Args:
      n: how many panels are used.
      width: a panel's width in inches.
      height: a panel's height in inches.
      ncols: panels per row (fewer when ``n`` is smaller).

    Returns:
      The figure and its axes as a flat array, the ones beyond ``n`` hidden.
    """
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 1.5, height * nrows + 0.6), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def estimator_legend(fig: plt.Figure, axes: Iterable[plt.Axes], keys: Iterable[object] = (), **style: object) -> None:
    """One legend for the whole figure, beside its panels (so it never covers an axis label however few rows
    there are).

    Args:
      fig: the figure.
      axes: its axes; the first line or marker of each label is in the legend, in drawing order.
      keys: artists drawn on no axes, listed after the estimators under their labels (what a kind of mark means).
      **style: legend options (``fontsize``, ``handlelength``).
    """
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    for key in keys:
        handles.setdefault(key.get_label(), key)
    fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               title="estimator", **style)

"""Axis helpers that every figure shares: readable log and integer ticks, values that log axes cannot show, curves
that hide each other, grids of panels that fit a width, the legend beside them and the bands of text above and
below them."""

from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.font_manager
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
from varbench.reports.figures._pages import wrap  # noqa: F401 - every figure's text wrapping, here too

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


#: The narrowest panel (inches) a grid keeps before it wraps onto another row.
MIN_PANEL = 1.9


def wrapped_grid(rows: Sequence[int], width: float, side: float, height: tuple[float, float] = (1.7, 2.6),
                 bands: float = 0.0) -> tuple[plt.Figure, list[list[plt.Axes]]]:
    """A figure ``width`` inches wide whose rows of panels wrap onto more rows when they do not fit.

    Args:
      rows: the number of panels of each row.
      width: the figure's width (inches), labels and legends beside the panels included.
      side: the width (inches) kept beside the panels for the labels or legend of each row.
      height: the smallest and largest panel height (inches); panels are 3/4 as high as wide within it.
      bands: the height (inches) of the title and the keys above and below the panels.

    Returns:
      The figure and the axes of each row in order (a wrapped row's axes span several lines of the grid); the
      grid's unused axes are hidden.
    """
    ncols = max(1, min(max(rows), int((width - side) // MIN_PANEL)))
    lines = [-(-n // ncols) for n in rows]
    panel = (width - side) / ncols
    panel_height = float(np.clip(0.75 * panel, *height))
    fig, grid = plt.subplots(sum(lines), ncols, figsize=(width, panel_height * sum(lines) + bands), squeeze=False)
    out, line = [], 0
    for n, used in zip(rows, lines):
        axes = list(grid[line:line + used].ravel())
        for ax in axes[n:]:
            ax.set_visible(False)
        out.append(axes[:n])
        line += used
    return fig, out


def set_ylabel(ax: plt.Axes, text: str, short: str) -> None:
    """Label the y axis with ``text``, or with ``short`` where ``text`` is longer than the panel is high (in a
    narrow figure the labels of panels stacked one above the other ran into each other).

    Args:
      ax: the axes (of a figure at its final size).
      text: the label.
      short: the label of a low panel.
    """
    height = ax.get_position().height * ax.figure.get_size_inches()[1]
    size = matplotlib.rcParams["axes.labelsize"]
    points = size if isinstance(size, (int, float)) else matplotlib.font_manager.FontProperties(
        size=size).get_size_in_points()
    ax.set_ylabel(text if len(text) * 0.55 * points / 72 <= height else short)


def line_ends(rows: Sequence[Sequence[plt.Axes]]) -> list[plt.Axes]:
    """The panels at the right end of each line of a :func:`wrapped_grid`: where labels or a legend go.

    Args:
      rows: the axes of each row.

    Returns:
      The visible axes with no visible axes to their right in the grid.
    """
    ends = []
    for axes in rows:
        for k, ax in enumerate(axes):
            nxt = axes[k + 1] if k + 1 < len(axes) else None
            if nxt is None or nxt.get_subplotspec().rowspan.start != ax.get_subplotspec().rowspan.start:
                ends.append(ax)
    return ends


def _band_sizes(width: float, title: str, keys: bool, key_text: str, fontsize: float) -> tuple[float, float, float]:
    """The heights (inches) of the title band, the key text and the keys' legend of :func:`bands`."""
    top = (wrap(title, width, fontsize + 1).count("\n") + 1) * (fontsize + 1) * 1.35 / 72 + 0.1 if title else 0.0
    text = (wrap(key_text, width, fontsize).count("\n") + 1) * fontsize * 1.35 / 72 + 0.08 if key_text else 0.0
    return top, text, fontsize * 2.2 / 72 if keys else 0.0


def band_height(width: float, title: str = "", keys: bool = False, key_text: str = "", fontsize: float = 8.0) -> float:
    """The height (inches) that :func:`bands` takes for these texts at ``width`` inches: add it to the figure's.

    Args:
      width: the figure's width (inches).
      title: the title.
      keys: whether a legend of keys is drawn.
      key_text: the text under the keys.
      fontsize: as for :func:`bands`.

    Returns:
      The height of the bands above and below the panels.
    """
    return sum(_band_sizes(width, title, keys, key_text, fontsize))


def bands(fig: plt.Figure, title: str = "", keys: Sequence[object] = (), key_text: str = "",
          fontsize: float = 8.0) -> tuple[float, float, float, float]:
    """The title above the panels and the keys under them (a legend of what each kind of mark means, then a line of
    text such as the key to abbreviations), each in a band of its own.

    Args:
      fig: the figure; its height should include :func:`band_height` of these texts.
      title: the title (wrapped to the figure's width).
      keys: artists drawn on no axes whose labels say what a kind of mark means.
      key_text: text under the keys (wrapped).
      fontsize: of the keys and the key text; the title is one point larger.

    Returns:
      The rectangle (figure fraction) left for the panels: pass it to :func:`~._labels.finish`.
    """
    width, height = fig.get_size_inches()
    _, text, legend = _band_sizes(width, title, bool(keys), key_text, fontsize)
    if title:
        fig.suptitle(wrap(title, width, fontsize + 1), fontsize=fontsize + 1, y=1 - 0.05 / height, va="top")
    if key_text:
        fig.text(0.01, 0.04 / height, wrap(key_text, width, fontsize), fontsize=fontsize, va="bottom", ha="left",
                 color="0.25")
    if keys:
        fig.legend(list(keys), [k.get_label() for k in keys], loc="lower center", ncol=len(keys), frameon=False,
                   bbox_to_anchor=(0.5, text / height), fontsize=fontsize)
    # no band kept for the title: tight_layout makes room for a figure's suptitle itself
    return (0.0, (text + legend) / height, 1.0, 1.0)

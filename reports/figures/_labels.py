"""Labels written on a figure instead of a legend, and the last step of every figure.

A line gets its label at its end, beside the axes, nudged apart from its neighbours' (:func:`end_labels`); a point of
a scatter gets its label next to it, on the side where it covers the fewest other labels and points
(:func:`point_labels`). Both are placed in points from what they label, once the layout is final
(:func:`finish`), so that saving at another resolution keeps them where they are.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
from varbench.reports.figures._axes import band_height, bands
from varbench.reports.figures._families import abbreviation_key, short_label
from varbench.reports.figures._style import Palette

#: No text of a figure is smaller than this (points): printed at the figure's size, it stays readable.
MIN_FONT = 7.0
#: End labels are at least this many line heights apart.
LINE_GAP = 1.1
#: A row of panels with at most this many lines labels them where they end; more get a legend beside the row.
DIRECT_MAX = 6
#: The width (inches) kept beside each row of panels for its labels or legend.
SIDE = 1.4
END_GID = "varbench-end-label"
POINT_GID = "varbench-point-label"
#: Where a point's label may go: directions from the point, tried in this order (ties keep the first).
DIRECTIONS = ((1, 0.6), (1, -0.6), (-1, 0.6), (-1, -0.6), (0, 1), (0, -1), (1, 0), (-1, 0),
              (1, 1.5), (1, -1.5), (-1, 1.5), (-1, -1.5))
#: How many rings of places around a point are tried, each farther out (a label there gets a leader line).
RINGS = 10


def _texts(fig: plt.Figure) -> list[matplotlib.text.Text]:
    """Every text of ``fig`` that people read: titles, axis and tick labels, notes, legends. (``findobj`` finds
    them too, but builds every minor tick of every log axis on the way: seconds for a page of panels.)"""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    texts = list(fig.texts) + ([fig._suptitle] if fig._suptitle is not None else [])
    texts += [t for legend in legends for t in legend.get_texts() + [legend.get_title()]]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        texts += ax.get_xticklabels() + ax.get_yticklabels()
    return texts


def readable_fonts(fig: plt.Figure, minimum: float = MIN_FONT) -> None:
    """Raise every text of ``fig`` smaller than ``minimum`` points to it.

    Args:
      fig: the figure (call before its layout: larger text needs more room).
      minimum: the smallest font size, in points.
    """
    for ax in fig.axes:
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            labels = axis.get_ticklabels()
            if labels and labels[0].get_fontsize() < minimum:
                ax.tick_params(axis=name, which="both", labelsize=minimum)  # the ticks made later too
    for text in _texts(fig):
        if text.get_fontsize() < minimum:
            text.set_fontsize(minimum)


def end_labels(ax: plt.Axes, ends: Sequence[tuple[float, str, object]], fontsize: float = 8.0) -> None:
    """Write each line's label beside the axes, at the height where it ends (placed by :func:`finish`).

    Args:
      ax: the axes.
      ends: ``(y, text, colour)`` per line: the last drawn value (data coordinates) and its label.
      fontsize: in points.
    """
    for y, text, color in ends:
        if np.isfinite(y):
            ax.annotate(text, xy=(1.0, y), xycoords=ax.get_yaxis_transform(), xytext=(4, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=fontsize, color=color,
                        annotation_clip=False, gid=END_GID)


def point_labels(ax: plt.Axes, points: Sequence[tuple[float, float, str, object]], fontsize: float = 7.0) -> None:
    """Write a label next to each point (placed by :func:`finish`), with a thin leader line when it had to move away.

    Args:
      ax: the axes.
      points: ``(x, y, text, colour)`` per point, in data coordinates.
      fontsize: in points.
    """
    for x, y, text, color in points:
        ax.annotate(text, xy=(x, y), xytext=(0, 0), textcoords="offset points", ha="center", va="center",
                    fontsize=fontsize, color=color, gid=POINT_GID, annotation_clip=False,
                    arrowprops=dict(arrowstyle="-", lw=0.5, color="0.55", shrinkA=0, shrinkB=3))


def _spread(targets: np.ndarray, gap: float, low: float, high: float) -> np.ndarray:
    """Positions as close to ``targets`` as they can be while ``gap`` apart, within [low, high] where they fit:
    neighbours that would overlap form a cluster centred on their targets' mean."""
    order = np.argsort(targets)
    t = targets[order]
    clusters = [[i] for i in range(len(t))]

    def start(c: list[int]) -> float:
        span = gap * (len(c) - 1)
        first = float(np.mean(t[c])) - span / 2
        return min(max(first, low), high - span) if high - low >= span else (low + high - span) / 2

    merged = True
    while merged:
        merged = False
        for k in range(len(clusters) - 1):
            if start(clusters[k]) + gap * len(clusters[k]) > start(clusters[k + 1]):
                clusters[k:k + 2] = [clusters[k] + clusters[k + 1]]
                merged = True
                break
    out = np.empty_like(t)
    for c in clusters:
        out[c] = start(c) + gap * np.arange(len(c))
    placed = np.empty_like(out)
    placed[order] = out
    return placed


def _place_end_labels(ax: plt.Axes, labels: list, points_per_pixel: float) -> None:
    box = ax.get_window_extent()
    targets = np.array([ax.transData.transform((ax.get_xlim()[0], a.xy[1]))[1] for a in labels])
    gap = max(a.get_fontsize() for a in labels) * LINE_GAP / points_per_pixel
    placed = _spread(targets, gap, box.y0, box.y1)
    for a, target, y in zip(labels, targets, placed):
        a.xyann = (4, (y - target) * points_per_pixel)


def _overlaps(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Area each of ``boxes`` (n × 4: x0, y0, x1, y1) shares with all of ``others`` (m × 4) together."""
    if not len(others):
        return np.zeros(len(boxes))
    w = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    h = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return np.sum(np.clip(w, 0, None) * np.clip(h, 0, None), axis=1)


def _candidates(anchor: np.ndarray, size: np.ndarray, radius: float) -> np.ndarray:
    """Boxes (x0, y0, x1, y1) where a label of ``size`` may go around ``anchor``: on rings ever farther out, in
    :data:`DIRECTIONS` around each, nearest first."""
    rings = radius * np.arange(1, RINGS + 1) ** 1.3
    unit = np.array(DIRECTIONS, dtype=float)
    unit /= np.abs(unit).max(axis=1, keepdims=True)  # the box's edge (not its centre) is a ring's distance away
    offsets = (unit[None] * (rings[:, None, None] + size / 2)).reshape(-1, 2)
    centres = anchor + offsets
    return np.hstack([centres - size / 2, centres + size / 2])


def _place_point_labels(ax: plt.Axes, labels: list, renderer: object, points_per_pixel: float) -> None:
    """Greedy: each label, most crowded point first, goes to the candidate box (near, then farther out, with a
    leader line) that covers the least of the labels already placed, of every point and of the space outside the
    axes."""
    anchors = np.array([ax.transData.transform(a.xy) for a in labels])
    sizes = np.array([[b.width, b.height] for b in (a.get_window_extent(renderer) for a in labels)])
    radius = 4.5 / points_per_pixel  # a marker's radius and a little air
    gap = 2.0 / points_per_pixel
    marks = np.hstack([anchors - radius, anchors + radius])
    frame = ax.get_window_extent()
    crowd = np.argsort([-np.sum(np.hypot(*(anchors - p).T) < 40 / points_per_pixel) for p in anchors], kind="stable")
    placed = np.empty((0, 4))
    for i in crowd:
        boxes = _candidates(anchors[i], sizes[i], radius)
        inside = (np.clip(np.minimum(boxes[:, 2], frame.x1) - np.maximum(boxes[:, 0], frame.x0), 0, None)
                  * np.clip(np.minimum(boxes[:, 3], frame.y1) - np.maximum(boxes[:, 1], frame.y0), 0, None))
        cost = (10 * _overlaps(boxes, placed) + 3 * _overlaps(boxes, marks) + 5 * (sizes[i].prod() - inside)
                + 0.02 * sizes[i].prod() * np.arange(len(boxes)) / len(DIRECTIONS))  # nearer is better
        best = boxes[int(np.argmin(cost))]
        placed = np.vstack([placed, best + np.array([-1, -1, 1, 1]) * gap])  # air between neighbouring labels
        labels[i].xyann = tuple(((best[:2] + best[2:]) / 2 - anchors[i]) * points_per_pixel)


def finish(fig: plt.Figure, rect: tuple[float, float, float, float] | None = None) -> None:
    """The last step of every figure: fonts raised to :data:`MIN_FONT`, the layout made tight (within ``rect``,
    figure fraction), then the labels of :func:`end_labels` and :func:`point_labels` placed for that layout.

    Args:
      fig: the figure.
      rect: the part of the figure the panels may use (default: all of it).
    """
    readable_fonts(fig)
    fig.tight_layout(rect=rect)
    renderer = fig.canvas.get_renderer()
    points_per_pixel = 72.0 / fig.dpi
    for ax in fig.axes:
        ends = [t for t in ax.texts if t.get_gid() == END_GID]
        if ends:
            _place_end_labels(ax, ends, points_per_pixel)
        points = [t for t in ax.texts if t.get_gid() == POINT_GID]
        if points:
            _place_point_labels(ax, points, renderer, points_per_pixel)


def label_lines(ax: plt.Axes, ends: dict[str, tuple[object, float]], colors: Palette) -> None:
    """The labels of a row of panels, on the panel at its right end: at the line ends (:data:`DIRECT_MAX` lines or
    fewer) or in a legend beside it (at most :data:`~._families.MAX_PER_PANEL` entries).

    Args:
      ax: the panel at the row's right end.
      ends: per label, the artist to show in a legend and the value where its line ends.
      colors: a colour per label.
    """
    if len(ends) <= DIRECT_MAX:
        end_labels(ax, [(y, short_label(label), colors[label]) for label, (_, y) in ends.items()])
    else:
        ax.legend([a for a, _ in ends.values()], [short_label(label) for label in ends], loc="center left",
                  bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=7.5, handlelength=3)


def framed(fig: plt.Figure, title: str, keys: list, labels: list[str], caption: str = "") -> plt.Figure:
    """``fig`` made taller by the bands of its title and keys, then finished (:func:`finish`). Everything stays
    inside the figure: its PNG is cropped from the drawn canvas, not laid out again to take in what sticks out.

    Args:
      fig: the figure, its panels drawn.
      title: its title ("": none).
      keys: artists drawn on no axes whose labels say what a kind of mark means (a legend under the panels).
      labels: the estimator labels written short in it: the key to their abbreviations goes under the keys.
      caption: text under the keys, before that key ("": none).

    Returns:
      ``fig``.
    """
    key_text = abbreviation_key(labels)
    key_text = " ".join(t for t in (caption, f"Labels: {key_text}." if key_text else "") if t)
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + band_height(width, title, bool(keys), key_text))
    finish(fig, bands(fig, title, keys, key_text))
    return fig

"""One colour per estimator, the same in every figure of a report: keyed by the estimator's name, its variants
shaded. Needs no figure (no pyplot, no seaborn): a report computes its palette before its workers draw.
"""

from __future__ import annotations

import colorsys
import zlib
from typing import Sequence

import matplotlib.colors
import numpy as np

#: A colour (RGB, 0 to 1) per label: what every figure function takes as ``palette``.
Palette = dict[str, tuple]

#: One colour per built-in estimator name, the same in every figure: the Okabe & Ito (2008) colour-blind-safe set
#: and Paul Tol's "muted" and "dark" schemes. Estimators usually drawn together get well separated hues.
ESTIMATOR_COLORS = {
    "score_function": "#0072B2", "pathwise": "#D55E00", "measure_valued": "#009E73", "rloo": "#56B4E9",
    "arm": "#CC79A7", "disarm": "#882255", "relax": "#E69F00", "rebar": "#999933", "gumbel_softmax": "#332288",
    "straight_through": "#000000", "stl": "#44AA99", "dreg": "#AA4499", "vimco": "#117733", "nvil": "#DDCC77",
    "actor_critic": "#CC6677", "n_step": "#88CCEE", "gae": "#661100", "model_pathwise": "#A6761D",
}
#: Colours for estimators that the table above does not name (plugins), chosen by a stable hash of the name.
EXTRA_COLORS = ("#6699CC", "#997700", "#EE7733", "#BBBBBB", "#004488", "#EE3377")
#: The same colour for a critic in every panel (oracle, Monte Carlo regression, temporal-difference fit).
CRITIC_COLORS = {"oracle": "#0072B2", "learned": "#D55E00", "td": "#009E73"}
#: How far the last variant of an estimator is shaded towards black (or, 0.7 as far, white): a fraction of the way.
SHADE_RANGE = 0.6
#: How far each further variant's hue turns (a fraction of the colour wheel), so that shades next to each other differ.
HUE_TURN = 0.025


def estimator_palette(labels: Sequence[str]) -> Palette:
    """A colour per estimator label (``name`` or ``name:options``), keyed by the estimator's name.

    Variants of one name (``score_function:returns=full``, ``…=to_go``) get shades of its colour in the order given:
    pass every label of the report, in config order, to keep them fixed across figures.

    Args:
      labels: estimator labels; repeats are ignored.

    Returns:
      A colour per distinct label: the name's colour for its first label, then darker and lighter shades.
    """
    out: Palette = {}
    variants: dict[str, list[str]] = {}
    for label in dict.fromkeys(labels):
        variants.setdefault(str(label).split(":", 1)[0], []).append(label)
    for name, group in variants.items():
        base = ESTIMATOR_COLORS.get(name) or EXTRA_COLORS[zlib.crc32(name.encode()) % len(EXTRA_COLORS)]
        rgb = np.array(matplotlib.colors.to_rgb(base))
        for k, label in enumerate(group):
            out[label] = _shade(rgb, k, len(group))
    return out


def _shade(rgb: np.ndarray, k: int, n: int) -> tuple:
    """The colour of the ``k``-th of ``n`` variants of one estimator: the first keeps the base colour; the others
    alternate darker and lighter shades spread evenly up to :data:`SHADE_RANGE` (however many there are: fixed steps
    made every variant beyond the sixth black or white), their hue turned a little so that neighbours differ."""
    if k == 0:
        return tuple(rgb)
    if rgb.max() < 0.25:  # black has no darker shades: every variant is lighter
        darker, rank, count = False, k, n - 1
    else:
        darker, rank = k % 2 == 1, (k + 1) // 2
        count = (n // 2) if darker else (n - 1) // 2  # variants on this side of the base
    # lighter shades stop earlier: a light base (n_step's sky blue) would fade into the white axes
    step = SHADE_RANGE * (1.0 if darker else 0.7) * rank / max(count, 1)
    shade = rgb * (1 - step) if darker else rgb + (1 - rgb) * step
    hue, light, saturation = colorsys.rgb_to_hls(*np.clip(shade, 0, 1))
    turned = colorsys.hls_to_rgb((hue + HUE_TURN * rank * (1 if darker else -1)) % 1.0, light, saturation)
    return tuple(float(c) for c in np.clip(turned, 0, 1))


def text_color(color: object) -> tuple:
    """A colour for text naming something drawn in ``color``: the colour itself, darkened where it is too light to
    read on white (the lightest shades of an estimator's variants).

    Args:
      color: any matplotlib colour.

    Returns:
      An RGB colour whose relative luminance is at most 0.45.
    """
    rgb = np.array(matplotlib.colors.to_rgb(color))
    luminance = float(rgb @ [0.2126, 0.7152, 0.0722])
    return tuple(float(c) for c in (rgb * (0.45 / luminance) if luminance > 0.45 else rgb))

"""How every figure looks: the file-only backend, the theme, one colour per estimator and the dash patterns.

An estimator's colour is keyed by its name, so that it is the same in every figure of a report.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.colors  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)

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
#: Dash patterns, one per estimator of a panel, so curves that nearly coincide can be told apart.
LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1.2)), (0, (6, 1.5, 1, 1.5)), (0, (3, 1, 1, 1, 1, 1)))


def value_palette(labels: Sequence[str]) -> Palette:
    """Colours for values that are not estimators (a horizon T, a critic).

    Args:
      labels: the values, in the order they get the colour-blind-safe colours.

    Returns:
      A colour per label.
    """
    return dict(zip(labels, sns.color_palette("colorblind", len(labels))))


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
        # the plain estimator keeps the base colour; variants alternate darker / lighter shades of it
        for k, label in enumerate(group):
            step = (k + 1) // 2 * 0.28 * (1 if k % 2 else -1) if k else 0.0
            shade = rgb + (1 - rgb) * step if step > 0 else rgb * (1 + step)
            out[label] = tuple(np.clip(shade, 0, 1))
    return out

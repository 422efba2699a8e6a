"""How every figure looks: the file-only backend, the theme and the colours (one per estimator, in
:mod:`._colors`; its family's marker and dash are in :mod:`._families`).

An estimator's colour is keyed by its name, so that it is the same in every figure of a report.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import seaborn as sns  # noqa: E402
from varbench.reports.figures._colors import (  # noqa: E402,F401 - the colours, under the style's names too
    CRITIC_COLORS, ESTIMATOR_COLORS, EXTRA_COLORS, HUE_TURN, SHADE_RANGE, Palette, estimator_palette, text_color)

sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)


def value_palette(labels: Sequence[str]) -> Palette:
    """Colours for values that are not estimators (a horizon T, a critic).

    Args:
      labels: the values, in the order they get the colour-blind-safe colours.

    Returns:
      A colour per label.
    """
    return dict(zip(labels, sns.color_palette("colorblind", len(labels))))

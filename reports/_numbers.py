"""Numbers as a paper prints them: a value rounded to the digits its 95% interval supports, and the cells and
tables of :mod:`varbench.reports.export` (kept here so that other tables, such as a trace block's
(:mod:`varbench.reports.trace_table`), build the same cells without importing the renderers). Pure Python.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, NamedTuple

#: Magnitudes written without a power of ten: [PLAIN_RANGE[0], PLAIN_RANGE[1]).
PLAIN_RANGE = (1e-2, 1e3)
#: Significant digits of a number without an interval to set them (exact-mode values, counts).
DEFAULT_DIGITS = 4


class Figures(NamedTuple):
    """A number as printed: the value's and its interval's digits, and the power of ten they share."""

    value: str
    lo: str | None
    hi: str | None
    #: The shared power of ten (0: plain form).
    exponent: int


class Cell(NamedTuple):
    """One table cell: text or a number, in bold or not, with a mark after it
    (:data:`varbench.reports.export.PAIRED_MARK`)."""

    content: str | Figures | None
    bold: bool = False
    mark: str = ""


class PaperTable(NamedTuple):
    """One block's table, independent of the output format (plain text; the renderers escape it)."""

    block: str
    caption: str
    header: list[str]
    rows: list[list[Cell]]
    #: The leading columns that hold text (left-aligned); the others hold numbers (right-aligned).
    text_columns: int = 1


def finite(x: Any) -> bool:
    """Whether ``x`` is a finite number (text, None and NaN are not)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def round_to_interval(value: float, lo: float = math.nan, hi: float = math.nan) -> Figures | None:
    """Round a value and its 95% interval to the digits the interval supports.

    The value is rounded to the decimal of the half-width's first significant digit (never coarser than the
    value's own first digit); without an interval (or one of zero width, as exact values have) to
    :data:`DEFAULT_DIGITS` significant digits. Outside :data:`PLAIN_RANGE` the value and its interval share a power
    of ten (the value's, after rounding).

    Args:
      value: the number.
      lo: the interval's lower end (NaN: no interval).
      hi: the interval's upper end.

    Returns:
      The digits (``Figures("1.23", "1.18", "1.29", -4)`` for 1.2345e-4 in [1.18e-4, 1.29e-4]; ``lo`` and ``hi``
      None without an interval of positive width), or None when ``value`` is not a finite number.
    """
    if not finite(value):
        return None
    value = float(value)
    if value == 0 and not (finite(lo) and finite(hi) and hi > lo):
        return Figures("0", None, None, 0)
    half = (float(hi) - float(lo)) / 2 if finite(lo) and finite(hi) else math.nan
    interval = half > 0  # an exact value's interval has no width: it is printed without one
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    if interval:
        place = math.floor(math.log10(half))
        place = min(place, magnitude) if value else place
    else:
        place = magnitude - (DEFAULT_DIGITS - 1)
    step = Decimal(1).scaleb(place)
    exact = Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_EVEN)
    plain = exact == 0 or PLAIN_RANGE[0] <= abs(exact) < PLAIN_RANGE[1]
    exponent = 0 if plain else exact.adjusted()

    def digits(x: float) -> str:
        d = Decimal(repr(float(x))).quantize(step, rounding=ROUND_HALF_EVEN).scaleb(-exponent)
        return format(d, "f")

    return Figures(digits(value), digits(lo) if interval else None, digits(hi) if interval else None, exponent)


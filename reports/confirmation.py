"""Confirmations of a suite's "bias detected" verdicts on fresh seeds (``varbench suite --confirm``), as the report
reads them. Needs no JAX: the confirmation run itself is :mod:`varbench.suite._confirm`.

A suite run with ``--confirm`` measures every flagged Monte Carlo block × estimator again, with every seed moved,
into a store of its own inside the suite's (``STORE/confirm``). Its summary tests those families again (Holm across
them at the report's level); the report puts that second verdict beside the first.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from varbench.reports import schema, store, verdict

#: Where the confirmation store lives, inside the suite's store.
CONFIRM_FOLDER = "confirm"


def confirmations(root: str | Path) -> dict[tuple[str, str], tuple[bool, float]]:
    """``{(block, estimator label): (bias confirmed, report-wide p-value)}`` from the confirmation store of the
    suite's store ``root`` (empty when it has none)."""
    folder = Path(root) / CONFIRM_FOLDER
    if not (folder / "manifest.json").exists():
        return {}
    table = schema.summary(store.load(folder))
    table = table[table["method"].eq("mc")]
    return {(b, e): (bool(d), float(p)) for b, e, d, p in
            zip(table["block"], table["estimator"], table["bias_detected"], table["p_value"])}


def with_confirmations(table: pd.DataFrame, found: dict[tuple[str, str], tuple[bool, float]]) -> pd.DataFrame:
    """The summary ``table`` with a ``confirmed`` column when any of its rows was measured again: ``yes (p = …)``
    where the fresh seeds found the bias too, ``no (p = …)`` where they did not (the first verdict was noise at
    the report's level); empty for rows not measured again."""
    if not found:
        return table
    words = []
    for block, estimator in zip(table["block"], table["estimator"]):
        again = found.get((block, estimator))
        words.append(None if again is None else
                     verdict.describe({"bias_detected": again[0], "method": "mc", "p_value": again[1]}))
    return table.assign(confirmed=words)

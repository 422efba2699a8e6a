"""``varbench suite --confirm``: the blocks × estimators a suite flagged as biased, measured again on fresh seeds.

The report's verdicts are corrected across the whole report (:data:`varbench.reports.verdict.REPORT_ALPHA`), so a
report of unbiased estimators flags any of them with probability at most 5%; a flag can still be one unlucky
seed. Confirming re-runs exactly the flagged Monte Carlo families (their block, grid and sample count) with every
seed moved by :data:`CONFIRM_SEED_OFFSET`, into a store of its own inside the suite's (``STORE/confirm``,
:mod:`varbench.reports.confirmation`), and the report tests them again there (Holm across the re-tested families at
the same level): a flag that a fresh, independent measurement does not reproduce is reported as not confirmed. Both
verdicts are shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from varbench.engine.prng import MAX_SEED
from varbench.reports import schema, store
from varbench.suite._config import with_quick

#: Seeds of the confirmation run: the block's seeds moved by this much (modulo the seed range), far from any
#: seed a config lists by hand, so the new noise is independent of the old.
CONFIRM_SEED_OFFSET = (MAX_SEED + 1) // 2 + 7919


def flagged_families(out: Path) -> list[tuple[str, str]]:
    """``(block, estimator label)`` of every Monte Carlo row of the store's summary with a bias detected."""
    table = schema.summary(store.load(out))
    if table.empty:
        return []
    flagged = table[table["method"].eq("mc") & table["bias_detected"].eq(True)]
    return list(zip(flagged["block"], flagged["estimator"]))


def confirmation_config(raw: dict[str, Any], flagged: Sequence[tuple[str, str]], quick: bool,
                        plugins: Sequence[str]) -> dict[str, Any]:
    """The config that measures the ``flagged`` families again on fresh seeds: their blocks (with the ``--quick``
    overrides applied when ``quick``), only the flagged estimators, the seeds moved, the plugins already
    resolved."""
    blocks = []
    for block in raw.get("block", []):
        labels = [label for name, label in flagged if name == block.get("name")]
        if not labels:
            continue
        again = {k: v for k, v in with_quick(block, block["name"], quick).items() if k != "quick"}
        again["estimators"] = labels
        again["seeds"] = [(s + CONFIRM_SEED_OFFSET) % (MAX_SEED + 1) for s in again.get("seeds", [0])]
        blocks.append(again)
    return {**{k: v for k, v in raw.items() if k not in ("block", "plugins")}, "plugins": list(plugins),
            "block": blocks}

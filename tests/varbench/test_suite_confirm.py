"""``varbench suite --confirm``: a block × estimator flagged as biased is measured again on fresh seeds, alone, and
the confirmation is what the report reads; the report's verdicts are corrected across the whole report."""

from __future__ import annotations

import numpy as np
import pandas as pd

import varbench
from varbench.reports import schema, store
from varbench.reports import verdict as rules
from varbench.suite import run_suite
from varbench.reports.confirmation import CONFIRM_FOLDER, confirmations, with_confirmations
from varbench.suite._confirm import CONFIRM_SEED_OFFSET

CONFIG = {"block": [{"name": "planted", "problem": "gaussian:dim=1", "estimators": ["pathwise", "planted_biased"],
                     "num_samples": 100_000, "seeds": [3], "grid": {"k": [0.5, 1.5]}}]}


def test_a_flagged_estimator_is_measured_again_on_fresh_seeds_and_confirmed(tmp_path):
    varbench.load_plugin("tests.plugins.planted")
    said = []
    run_suite(CONFIG, tmp_path / "store", report=False, confirm=True, progress=said.append,
              plugins=["tests.plugins.planted"])
    assert any(line.startswith("confirm: 1 block × estimator flagged") for line in said), said
    again = store.load(tmp_path / "store" / CONFIRM_FOLDER)
    assert set(again["estimator_label"]) == {"planted_biased"}  # the unflagged estimator is not measured again
    assert set(again["seed"]) == {3 + CONFIRM_SEED_OFFSET}
    found = confirmations(tmp_path / "store")
    confirmed, p = found[("planted", "planted_biased")]
    assert confirmed and p < 1e-6
    table = with_confirmations(schema.summary(store.load(tmp_path / "store")), found).set_index("estimator")
    assert table.loc["planted_biased", "confirmed"].startswith("yes (p = ")
    assert pd.isna(table.loc["pathwise", "confirmed"])  # not flagged, not measured again


def test_the_report_corrects_its_verdicts_across_every_block():
    """Twenty families with p = 0.004 each: alone each is flagged at 0.01; across the report (Holm at 0.05) none."""
    adjusted, detected = rules.report_corrected(pd.Series([0.004] * 20 + [1e-9]))
    assert not detected[:20].any() and detected.iloc[20] and np.isclose(adjusted.iloc[0], 0.004 * 20)
    assert "family-wise level 0.05" in rules.RULE and "report-wide" in schema.SUMMARY_LEGEND["p_value"]

"""Variance ratios from a store's rows (varbench.reports.ratios), on synthetic rows with known answers."""

import numpy as np
import pandas as pd
import pytest
from varbench.reports import ratios

Z = ratios.Z95


def _rows(label, k, variances, h, *, block="b", evaluations=1, per_second=1000.0, method="mc", seed=0, **paired):
    """The rows of one grid point of one estimator: one per coordinate, with intervals v·exp(±z·h)."""
    v = np.asarray(variances, float)
    return [dict(block=block, estimator_label=label, seed=seed, point=0, grid_k=k, method=method, param="x",
                 total_variance=float(v.sum()), variance=vc, variance_lo=vc * np.exp(-Z * h),
                 variance_hi=vc * np.exp(Z * h), evaluations_per_estimate=evaluations, estimates_per_second=per_second,
                 **paired) for vc in v]


def _table(rows, reference=None):
    return ratios.ratio_table(pd.DataFrame(rows), ["grid_k"], reference).set_index("estimator")


def test_the_standard_error_of_a_total_is_the_sum_of_the_coordinates():
    v = np.array([2.0, 3.0])
    h = np.array([0.1, 0.3])
    assert ratios.total_variance_se(v, v * np.exp(-Z * h), v * np.exp(Z * h)) == pytest.approx(0.2 + 0.9)
    assert ratios.total_variance_se(v, v, v) == 0.0  # exact: no width


def test_an_unpaired_ratio_combines_both_standard_errors_on_the_log_scale():
    rows = _rows("mine", 1.0, [2.0, 2.0], 0.1, evaluations=4, per_second=500.0) + _rows("score_function", 1.0,
                                                                                          [1.0, 1.0], 0.05)
    row = _table(rows).loc["mine"]
    half = Z * np.hypot(0.4 / 4.0, 0.1 / 2.0)
    assert (row["var_ratio"], row["var_ratio_lo"], row["var_ratio_hi"]) == pytest.approx(
        (2.0, 2.0 * np.exp(-half), 2.0 * np.exp(half)))
    assert row["var_ratio_paired"] == False and row["var_ratio_reference"] == "score_function"  # noqa: E712
    assert row["var_ratio_x_evaluations"] == pytest.approx(8.0)  # 4 evaluations against 1
    assert row["var_ratio_x_seconds"] == pytest.approx(4.0)  # 1/500 s against 1/1000 s
    assert _table(rows).loc["score_function", "var_ratio"] == 1.0


def test_paired_values_are_used_for_the_reference_they_were_measured_against():
    paired = dict(var_ratio=3.0, var_ratio_lo=2.9, var_ratio_hi=3.1, var_ratio_paired=True,
                  var_ratio_reference="score_function")
    rows = _rows("mine", 1.0, [2.0, 2.0], 0.1, **paired) + _rows(
        "score_function", 1.0, [1.0, 1.0], 0.05, var_ratio_reference="score_function")
    row = _table(rows).loc["mine"]
    assert (row["var_ratio"], row["var_ratio_lo"], row["var_ratio_hi"]) == pytest.approx((3.0, 2.9, 3.1), rel=1e-3)
    assert row["var_ratio_paired"] == True  # noqa: E712
    other = _table(rows, reference="mine").loc["score_function"]  # another reference: unpaired, from the rows
    assert other["var_ratio"] == pytest.approx(0.5) and other["var_ratio_paired"] == False  # noqa: E712


def test_points_combine_as_a_geometric_mean_with_independent_errors():
    rows = (_rows("mine", 1.0, [2.0], 0.1) + _rows("mine", 2.0, [8.0], 0.2)
            + _rows("score_function", 1.0, [1.0], 0.0) + _rows("score_function", 2.0, [1.0], 0.0))
    row = _table(rows).loc["mine"]
    half = Z * np.hypot(0.1, 0.2) / 2
    assert (row["var_ratio"], row["var_ratio_lo"], row["var_ratio_hi"]) == pytest.approx(
        (4.0, 4.0 * np.exp(-half), 4.0 * np.exp(half)))


def test_exact_rows_give_exact_ratios_and_blocks_without_the_reference_none():
    rows = (_rows("mine", 1.0, [3.0], 0.0, method="exact") + _rows("pathwise", 1.0, [1.5], 0.0, method="exact")
            + _rows("mine", 1.0, [3.0], 0.1, block="other"))
    table = ratios.ratio_table(pd.DataFrame(rows), ["grid_k"], "pathwise").set_index(["block", "estimator"])
    exact = table.loc[("b", "mine")]
    assert exact["var_ratio"] == exact["var_ratio_lo"] == exact["var_ratio_hi"] == pytest.approx(2.0)
    assert np.isnan(exact["var_ratio_x_seconds"]) and pd.isna(exact["var_ratio_paired"])  # nothing sampled
    assert np.isnan(table.loc[("other", "mine"), "var_ratio"])
    # without a configured reference (an old store), the first estimator of the block is it
    assert _table(rows[:2]).loc["pathwise", "var_ratio"] == pytest.approx(0.5)

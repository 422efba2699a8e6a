"""The report's bias verdict: Holm-corrected, calibrated, powerful, and blind to float rounding.

Synthetic families check the statistics exactly where they are cheap (thousands of families of z-scores); real
measurements check them end to end: 50 seeds of a small Monte Carlo sweep for the false-alarm rate, and an
estimator with a planted 5% bias for power.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from varbench.estimators.pathwise import Pathwise
from varbench.estimators.score_function import ScoreFunction
from varbench.reports import schema, verdict

from tests.helpers import Scaled
from varbench.testing import holm_reject


def family(bias, se, grad, *, method="mc", variance=None, points=1):
    """One block × estimator: coordinates split evenly over ``points`` grid points (one measurement each)."""
    m = len(bias)
    return pd.DataFrame(dict(block="b", estimator_label="e", cell="c", point=np.arange(m) * points // m, param="x",
                             method=method, grad_exact=grad, grad_se=se, bias=bias,
                             variance=np.asarray(se) ** 2 * 1e4 if variance is None else variance))


def test_holm_adjusted_p_values_reject_as_the_testing_kit_does():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(size=rng.integers(1, 30)) ** 3
        for alpha in (1e-3, 0.01, 0.05):
            np.testing.assert_array_equal(verdict.holm_adjusted(p) <= alpha, holm_reject(p, alpha))


def families(bias, se, grad, points):
    """Many synthetic families at once: row i of ``bias`` is family i (estimator label ``e<i>``)."""
    n, m = bias.shape
    return pd.DataFrame(dict(block="b", estimator_label=np.repeat([f"e{i}" for i in range(n)], m),
                             cell=np.repeat([f"c{i}" for i in range(n)], m), point=np.tile(np.arange(m) * points // m, n),
                             param="x", method="mc", grad_exact=np.tile(grad, n), grad_se=np.tile(se, n),
                             bias=bias.ravel(), variance=np.tile(se, n) ** 2 * 1e4))


def test_false_alarm_rate_of_unbiased_families_is_alpha():
    """20000 unbiased families of 40 coordinates: the verdict says "biased" in ≈ ALPHA of them (Holm's family-wise
    bound is tight for independent tests), where the old rule max |z| > 3 fired in 1 − 0.9973⁴⁰ ≈ 10%."""
    rng = np.random.default_rng(1)
    n, m = 20000, 40
    z = rng.normal(size=(n, m))
    found = verdict.verdicts(families(0.1 * z, np.full(m, 0.1), rng.normal(size=m), points=20))
    assert len(found) == n and (found["coordinates"] == m).all()
    rate = found["bias_detected"].astype(bool).mean()
    sd = np.sqrt(verdict.ALPHA * (1 - verdict.ALPHA) / n)
    assert abs(rate - verdict.ALPHA) < 4 * sd, rate
    assert np.mean(np.abs(z).max(axis=1) > 3) > 5 * verdict.ALPHA  # what the report used to show


def test_upper_bound_covers_the_true_relative_bias():
    """The simultaneous 95% bound on ‖bias‖/‖gradient‖ covers the truth in at least 95% of families."""
    rng = np.random.default_rng(2)
    n, m, grad, se = 4000, 10, np.linspace(1.0, 2.0, 10), np.full(10, 0.02)
    true_bias = 0.03 * grad  # relative bias 3% everywhere
    found = verdict.verdicts(families(true_bias + se * rng.normal(size=(n, m)), se, grad, points=1))
    coverage = np.mean(found["rel_bias_ub95"] >= 0.03)
    assert coverage >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / n), coverage


def test_planted_five_percent_bias_is_flagged_with_its_size():
    rng = np.random.default_rng(3)
    grad = rng.uniform(1, 2, size=20) * rng.choice([-1, 1], size=20)
    se = 0.005 * np.abs(grad)
    v = verdict.verdicts(family(0.05 * grad + se * rng.normal(size=20), se, grad, points=5)).iloc[0]
    assert v["bias_detected"] and v["p_value"] < 1e-6
    assert 0.04 < v["rel_bias"] < 0.07 and v["rel_bias_ub95"] >= 0.05
    assert verdict.describe(v).startswith("yes (p = ")


def test_float_rounding_is_not_bias():
    grad = np.array([5e-4, 2e-4])
    # DisARM at logit 0: zero variance, a float32 mean ~80 ulps of the gradient away from the float64 exact value
    rounding = family(np.array([-4.6e-9, 1e-11]), np.array([1.5e-11, 0.0]), grad, variance=np.array([2e-18, 0.0]))
    assert not verdict.verdicts(rounding)["bias_detected"].iloc[0]
    real = family(np.array([-5e-6, 0.0]), np.array([1.5e-11, 0.0]), grad, variance=np.array([2e-18, 0.0]))
    assert verdict.verdicts(real)["bias_detected"].iloc[0]  # 1% of the gradient with no noise: a bias
    exact = family(np.array([1e-16, -3e-16]), np.zeros(2), np.array([1.0, 2.0]), method="exact",
                   variance=np.array([4.0, 8.0]))
    row = verdict.verdicts(exact).iloc[0]
    assert not row["bias_detected"] and row["rel_bias_ub95"] < 1e-12 and verdict.describe(row) == "no (exact)"
    biased = family(np.array([0.01, 0.0]), np.zeros(2), np.array([1.0, 2.0]), method="exact",
                    variance=np.array([4.0, 8.0]))
    row = verdict.verdicts(biased).iloc[0]
    # ‖bias‖ / ‖gradient‖ of the group: 0.01 / ‖(1, 2)‖
    assert row["bias_detected"] and row["rel_bias_ub95"] == pytest.approx(0.01 / np.sqrt(5.0), rel=0.01)


def test_no_exact_gradient_gives_no_verdict():
    frame = family(np.array([np.nan, np.nan]), np.array([0.1, 0.1]), np.array([np.nan, np.nan]))
    row = verdict.verdicts(frame).iloc[0]
    assert np.isnan(row["bias_detected"]) and verdict.describe(row) == "– (no exact gradient)"


def _measured_rows(estimator, label, seeds, samples, block="sweep"):
    """Real measurements of a 3-point Gaussian k sweep (one kernel, vmapped over k) as tidy report rows."""
    from varbench.catalog import resolve_problem
    from varbench.engine.harness import measure_batch

    ks = (0.5, 1.0, 2.0)
    problems = [resolve_problem(f"gaussian:cost=cos,k={k}") for k in ks]
    points = [{"options": {"k": k}, "params": {"mean": 0.5}} for k in ks]
    rows = []
    for seed in seeds:
        results = measure_batch(problems, estimator, params=[p["params"] for p in points], num_samples=samples,
                                seed=seed)
        rows += schema.measurement_rows(results, points, block=block, cell=f"{label}-{seed}", problem_name="gaussian",
                                        estimator_name=label, estimator_label=label, estimator_options={},
                                        static={"cost": "cos"})
    return pd.DataFrame(rows)


def test_fifty_seeds_of_unbiased_estimators_raise_about_alpha_false_alarms():
    """50 seeds × 2 unbiased estimators, each verdict a family of 6 coordinates: false alarms ~ Binomial(100, ALPHA);
    more than 5 happens with probability < 1e-4 at ALPHA = 0.01."""
    frame = pd.concat([_measured_rows(ScoreFunction(), "score_function", range(50), 2000),
                       _measured_rows(Pathwise(), "pathwise", range(50), 2000)], ignore_index=True)
    per_seed = verdict.verdicts(frame, by=("estimator_label", "seed"))
    assert len(per_seed) == 100
    assert per_seed["bias_detected"].sum() <= 5
    assert sps.binom.sf(5, 100, verdict.ALPHA) < 1e-3


def test_real_estimator_with_a_planted_five_percent_bias_is_flagged():
    frame = pd.concat([_measured_rows(Scaled(Pathwise(), 1.05), "planted", [0], 400_000),
                       _measured_rows(Pathwise(), "pathwise", [0], 400_000)], ignore_index=True)
    table = schema.summary(frame).set_index("estimator")
    assert table.loc["planted", "bias_detected"] and table.loc["planted", "rel_bias_ub95"] >= 0.05
    assert not table.loc["pathwise", "bias_detected"]
    assert table.loc["pathwise", "rel_bias_ub95"] < 0.05  # the bound is tight enough to rule the planted bias out


def test_relative_bias_is_per_parameter_group_and_holds_where_a_coordinate_crosses_zero():
    """An unbiased estimator at a point where one coordinate's gradient is ~0: per coordinate, its noise over the
    floored scale read as a large relative bias; per group (‖bias‖ / ‖∇‖) it stays at the noise's size. A uniform
    5% bias reads 5% whatever the group's size."""
    grad, se = np.array([1e-7, 2.0, -1.5, 0.8]), np.full(4, 0.01)
    unbiased = verdict.verdicts(family(se * np.array([1.2, -0.4, 0.3, 0.9]), se, grad)).iloc[0]
    assert unbiased["rel_bias_ub95"] < 0.03, unbiased
    uniform = verdict.verdicts(family(0.05 * grad, np.zeros(4), grad, method="exact")).iloc[0]
    assert uniform["rel_bias"] == pytest.approx(0.05)


def test_no_bias_is_claimed_only_where_the_bound_rules_out_the_bias_that_matters():
    """An unbiased estimator whose noise dwarfs its gradient cannot have seen a 10% bias: its verdict reads
    "inconclusive", with the bound and the samples that would bring the bound below the threshold, not "no"."""
    grad = np.array([1.0, 2.0])
    loose = verdict.verdicts(family(0.3 * np.array([0.5, -1.0]), np.full(2, 0.3), grad)).iloc[0]
    tight = verdict.verdicts(family(1e-3 * np.array([0.5, -1.0]), np.full(2, 1e-3), grad)).iloc[0]
    assert not loose["bias_detected"] and not tight["bias_detected"]
    assert loose["rel_bias_ub95"] > verdict.CONCLUSIVE_BOUND > tight["rel_bias_ub95"]
    assert verdict.conclusion(loose) is verdict.Conclusion.INCONCLUSIVE
    assert verdict.conclusion(tight) is verdict.Conclusion.NONE_DETECTED
    words = verdict.describe(dict(loose, num_samples=10_000))
    need = verdict.samples_needed(10_000, loose["rel_bias_ub95"])
    assert words.startswith(f"inconclusive (bound {verdict.percent(loose['rel_bias_ub95'])}, p = ")
    assert f"n ≈ {verdict.readable_count(need)} for 10%" in words
    assert verdict.describe(tight).startswith("no bias detected (p = ")
    assert verdict.describe(tight).endswith(f", bound {verdict.percent(tight['rel_bias_ub95'])})")


def test_the_threshold_is_strict_and_stated():
    row = dict(bias_detected=False, method="mc", p_value=0.93, rel_bias_ub95=verdict.CONCLUSIVE_BOUND)
    assert verdict.conclusion(row) is verdict.Conclusion.INCONCLUSIVE
    assert verdict.conclusion(dict(row, rel_bias_ub95=np.nan)) is verdict.Conclusion.INCONCLUSIVE
    assert verdict.describe(dict(row, rel_bias_ub95=np.inf)) == "inconclusive (no finite bound, p = 0.93)"
    assert verdict.describe(dict(bias_detected=False, method="mc", p_value=0.41)) == "not detected (p = 0.41)"
    assert verdict.describe(dict(row, method="exact", rel_bias_ub95=1e-13)) == "no (exact)"  # exact keeps its words
    assert f"below {verdict.CONCLUSIVE_BOUND:.0%}" in verdict.RULE and "inconclusive" in verdict.RULE


@pytest.mark.parametrize("n, bound, expected, text", [
    (10_000, 1.27, 1_700_000, "1.7M"),   # 10⁴ · 12.7² = 1.61·10⁶, rounded up to two digits
    (20_000, 0.2, 80_000, "80k"),
    (1_000, 0.1, 1_000, "1000"),         # already conclusive at the threshold: no extra step up from float error
    (2_000, 0.13, 3_400, "3400"),
    (400_000, 7.45, 2_300_000_000, "2.3e9"),
])
def test_samples_needed_grow_as_the_square_of_the_bound(n, bound, expected, text):
    assert verdict.samples_needed(n, bound) == expected and verdict.readable_count(expected) == text


def test_samples_needed_without_a_bound_is_none():
    assert verdict.samples_needed(10_000, np.nan) is None and verdict.samples_needed(np.nan, 1.0) is None

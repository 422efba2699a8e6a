import jax
import numpy as np
import pytest
from scipy import stats as sps
from varbench.estimators import Pathwise, ScoreFunction

import varbench
from tests.helpers import Scaled
from varbench.battery import Status, check
from varbench.core.errors import VarbenchError
from varbench.testing import (
    assert_unbiased,
    bias_test,
    gradient_scale,
    holm_reject,
    parametrize_with_checks,
    required_samples,
)


@varbench.pytree_dataclass
class SumNotMean(Pathwise):
    """A planted defect: pathwise over K = 2 samples that drops the 1/K factor of the average (a 100% bias)."""

    name = "sum_not_mean"
    samples: int = varbench.option(2, "K cost-gradient evaluations per estimate, summed (the defect)", kind=int)

    def estimate_from_noise(self, problem, params, state, noise):
        mean = super().estimate_from_noise(problem, params, state, noise)
        return jax.tree_util.tree_map(lambda g: self.samples * g, mean)


def test_holm_step_down():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # Sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2 -> stop.
    np.testing.assert_array_equal(holm_reject(p, 0.05), [True, False, False, True])
    np.testing.assert_array_equal(holm_reject(np.array([0.2, 0.3]), 0.05), [False, False])
    np.testing.assert_array_equal(holm_reject(np.array([0.001, 0.02]), 0.05), [True, True])


def test_required_samples_formula():
    n = required_samples({"a": np.array([16.0])}, {"a": np.array([2.0])}, relative_bias=0.1, alpha=0.05, power=0.8)
    expected = (sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) ** 2 * 16.0 / 0.2 ** 2
    assert n == int(np.ceil(expected))


def test_gradient_scale_floors_small_coordinates():
    s = gradient_scale({"a": np.array([2.0, 0.0]), "b": np.array([-0.5])})
    np.testing.assert_allclose(s["a"], [2.0, 0.2])
    np.testing.assert_allclose(s["b"], [0.5])
    assert gradient_scale({"a": np.zeros(2)})["a"].tolist() == [1.0, 1.0]


def test_assert_unbiased_passes_an_unbiased_estimator_and_reports():
    out = assert_unbiased("gaussian:cost=cos,k=1,dim=2", "pathwise", relative_bias=0.05)
    assert out.passed and out.num_samples >= 1000
    for name, d in out.detectable_bias.items():
        # The design guarantees the requested resolution (with the pilot's 20% safety margin).
        assert np.all(d <= 0.05 * gradient_scale(out.result.grad_exact)[name] * 1.05)
    assert "pathwise" in out.describe()


@pytest.mark.statistical
@pytest.mark.parametrize("estimator, n", [(Pathwise(), 4000), (ScoreFunction(), 20000)])
def test_false_alarm_rate_stays_near_alpha(estimator, n):
    # 300 independent tests of unbiased estimators at family-wise level 0.05 over 4 coordinates (Holm).
    alpha, trials = 0.05, 300
    alarms = sum(not bias_test("gaussian:cost=square,dim=2", estimator, alpha=alpha, num_samples=n, seed=s).passed
                 for s in range(trials))
    # Two-sided 99.9% binomial acceptance region around alpha * trials = 15 (Holm is at most alpha).
    lo, hi = sps.binom.ppf(0.0005, trials, alpha), sps.binom.ppf(0.9995, trials, alpha)
    assert 0.3 * lo <= alarms <= hi, alarms


@pytest.mark.statistical
def test_catches_a_score_function_scaled_by_1_02():
    for seed in range(3):
        with pytest.raises(AssertionError, match="REJECTED"):
            assert_unbiased("gaussian:cost=square,k=0", Scaled(ScoreFunction(), 1.02), relative_bias=0.01,
                            seed=seed)


@pytest.mark.statistical
def test_power_at_the_designed_bias_is_at_least_the_requested_power():
    # A bias of exactly relative_bias x |gradient| must be caught with probability >= power (0.8 here).
    caught = [not bias_test("gaussian:cost=cos,k=1", Scaled(Pathwise(), 1.05), params={"mean": 0.5},
                            relative_bias=0.05, power=0.8, alpha=0.01, seed=s).passed for s in range(60)]
    rate = np.mean(caught)
    assert rate >= 0.65, rate  # 0.8 minus three binomial standard deviations at n=60


def test_bias_test_needs_an_exact_gradient_and_sane_levels():
    with pytest.raises(VarbenchError, match="0 < alpha < 1"):
        bias_test("gaussian", "pathwise", alpha=2.0)


def test_bias_test_seeds_leave_room_for_the_pilot_run():
    from varbench.engine.prng import MAX_SEED
    from varbench.unbiasedness import PILOT_SEED_OFFSET

    with pytest.raises(VarbenchError, match=f"seed must be at most {MAX_SEED - PILOT_SEED_OFFSET}: the pilot run"):
        bias_test("gaussian", "pathwise", seed=MAX_SEED - PILOT_SEED_OFFSET + 1)
    assert bias_test("gaussian", "pathwise", seed=MAX_SEED, num_samples=1000).num_samples == 1000  # no pilot


@parametrize_with_checks(["pathwise"], problems=["gaussian"])
def test_a_correct_estimator_passes_each_check(estimator, check):
    rows = check(estimator)
    assert rows and all(r.status is Status.PASS for r in rows), rows


@parametrize_with_checks([SumNotMean()], problems=["gaussian"],
                         expected_failures={"bias": "sums its K estimates instead of averaging them"})
def test_a_planted_defect_fails_the_bias_check_only(estimator, check):
    check(estimator)


def _params(mark):
    """The pytest.param values of a parametrize mark, by test id."""
    argnames, params = mark.args
    assert argnames == "estimator, check"
    return {p.id: p for p in params}


def test_one_test_per_estimator_problem_and_check_with_readable_ids():
    params = _params(parametrize_with_checks(["pathwise", "score_function:baseline=ema"],
                                             problems=["gaussian:cost=square", "bernoulli"]))
    assert list(params) == [
        "pathwise-gaussian:cost=square-runs", "pathwise-gaussian:cost=square-evaluations",
        "pathwise-gaussian:cost=square-bias", "pathwise-gaussian:cost=square-variance",
        # the stateful estimator gets the state check; pathwise does not apply to bernoulli (no test)
        *(f"score_function:baseline=ema-{problem}-{name}" for problem in ("gaussian:cost=square", "bernoulli")
          for name in ("runs", "evaluations", "bias", "variance", "state"))]
    assert all(not p.marks for p in params.values())


def test_a_failed_check_fails_with_the_rows_detail():
    params = _params(parametrize_with_checks([SumNotMean()], problems=["gaussian"]))
    estimator, bias = params["sum_not_mean-gaussian-bias"].values
    with pytest.raises(AssertionError, match=r"sum_not_mean-gaussian-bias failed:\n  gaussian · square cost \(generic point, seed 0\) · "
                                             r"unbiased: exact mode: relative bias 1 "):
        bias(estimator)
    estimator, evaluations = params["sum_not_mean-gaussian-evaluations"].values
    (row,) = evaluations(estimator)
    assert row.status is Status.PASS and row.detail == "declares 2, makes 2"


def test_expected_failures_mark_tests_xfail_strict_by_id_or_check_name():
    mark = parametrize_with_checks(["pathwise", "score_function"], problems=["gaussian"],
                                   expected_failures={"pathwise-gaussian-variance": "why", "runs": "all of them"})
    marks = {test_id: [(m.name, m.kwargs) for m in p.marks] for test_id, p in _params(mark).items()}
    assert marks["pathwise-gaussian-variance"] == [("xfail", {"strict": True, "reason": "why"})]
    assert marks["pathwise-gaussian-runs"] == marks["score_function-gaussian-runs"] == \
        [("xfail", {"strict": True, "reason": "all of them"})]
    assert marks["pathwise-gaussian-bias"] == marks["score_function-gaussian-variance"] == []
    with pytest.raises(VarbenchError, match="'bais' names no test and no check; valid: a check name"):
        parametrize_with_checks(["pathwise"], problems=["gaussian"], expected_failures={"bais": "a typo"})


def test_the_checks_one_by_one_give_the_battery_rows():
    params = _params(parametrize_with_checks(["score_function:baseline=ema"], problems=["gaussian"]))
    rows = [row for p in params.values() for row in p.values[1](p.values[0])]
    assert rows == check("score_function:baseline=ema", problems=["gaussian"], level="quick").rows

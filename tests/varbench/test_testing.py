import numpy as np
import pytest
from scipy import stats as sps
from varbench.estimators import Pathwise, ScoreFunction

from tests.helpers import Scaled
from varbench.core.errors import VarbenchError
from varbench.testing import (
    assert_unbiased,
    bias_test,
    gradient_scale,
    holm_reject,
    required_samples,
)


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

"""Exact variances of the estimators against hand derivations and the orderings they imply."""

import numpy as np
import pytest
from scipy import integrate

import varbench

AT = {"mean": 1.0, "log_scale": 0.0}


def _exact(estimator, problem="gaussian:cost=square,k=0", params=AT):
    return varbench.measure(problem, estimator, params=params, method="exact")


def test_leave_one_out_mean_baseline_reduces_score_function_variance():
    # Per cost evaluation: K=2 without a baseline averages two estimates (variance / 2).
    none = _exact("score_function:samples=2")
    loo = _exact("score_function:baseline=mean,samples=2")
    assert none.variance["mean"][0] == pytest.approx(15.0)
    assert loo.variance["mean"][0] < none.variance["mean"][0]
    assert loo.variance["log_scale"][0] < none.variance["log_scale"][0]


def test_pathwise_variance_for_the_linear_cost_is_zero_for_the_mean():
    res = _exact("pathwise", "gaussian:cost=linear,k=3")
    assert res.variance["mean"][0] == pytest.approx(0.0, abs=1e-20)
    # d/ds of k(mu + e^s eps) is k e^s eps: variance k^2.
    assert res.variance["log_scale"][0] == pytest.approx(9.0)


@pytest.mark.parametrize("k", [0.5, 1.0, 3.0])
def test_measure_valued_mean_variance_for_the_cos_cost(k):
    # (cos(k(mu+W)) - cos(k(mu-W))) / sqrt(2 pi) = -2 sin(k mu) sin(k W) / sqrt(2 pi), with W ~ Rayleigh.
    rayleigh = lambda w: w * np.exp(-w * w / 2)
    sin1 = integrate.quad(lambda w: rayleigh(w) * np.sin(k * w), 0, np.inf, epsabs=1e-14)[0]
    sin2 = integrate.quad(lambda w: rayleigh(w) * np.sin(k * w) ** 2, 0, np.inf, epsabs=1e-14)[0]
    mu = 1.0
    expected = 4 * np.sin(k * mu) ** 2 * (sin2 - sin1 ** 2) / (2 * np.pi)
    res = _exact("measure_valued", f"gaussian:cost=cos,k={k}")
    assert res.variance["mean"][0] == pytest.approx(expected, rel=1e-8)

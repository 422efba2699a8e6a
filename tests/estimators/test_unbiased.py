"""Every estimator × applicable problem passes the statistical unbiasedness test at several params."""

import pytest

import varbench
from tests.estimators.test_discrete_unbiased import ESTIMATORS as DISCRETE_ESTIMATORS
from varbench.catalog import estimator_names, resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError
from varbench.testing import assert_unbiased

PROBLEMS = ["gaussian:cost=linear,k=2", "gaussian:cost=square,k=1", "gaussian:cost=exp_square,k=1",
            "gaussian:cost=cos,k=2", "gaussian:cost=cos,k=0.5,dim=3"]
ESTIMATORS = ["score_function", "score_function:baseline=mean,samples=3", "score_function:baseline=optimal,samples=4",
              "actor_critic", "n_step", "gae",  # sequential-only: skipped here, tested in test_sequential.py
              "pathwise", "pathwise:samples=3", "measure_valued",
              # amortized-only estimators (not applicable to gaussian; tested in test_amortized_estimators)
              "stl", "dreg", "vimco", "nvil",
              # known-dynamics (lqr) only: tested in test_control_as_inference.py
              "model_pathwise"]
PARAMS = [{"mean": 1.0, "log_scale": 0.0}, {"mean": -0.4, "log_scale": -0.7}]


def test_every_registered_estimator_is_covered():
    covered = {spec.split(":")[0] for spec in ESTIMATORS + DISCRETE_ESTIMATORS}
    assert covered == set(estimator_names())


@pytest.mark.statistical
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("params", PARAMS, ids=["at-defaults", "elsewhere"])
def test_unbiased(problem, estimator, params):
    try:
        resolve_estimator(estimator).check_applies(resolve_problem(problem))
    except NotApplicableError:
        pytest.skip("not applicable")
    out = assert_unbiased(problem, estimator, params=params, relative_bias=0.05, power=0.9, alpha=1e-3,
                          max_samples=5_000_000)
    assert out.passed


@pytest.mark.parametrize("estimator, evaluations", [
    ("score_function", 1), ("score_function:baseline=mean,samples=5", 5), ("pathwise:samples=3", 3),
    ("measure_valued", 4 * 3),
])
def test_evaluations_per_estimate(estimator, evaluations):
    res = varbench.measure("gaussian:dim=3", estimator, num_samples=1000)
    assert res.evaluations_per_estimate == evaluations

"""Estimators that draw their own noise from a PRNG key (as optax's ``monte_carlo`` functions and most research code
do): measured by Monte Carlo, refused by exact mode with one line, checked by the battery's statistical tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.capabilities import LOCATION_SCALE, require


@varbench.pytree_dataclass
class KeyedScoreFunction(varbench.KeyedEstimator):
    """A user's score function for location-scale Gaussians, written like optax's ``score_function_jacobians``:
    it draws ``K`` normals from the key it is given and averages ``f(x) ∇θ log q(x)``."""

    name = "test_keyed_score_function"
    samples: int = varbench.option(2, "K draws per estimate", kind=int, minimum=1)

    def check_applies(self, problem):
        require(problem, LOCATION_SCALE, f"estimator {self.name!r}", "use a Gaussian")

    def evaluations_per_estimate(self, problem):
        return self.samples

    def estimate(self, problem, params, state, key):
        mean, scale = params["mean"], jnp.exp(params["log_scale"])
        x = jax.lax.stop_gradient(mean + scale * jax.random.normal(key, (self.samples,) + mean.shape, mean.dtype))
        costs = jax.vmap(lambda y: problem.cost(params, y))(x)
        scores = jax.vmap(jax.grad(problem.log_prob), in_axes=(None, 0))(params, x)
        return jax.tree_util.tree_map(lambda s: jnp.mean(s * costs.reshape((-1,) + (1,) * (s.ndim - 1)), 0),
                                      scores)


PROBLEM = "gaussian:cost=square,dim=2"
PARAMS = {"mean": [0.6, -0.4], "log_scale": [-0.3, 0.2]}


def test_monte_carlo_measures_it_unbiased_with_the_variance_of_the_built_in():
    mine = varbench.measure(PROBLEM, KeyedScoreFunction(samples=2), params=PARAMS, num_samples=200_000, seed=3)
    assert all(np.all(np.abs(z) < 5) for z in mine.bias_z.values())
    exact = varbench.measure(PROBLEM, "score_function:samples=2", params=PARAMS, method="exact")
    ratio = mine.total_variance / exact.total_variance
    assert 0.97 < ratio < 1.03, ratio


def test_exact_mode_refuses_it_in_one_line():
    with pytest.raises(varbench.NotApplicableError, match="draws its own noise from a PRNG key.*method=mc"):
        varbench.measure(PROBLEM, KeyedScoreFunction(), params=PARAMS, method="exact")


def test_the_battery_checks_it_by_sampling():
    report = varbench.check(KeyedScoreFunction(), problems=[PROBLEM], level="quick", params=PARAMS,
                            against=["score_function:samples=2"])
    assert report.passed, report.markdown()
    bias = next(r for r in report.rows if r.check == "unbiased")
    assert "exact" not in bias.detail


@varbench.pytree_dataclass
class AnalyticGradient(varbench.KeyedEstimator):
    """A user's zero-variance estimator: the closed-form gradient, computed in float32 (its only error is rounding),
    as optax's delta-method control variate is on a quadratic cost."""

    name = "test_analytic_gradient"

    def check_applies(self, problem):
        require(problem, LOCATION_SCALE, f"estimator {self.name!r}", "use a Gaussian")

    def evaluations_per_estimate(self, problem):
        return 1

    def estimate(self, problem, params, state, key):
        x = params["mean"] + jnp.exp(params["log_scale"]) * jax.random.normal(key, params["mean"].shape)
        # The cost is evaluated (and ignored beyond a zero weight) so that the evaluation count is honest.
        weight = 0.0 * problem.cost(params, jax.lax.stop_gradient(x))
        return jax.tree_util.tree_map(lambda g: g + weight, jax.grad(problem.objective_exact)(params))


def test_a_zero_variance_estimator_is_not_failed_for_float32_rounding():
    """Its estimates differ from the float64 gradient by float32 rounding only, with no spread to compare that
    with: the z-tests look for a bias beyond rounding (``unbiasedness.ROUNDING_RTOL``), not for rounding."""
    report = varbench.check(AnalyticGradient(), problems=[PROBLEM], level="quick", params=PARAMS, against=[])
    assert report.passed, report.markdown()
    outcome = varbench.unbiasedness.bias_test(PROBLEM, AnalyticGradient(), params=PARAMS, relative_bias=0.05)
    assert outcome.passed and max(float(np.max(np.abs(b))) for b in outcome.result.bias.values()) > 0
    # one rounding rule for the battery and the report (reports/ needs no JAX, so each module states it)
    from varbench.reports import verdict

    assert varbench.unbiasedness.ROUNDING_RTOL == verdict.ROUNDING_ULPS * verdict.FLOAT32_EPS

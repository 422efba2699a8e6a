"""Counting the cost evaluations of one estimate: the count depends on what the estimator does, never on the values
of the params it is counted at."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import varbench
from varbench.catalog import resolve_problem
from varbench.engine.params import prepare_params
from varbench.evaluations import count_evaluations


@varbench.pytree_dataclass
class TaylorControlledScore(varbench.Estimator):
    """A user's score-function estimator with the first-order Taylor control variate of Paisley, Blei & Jordan
    (2012), c(x) = f(m) + g·(x − m) at m = mean, g = ∇f(m): ``s(x)(f(x) − c(x)) + ∇θ E_q[c]``, where
    ``∇θ E_q[c] = g`` for the mean and 0 for the log-scale. Written the way research code writes it (optax's delta
    method): the expansion point is taken from the params on each traced path apart. Two evaluations."""

    name = "test_taylor_controlled_score"

    def evaluations_per_estimate(self, problem):
        return 2

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        x = jax.lax.stop_gradient(problem.latent(params, noise))
        f_x = problem.cost(params, x)
        f_mean = problem.cost(params, jax.lax.stop_gradient(params["mean"]))
        slope = jax.grad(lambda m: problem.cost(params, m))(jax.lax.stop_gradient(params["mean"]))
        control = f_mean + jnp.sum(slope * (x - params["mean"]))
        score = jax.grad(problem.log_prob)(params, x)
        terms = jax.tree_util.tree_map(lambda s: s * jax.lax.stop_gradient(f_x - control), score)
        return dict(terms, mean=terms["mean"] + slope)


@pytest.mark.parametrize("mean", [1.0, 0.7, 0.0, -2.0])
def test_an_expansion_point_with_integer_values_counts_like_any_other(mean):
    """A continuous draw whose values are integers (the mean at 1.0) is one evaluation, as at 0.7: the count of a
    continuous problem dedupes the same draw by its values, whatever they are."""
    problem = resolve_problem("gaussian:cost=square,dim=2")
    params = prepare_params(problem, {"mean": mean, "log_scale": 0.3})
    count = count_evaluations(problem, TaylorControlledScore(), params, (), jax.random.key(0))
    assert count == 2


def test_the_battery_passes_it_at_a_point_where_the_mean_is_an_integer():
    """The wrong verdict this replaces: "evaluations_per_estimate says 2 but one estimate evaluates the cost 3
    times" at mean = 1.0, and a pass at mean = 0.7."""
    report = varbench.check(TaylorControlledScore(), problems=["gaussian:cost=square,dim=2"], level="quick",
                            against=["score_function"])
    assert report.passed, report.markdown()


def test_discrete_draws_still_count_each_time():
    """On a problem with discrete latents, equal draws are different evaluations (values repeat by chance)."""
    problem = resolve_problem("bernoulli")
    params = prepare_params(problem, {})
    for spec, expected in (("score_function:samples=4", 4), ("disarm", 2)):
        estimator = varbench.catalog.resolve_estimator(spec)
        assert count_evaluations(problem, estimator, params, (), jax.random.key(1)) == expected

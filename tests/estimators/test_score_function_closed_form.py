"""Closed-form scores (capability ``closed_form_score``) and the score-function estimator's use of them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench.estimators.score_function as sf
from varbench import catalog
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.capabilities import CLOSED_FORM_SCORE, capabilities_of
from varbench.problems.gaussian import gaussian_with_cost


def _closed_form_problems():
    """One instance of every registered problem with a closed-form score, and a user-cost Gaussian."""
    found = [catalog.PROBLEMS[n]() for n in catalog.problem_names()
             if CLOSED_FORM_SCORE.satisfied_by_class(catalog.PROBLEMS[n])]
    return found + [resolve_problem("gaussian:dim=3"), gaussian_with_cost(lambda x: jnp.sum(jnp.sin(x)), dim=2)]


def _random_params(problem, rng):
    return {k: jnp.asarray(rng.normal(0.0, 1.5, np.shape(v)), jnp.float32) for k, v in problem.default_params().items()}


def test_gaussian_has_the_capability():
    assert "closed_form_score" in capabilities_of(catalog.PROBLEMS["gaussian"])
    assert not CLOSED_FORM_SCORE.satisfied_by(resolve_problem("bernoulli:dim=2"))


@pytest.mark.parametrize("problem", _closed_form_problems(), ids=lambda p: f"{p.name}-{p.dim}")
def test_closed_form_score_equals_autodiff_at_random_params(problem):
    # A property over random params and latents: the closed form is exactly the gradient of log_prob.
    rng = np.random.default_rng(7)
    closed, autodiff = jax.jit(problem.score), jax.jit(jax.grad(problem.log_prob))
    for _ in range(20):
        params = _random_params(problem, rng)
        x = jnp.asarray(rng.normal(0.0, 3.0, problem.dim), jnp.float32)
        want, got = autodiff(params, x), closed(params, x)
        assert set(got) == set(params)
        for name in params:
            assert got[name].shape == params[name].shape
            np.testing.assert_allclose(got[name], want[name], rtol=2e-5, atol=2e-5, err_msg=name)


def _autodiff_estimate(problem, estimator, params, noise):
    """The estimator as it was before closed forms: jax.grad of log_prob per sample, the cost differentiated."""
    xs, f = estimator.costs(problem, params, noise)
    scores = jax.vmap(jax.grad(problem.log_prob), in_axes=(None, 0))(params, xs)
    direct = jax.grad(lambda p: jnp.mean(jax.vmap(problem.cost, in_axes=(None, 0))(p, xs)))(params)
    return {k: jnp.mean(scores[k] * f[:, None], 0) + direct[k] for k in params}


def test_estimates_unchanged_for_fixed_noise():
    # The estimator's output on fixed draws is the autodiff one up to float32 rounding (max relative 1e-6 seen).
    problem = resolve_problem("gaussian:cost=cos,dim=4")
    estimator = resolve_estimator("score_function:samples=3")
    params = _random_params(problem, np.random.default_rng(3))
    noise = jax.random.normal(jax.random.key(11), (256, 3, 4))
    new = jax.jit(jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, (), n)))(noise)
    old = jax.jit(jax.vmap(lambda n: _autodiff_estimate(problem, estimator, params, n)))(noise)
    for k in params:
        np.testing.assert_allclose(new[k], old[k], rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(old[k]))))


def test_estimator_uses_the_closed_form_and_skips_the_direct_term(monkeypatch):
    problem = resolve_problem("gaussian:dim=2")
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    xs = jnp.ones((3, 2))
    calls = []
    original = type(problem).score
    monkeypatch.setattr(type(problem), "score", lambda self, p, x: calls.append(1) or original(self, p, x))
    jax.make_jaxpr(lambda p: sf.per_sample_scores(problem, p, xs))(params)
    assert calls, "the closed-form score was not used"
    # The cost does not depend on the params: the direct term is zeros, without tracing the cost's gradient.
    eqns = jax.make_jaxpr(lambda p: sf.direct_term(problem, p, xs))(params).jaxpr.eqns
    assert {e.primitive.name for e in eqns} <= {"broadcast_in_dim"}


def test_problem_without_closed_form_falls_back_to_autodiff():
    problem = resolve_problem("bernoulli:dim=3")
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    xs = jnp.asarray([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    got = sf.per_sample_scores(problem, params, xs)
    want = jax.vmap(jax.grad(problem.log_prob), in_axes=(None, 0))(params, xs)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)

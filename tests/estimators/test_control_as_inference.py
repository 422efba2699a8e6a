"""Control as inference and model-based gradients: unbiasedness on lqr and nile, model bias, TD-learned critics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.estimators.sequential import fit_critic
from varbench.estimators.td_critic import fit_td_critic

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.testing import assert_unbiased

LQR = "lqr:T=3"
NILE = "nile:T=4"
UNBIASED = ["score_function:returns=to_go,baseline=value", "actor_critic", "n_step:n=2", "gae:lambda=0.5",
            "pathwise", "model_pathwise:model_error=0"]


def _bias_norm(result):
    return float(np.linalg.norm(np.concatenate([np.ravel(b) for b in result.bias.values()])))


@pytest.mark.statistical
@pytest.mark.parametrize("estimator", UNBIASED)
def test_unbiased_estimators_pass_the_testing_kit_on_lqr(estimator):
    assert assert_unbiased(LQR, estimator, relative_bias=0.1, power=0.9, max_samples=400_000).passed


@pytest.mark.parametrize("estimator", UNBIASED[:5])
def test_estimators_are_exactly_unbiased_on_nile(estimator):
    """Exact mode (Gauss–Hermite over the 4 noise scalars, float64): the mean estimate is the exact gradient."""
    res = varbench.measure(NILE, estimator, method="exact")
    scale = max(float(np.max(np.abs(g))) for g in res.grad_exact.values())
    assert _bias_norm(res) < 1e-9 * scale


def test_model_pathwise_is_pathwise_at_zero_error_and_its_bias_grows_with_the_model_error():
    """Estimate for estimate equal to pathwise with the true model; then the measured bias norm (z-scores far
    beyond noise) increases with the relative error of the model's A and B."""
    exact = varbench.measure(LQR, "pathwise", num_samples=4096, seed=1)
    model = varbench.measure(LQR, "model_pathwise", num_samples=4096, seed=1)
    for k in exact.grad_mean:
        np.testing.assert_allclose(model.grad_mean[k], exact.grad_mean[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.variance[k], exact.variance[k], rtol=1e-4, atol=1e-8)
    norms = []
    for error in (0.05, 0.1, 0.2):
        res = varbench.measure(LQR, f"model_pathwise:model_error={error}", num_samples=20_000, seed=2)
        assert max(float(np.max(np.abs(z))) for z in res.bias_z.values()) > 8
        norms.append(_bias_norm(res))
    assert norms[0] < norms[1] < norms[2]
    assert not resolve_estimator("model_pathwise").unbiased


def test_fitted_model_converges_to_the_true_dynamics():
    problem = resolve_problem(LQR)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    a_true, b_true = problem.dynamics()
    errors = []
    for n in (6, 3000):
        estimator = resolve_estimator(f"model_pathwise:model=fitted,fit_transitions={n}")
        state = jax.jit(estimator.init)(problem, params, jax.random.PRNGKey(0))
        errors.append(np.linalg.norm(np.asarray(state["A"]) - a_true) + np.linalg.norm(np.asarray(state["B"]) - b_true))
    assert errors[1] < 0.02 < errors[0]


def test_model_pathwise_refuses_problems_without_known_dynamics():
    with pytest.raises(NotApplicableError, match="known linear dynamics; 'lgssm' is not \\(problems that are: lqr"):
        varbench.measure("lgssm", "model_pathwise", num_samples=10)
    with pytest.raises(VarbenchError, match="fit_transitions >= state_dim \\+ action_dim = 3"):
        varbench.measure(LQR, "model_pathwise:model=fitted,fit_transitions=2", num_samples=10)


def test_td_critic_at_lambda_one_is_the_monte_carlo_critic_and_converges_at_lambda_zero():
    problem = resolve_problem(LQR)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    key = jax.random.PRNGKey(4)
    fit_mc, fit_td = jax.jit(fit_critic, static_argnums=3), jax.jit(fit_td_critic, static_argnums=3)
    mc, td1 = fit_mc(problem, params, key, 4000), fit_td(problem, params, key, 4000, 1.0)
    for k in mc:
        np.testing.assert_allclose(td1[k], mc[k], rtol=1e-4, atol=1e-4)
    # TD(0) with features in which V and Q are exact: the fitted critic approaches the oracle.
    td0 = fit_td(problem, params, key, 4000, 0.0)
    z = problem.latent(params, {"state": jnp.zeros((4, 2)).at[0].set(1.0), "action": jnp.full((3, 1), 0.5)})
    v_hat = jnp.einsum("tf,tf->t", problem.value_features(z), td0["v"])
    q_hat = jnp.einsum("tf,tf->t", problem.action_features(z), td0["q"])
    np.testing.assert_allclose(v_hat, problem.value(params, z)[:-1], rtol=0.05)
    np.testing.assert_allclose(q_hat, problem.action_value(params, z), rtol=0.05)
    with pytest.raises(VarbenchError, match="'td_lambda' of estimator 'gae' must be in \\[0, 1\\]"):
        resolve_estimator("gae:critic=td,td_lambda=1.5")


def test_td_critic_bias_is_measured_against_the_oracle():
    """Exact mode on hmm (enumeration; the oracle critic's exactness is tested in test_sequential.py): TD(0) and
    the Monte Carlo critic both bias actor-critic, by different amounts."""
    biases = {c: _bias_norm(varbench.measure("hmm:T=3", f"actor_critic:critic={c}", method="exact"))
              for c in ("learned", "td")}
    assert biases["td"] > 1e-3 and biases["learned"] > 1e-3
    assert abs(biases["td"] - biases["learned"]) > 1e-3

"""nile: the bundled series, and the exact ELBO, gradient and evidence against dense Gaussian computations in the
original (uncentred) coordinates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps
from varbench.problems import Nile
from varbench.problems.nile import NILE_FLOW

from tests.helpers import assert_matches_central_differences
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError

PROBLEM = Nile(T=6, start=40, init_mean=9.0, init_var=3.0)
PARAMS = {"weights": np.array([0.6, 0.3, 0.05]), "bias": np.array([0.2]), "log_scale": np.array([-0.5])}


def _p64(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def dense_prior(problem):
    T = problem.T
    inv = np.linalg.inv(np.eye(T) - np.eye(T, k=-1))
    return np.full(T, problem.init_mean), inv @ np.diag([problem.init_var] + [problem.process_var] * (T - 1)) @ inv.T


def dense_elbo(problem, params):
    """E_q[log p(z) + log p(x | z)] + H(q) with q's mean and covariance from the network, uncentred."""
    x, T = problem.observations(), problem.T
    a, b, c = params["weights"]
    beta = b * x + c * np.concatenate([[x[0]], x[:-1]]) + params["bias"][0]
    beta[0] += a * x[0]  # z_0 := x_1
    inv = np.linalg.inv(np.eye(T) - a * np.eye(T, k=-1))
    mean, cov = inv @ beta, np.exp(2 * params["log_scale"][0]) * inv @ inv.T
    prior_mean, prior_cov = dense_prior(problem)
    prec = np.linalg.inv(prior_cov)
    e_prior = -0.5 * (T * np.log(2 * np.pi) + np.linalg.slogdet(prior_cov)[1] + np.trace(prec @ cov)
                      + (mean - prior_mean) @ prec @ (mean - prior_mean))
    e_lik = -0.5 * (T * np.log(2 * np.pi * problem.obs_var) + (np.sum((x - mean) ** 2) + np.trace(cov)) / problem.obs_var)
    return e_prior + e_lik + 0.5 * (T * np.log(2 * np.pi * np.e) + np.linalg.slogdet(cov)[1])


def test_bundled_series_is_the_nile_flow_1871_to_1970():
    assert len(NILE_FLOW) == 100 and sum(NILE_FLOW) == 91935
    assert (NILE_FLOW[0], NILE_FLOW[42], NILE_FLOW[-1]) == (1120, 456, 740)  # 1913 is the famous low year
    np.testing.assert_allclose(resolve_problem("nile:T=3,start=97").observations(), [7.18, 7.14, 7.40])


def test_evidence_is_the_dense_gaussian_marginal():
    mean, cov = dense_prior(PROBLEM)
    dense = sps.multivariate_normal(mean, cov + PROBLEM.obs_var * np.eye(PROBLEM.T)).logpdf(PROBLEM.observations())
    with jax.enable_x64(True):
        assert float(PROBLEM.log_evidence()) == pytest.approx(dense, rel=1e-12)


def test_exact_elbo_and_gradient_match_dense_computation_and_finite_differences():
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        elbo = float(PROBLEM.objective_exact(p))
        assert elbo == pytest.approx(dense_elbo(PROBLEM, PARAMS), rel=1e-12)
        assert elbo < float(PROBLEM.log_evidence())
        grad = jax.jit(jax.grad(PROBLEM.objective_exact))(p)
    assert_matches_central_differences(grad, lambda p: dense_elbo(PROBLEM, p), PARAMS, abs=1e-6)


def test_sampled_return_is_unbiased_for_the_elbo_and_values_start_at_it():
    n = 100_000
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        z = jax.vmap(PROBLEM.latent, in_axes=(None, 0))(p, jnp.asarray(np.random.default_rng(0).standard_normal((n, 6))))
        returns = np.asarray(jax.vmap(PROBLEM.cost, in_axes=(None, 0))(p, z))
        exact = float(PROBLEM.objective_exact(p))
        assert abs(returns.mean() - exact) < 4.5 * returns.std() / np.sqrt(n)
        # V_1 does not depend on the (dummy) state before step 1, so it is the ELBO itself.
        assert float(PROBLEM.value(p, z[0])[0]) == pytest.approx(exact, rel=1e-10)


def test_window_is_validated():
    with pytest.raises(VarbenchError, match="start \\+ T must be <= 100"):
        resolve_problem("nile:T=20,start=90")
    assert resolve_problem("nile").sequential and resolve_problem("nile").reparameterizable

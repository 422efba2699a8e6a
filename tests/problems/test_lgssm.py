"""lgssm: closed-form ELBO, Kalman evidence and oracle values against independent dense/quadrature derivations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps
from varbench.problems import LGSSM

from tests.helpers import assert_matches_central_differences
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError

PROBLEM = LGSSM(T=4, transition=0.8, process_var=0.7, init_var=1.3, obs_var=0.4)
PARAMS = {"alpha": np.array([0.3, -0.2, 0.6]), "beta": np.array([0.1, -0.4, 0.5, 0.2]),
          "log_scale": np.array([-0.3, 0.2, -0.1, 0.1])}


def _p64(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def dense_prior_covariance(problem):
    """Cov of z under the prior, from z = L⁻¹ w with L unit lower-bidiagonal (−transition below)."""
    T = problem.T
    lower = np.eye(T) - problem.transition * np.eye(T, k=-1)
    noise_var = np.array([problem.init_var] + [problem.process_var] * (T - 1))
    inv = np.linalg.inv(lower)
    return inv @ np.diag(noise_var) @ inv.T


def dense_q_moments(problem, params):
    T = problem.T
    alpha = np.concatenate([[0.0], params["alpha"]])
    inv = np.linalg.inv(np.eye(T) - np.diag(alpha[1:], -1))
    s2 = np.exp(2 * np.asarray(params["log_scale"]))
    return inv @ params["beta"], inv @ np.diag(s2) @ inv.T


def dense_elbo(problem, params):
    """E_q[log N(z; 0, Σ_prior) + log N(y; z, R I)] + H(q), with dense Gaussian identities."""
    m, c = dense_q_moments(problem, params)
    y = problem.observations()
    prior = dense_prior_covariance(problem)
    prec = np.linalg.inv(prior)
    T = problem.T
    e_prior = -0.5 * (T * np.log(2 * np.pi) + np.linalg.slogdet(prior)[1] + np.trace(prec @ c) + m @ prec @ m)
    e_lik = -0.5 * (T * np.log(2 * np.pi * problem.obs_var) + (np.sum((y - m) ** 2) + np.trace(c)) / problem.obs_var)
    entropy = 0.5 * (T * np.log(2 * np.pi * np.e) + np.linalg.slogdet(c)[1])
    return e_prior + e_lik + entropy


def exact_posterior_params(problem):
    """The structured-q parameters of the exact posterior: its Markov conditionals from the dense Gaussian."""
    y = problem.observations()
    precision = np.linalg.inv(dense_prior_covariance(problem)) + np.eye(problem.T) / problem.obs_var
    cov = np.linalg.inv(precision)
    mean = cov @ y / problem.obs_var
    alpha = np.array([cov[t, t - 1] / cov[t - 1, t - 1] for t in range(1, problem.T)])
    beta = mean - np.concatenate([[0.0], alpha * mean[:-1]])
    var = np.diag(cov) - np.concatenate([[0.0], alpha * np.array([cov[t, t - 1] for t in range(1, problem.T)])])
    return {"alpha": alpha, "beta": beta, "log_scale": 0.5 * np.log(var)}


def test_closed_form_elbo_matches_dense_gaussian_computation():
    with jax.enable_x64(True):
        assert float(PROBLEM.objective_exact(_p64(PARAMS))) == pytest.approx(dense_elbo(PROBLEM, PARAMS), rel=1e-12)


def test_kalman_evidence_matches_dense_marginal():
    y = PROBLEM.observations()
    dense = sps.multivariate_normal(np.zeros(PROBLEM.T), dense_prior_covariance(PROBLEM)
                                    + PROBLEM.obs_var * np.eye(PROBLEM.T)).logpdf(y)
    with jax.enable_x64(True):
        assert float(PROBLEM.log_evidence()) == pytest.approx(dense, rel=1e-12)


def test_exact_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        grad = jax.grad(PROBLEM.objective_exact)(_p64(PARAMS))
        assert_matches_central_differences(grad, lambda p: dense_elbo(PROBLEM, p), PARAMS)


def test_at_the_exact_posterior_elbo_is_log_evidence_and_gradient_vanishes():
    posterior = exact_posterior_params(PROBLEM)
    with jax.enable_x64(True):
        p = _p64(posterior)
        assert float(PROBLEM.objective_exact(p)) == pytest.approx(float(PROBLEM.log_evidence()), rel=1e-12)
        grad = jax.grad(PROBLEM.objective_exact)(p)
        assert max(float(jnp.max(jnp.abs(g))) for g in grad.values()) < 1e-10
        # Elsewhere the KL gap is positive.
        assert float(PROBLEM.objective_exact(_p64(PARAMS))) < float(PROBLEM.log_evidence()) - 0.1


def test_oracle_values_match_quadrature_of_the_cost_to_go():
    """V_t(z_{t−1}) and Q_t by tensor Gauss–Hermite over the remaining steps, using only the rewards."""
    T = PROBLEM.T
    nodes, weights = np.polynomial.hermite_e.hermegauss(6)
    weights = weights / weights.sum()
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        eps = np.array([0.7, -1.1, 0.4, 1.5])
        z = PROBLEM.latent(p, jnp.asarray(eps))
        values = np.asarray(PROBLEM.value(p, z))
        q_values = np.asarray(PROBLEM.action_value(p, z))
        assert values.shape == (T + 1,) and values[-1] == 0.0
        for t in range(T):  # 0-based step t: V has z_{0..t-1} fixed, Q has z_{0..t} fixed
            for fixed, oracle in ((t, values[t]), (t + 1, q_values[t])):
                free = T - fixed
                rows = len(nodes) ** free
                grid = np.array(list(itertools.product(nodes, repeat=free))).reshape(rows, free)
                w = np.prod(np.array(list(itertools.product(weights, repeat=free))).reshape(rows, free), axis=1)
                noise = np.concatenate([np.broadcast_to(eps[:fixed], (len(grid), fixed)), grid], axis=1)
                zs = jax.vmap(PROBLEM.latent, in_axes=(None, 0))(p, jnp.asarray(noise))
                r = np.asarray(jax.vmap(PROBLEM.rewards, in_axes=(None, 0))(p, zs))
                expected = np.sum(w * np.sum(r[:, t:], axis=1))
                assert oracle == pytest.approx(expected, rel=1e-10, abs=1e-10), (t, fixed)
        assert values[0] == pytest.approx(float(PROBLEM.objective_exact(p)), rel=1e-12)


def test_default_observations_are_fixed_and_options_validated():
    a, b = resolve_problem("lgssm").observations(), resolve_problem("lgssm").observations()
    assert a.shape == (5,) and np.array_equal(a, b)
    assert np.array_equal(resolve_problem("lgssm:T=3,y=[1,2,3]").observations(), [1.0, 2.0, 3.0])
    with pytest.raises(VarbenchError, match="length T=3"):
        resolve_problem("lgssm:T=3,y=[1,2]")
    assert resolve_problem("lgssm").sequential and resolve_problem("lgssm").reparameterizable

"""hmm: exact ELBO, evidence, oracle values and the Markov-chain noise block against brute-force enumeration."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from varbench.problems import HMM
from varbench.problems.hmm import MarkovChainPath

from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError

PROBLEM = HMM(K=3, T=3, stay=0.7, emission_scale=0.8)
RNG = np.random.default_rng(3)
PARAMS = {"init_logits": RNG.normal(size=3), "transition_logits": RNG.normal(size=(2, 3, 3))}


def _p64(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def brute_force(problem, params):
    """(paths, q(path), log p(y, path)) for every path, in plain NumPy loops."""
    y, means, prior = problem.observations(), problem.emission_means(), problem.prior_transition()
    log_init = params["init_logits"] - logsumexp(params["init_logits"])
    log_trans = params["transition_logits"] - logsumexp(params["transition_logits"], axis=-1, keepdims=True)
    paths, q, joint = [], [], []
    for path in itertools.product(range(problem.K), repeat=problem.T):
        lq, lp = log_init[path[0]], -np.log(problem.K)
        for t in range(1, problem.T):
            lq += log_trans[t - 1, path[t - 1], path[t]]
            lp += np.log(prior[path[t - 1], path[t]])
        for t in range(problem.T):
            lp += -0.5 * np.log(2 * np.pi * problem.emission_scale ** 2) - 0.5 * (
                (y[t] - means[path[t]]) / problem.emission_scale) ** 2
        paths.append(path); q.append(np.exp(lq)); joint.append(lp)
    return np.array(paths), np.array(q), np.array(joint)


def elbo_by_enumeration(problem, params):
    _, q, joint = brute_force(problem, params)
    return float(np.sum(q * (joint - np.log(q))))


def test_exact_elbo_and_evidence_match_enumeration():
    _, _, joint = brute_force(PROBLEM, PARAMS)
    with jax.enable_x64(True):
        assert float(PROBLEM.objective_exact(_p64(PARAMS))) == pytest.approx(elbo_by_enumeration(PROBLEM, PARAMS),
                                                                            rel=1e-12)
        assert float(PROBLEM.log_evidence()) == pytest.approx(logsumexp(joint), rel=1e-12)
        q = brute_force(PROBLEM, PARAMS)[1]
        assert float(PROBLEM.entropy(_p64(PARAMS))) == pytest.approx(-np.sum(q * np.log(q)), rel=1e-12)


def test_exact_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        grad = jax.grad(PROBLEM.objective_exact)(_p64(PARAMS))
    h = 1e-6
    for name, value in PARAMS.items():
        for idx in np.ndindex(value.shape):
            up, down = dict(PARAMS), dict(PARAMS)
            up[name] = value.copy(); up[name][idx] += h
            down[name] = value.copy(); down[name][idx] -= h
            fd = (elbo_by_enumeration(PROBLEM, up) - elbo_by_enumeration(PROBLEM, down)) / (2 * h)
            assert float(grad[name][idx]) == pytest.approx(fd, rel=1e-6, abs=1e-8), (name, idx)


def exact_posterior_params(problem):
    """Logits of the posterior's Markov conditionals p(z_t | z_{t−1}, y), from the enumerated joint."""
    paths, _, joint = brute_force(problem, {"init_logits": np.zeros(problem.K),
                                            "transition_logits": np.zeros((problem.T - 1, problem.K, problem.K))})
    post = np.exp(joint - logsumexp(joint))
    init = np.array([post[paths[:, 0] == k].sum() for k in range(problem.K)])
    trans = np.zeros((problem.T - 1, problem.K, problem.K))
    for t in range(1, problem.T):
        for i in range(problem.K):
            for j in range(problem.K):
                trans[t - 1, i, j] = post[(paths[:, t - 1] == i) & (paths[:, t] == j)].sum()
    return {"init_logits": np.log(init), "transition_logits": np.log(trans / trans.sum(-1, keepdims=True))}


def test_at_the_exact_posterior_elbo_is_log_evidence_and_gradient_vanishes():
    with jax.enable_x64(True):
        p = _p64(exact_posterior_params(PROBLEM))
        assert float(PROBLEM.objective_exact(p)) == pytest.approx(float(PROBLEM.log_evidence()), rel=1e-12)
        grad = jax.grad(PROBLEM.objective_exact)(p)
        assert max(float(jnp.max(jnp.abs(g))) for g in grad.values()) < 1e-10
        assert float(PROBLEM.objective_exact(_p64(PARAMS))) < float(PROBLEM.log_evidence()) - 0.1


def test_oracle_values_are_conditional_expectations_of_the_cost_to_go():
    paths, q, joint = brute_force(PROBLEM, PARAMS)
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        onehots = jnp.asarray(np.eye(PROBLEM.K)[paths])
        rewards = np.asarray(jax.vmap(PROBLEM.rewards, in_axes=(None, 0))(p, onehots))
        to_go = np.cumsum(rewards[:, ::-1], axis=1)[:, ::-1]
        for n, path in enumerate(paths):
            values = np.asarray(PROBLEM.value(p, onehots[n]))
            q_values = np.asarray(PROBLEM.action_value(p, onehots[n]))
            for t in range(PROBLEM.T):
                same_v = np.all(paths[:, :t] == path[:t], axis=1)
                same_q = np.all(paths[:, :t + 1] == path[:t + 1], axis=1)
                expected_v = np.sum(q[same_v] * to_go[same_v, t]) / np.sum(q[same_v])
                expected_q = np.sum(q[same_q] * to_go[same_q, t]) / np.sum(q[same_q])
                assert values[t] == pytest.approx(expected_v, rel=1e-10), (path, t)
                assert q_values[t] == pytest.approx(expected_q, rel=1e-10), (path, t)
            assert values[-1] == 0.0


def test_markov_chain_path_enumeration_and_sampling_agree():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2, 2)), jnp.float32)
    block = MarkovChainPath(logits)
    values, weights = block.enumerate()
    assert values.shape == (8, 3, 2) and weights.sum() == pytest.approx(1.0, abs=1e-12)
    draws = jax.vmap(lambda k: block.sample(k))(jax.random.split(jax.random.key(0), 40_000))
    index = np.asarray(jnp.argmax(draws, -1))
    codes = index @ (2 ** np.arange(3)[::-1])
    freq = np.bincount(codes, minlength=8) / len(codes)
    enum_codes = np.argmax(values, -1) @ (2 ** np.arange(3)[::-1])
    expected = np.zeros(8); expected[enum_codes] = weights
    se = np.sqrt(expected * (1 - expected) / len(codes))
    assert np.all(np.abs(freq - expected) < 5 * se + 1e-12)


def test_options_are_validated():
    with pytest.raises(VarbenchError, match="length K=3"):
        resolve_problem("hmm:means=[0,1]")
    with pytest.raises(VarbenchError, match="in \\(0, 1\\)"):
        resolve_problem("hmm:stay=1")
    assert np.array_equal(resolve_problem("hmm").observations(), resolve_problem("hmm").observations())

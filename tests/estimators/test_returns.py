"""Returns and advantages of one trajectory against direct (loop) formulas and the λ/n identities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.estimators.returns import (
    lambda_returns,
    n_step_bootstrapped_returns,
    truncated_generalized_advantage_estimation,
)

RNG = np.random.default_rng(7)
T = 6
R = RNG.normal(size=T)
DISCOUNT = RNG.uniform(0.5, 1.0, size=T)
V_AFTER = RNG.normal(size=T)                              # value of the state after step t
VALUES = np.concatenate([RNG.normal(size=1), V_AFTER])    # before each step, then the final state


def direct_lambda_return(t, lam):
    # G_t = r_t + γ_t ((1−λ) v_t + λ G_{t+1}), G_{T} = v_{T-1} (0-based), written as an explicit sum.
    total, scale = 0.0, 1.0
    for u in range(t, T):
        total += scale * R[u]
        scale *= DISCOUNT[u]
        last = u == T - 1
        total += scale * ((1 - lam) * V_AFTER[u] if not last else V_AFTER[u])
        scale *= lam
    return total


def direct_n_step(t, n):
    total, scale = 0.0, 1.0
    for u in range(t, min(t + n, T)):
        total += scale * R[u]
        scale *= DISCOUNT[u]
    return total + scale * V_AFTER[min(t + n, T) - 1]


def direct_gae(t, lam):
    deltas = R + DISCOUNT * VALUES[1:] - VALUES[:-1]
    total, scale = 0.0, 1.0
    for u in range(t, T):
        total += scale * deltas[u]
        scale *= DISCOUNT[u] * lam
    return total


def _f64(*xs):
    return [jnp.asarray(x, jnp.float64) for x in xs]


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_lambda_returns_match_direct_formula(lam):
    with jax.enable_x64(True):
        got = lambda_returns(*_f64(R, DISCOUNT, V_AFTER), lam)
    np.testing.assert_allclose(got, [direct_lambda_return(t, lam) for t in range(T)], rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 4, 6, 9])
def test_n_step_returns_match_direct_formula(n):
    with jax.enable_x64(True):
        got = n_step_bootstrapped_returns(*_f64(R, DISCOUNT, V_AFTER), n)
    np.testing.assert_allclose(got, [direct_n_step(t, n) for t in range(T)], rtol=1e-12)


def test_n_step_returns_with_a_traced_n_compile_once():
    # n is a value, not structure: one compiled function serves every n (n >= T is the truncated return).
    with jax.enable_x64(True):
        returns = jax.jit(n_step_bootstrapped_returns)
        for n in (1, 3, 6, 9):
            got = returns(*_f64(R, DISCOUNT, V_AFTER), jnp.asarray(n))
            np.testing.assert_allclose(got, [direct_n_step(t, n) for t in range(T)], rtol=1e-12)
        assert returns._cache_size() == 1


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_gae_matches_direct_formula(lam):
    with jax.enable_x64(True):
        got = truncated_generalized_advantage_estimation(*_f64(R, DISCOUNT), lam, *_f64(VALUES))
    np.testing.assert_allclose(got, [direct_gae(t, lam) for t in range(T)], rtol=1e-12, atol=1e-12)


def test_identities_lambda_one_is_value_baseline_lambda_zero_is_td_and_long_n_is_monte_carlo():
    ones = np.ones(T)
    values = VALUES.copy(); values[-1] = 0.0  # the final state has value 0 (episode ends)
    with jax.enable_x64(True):
        r, o, v = _f64(R, ones, values)
        to_go = lambda_returns(r, o, jnp.zeros_like(r), 1.0)
        np.testing.assert_allclose(to_go, np.cumsum(R[::-1])[::-1], rtol=1e-12)
        gae1 = truncated_generalized_advantage_estimation(r, o, 1.0, v)
        np.testing.assert_allclose(gae1, to_go - v[:-1], rtol=1e-12, atol=1e-12)
        gae0 = truncated_generalized_advantage_estimation(r, o, 0.0, v)
        np.testing.assert_allclose(gae0, R + values[1:] - values[:-1], rtol=1e-12, atol=1e-12)
        one_step = n_step_bootstrapped_returns(r, o, v[1:], 1) - v[:-1]
        np.testing.assert_allclose(one_step, gae0, rtol=1e-12, atol=1e-12)
        full = n_step_bootstrapped_returns(r, o, v[1:], T) - v[:-1]
        np.testing.assert_allclose(full, gae1, rtol=1e-12, atol=1e-12)


def test_rank_is_checked():
    with pytest.raises(ValueError, match="rank-1"):
        lambda_returns(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.zeros((2, 3)))

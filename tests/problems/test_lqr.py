"""lqr: exact objective, gradient, oracle values and the soft Riccati optimum against independent derivations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.problems import LQR

from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError

PROBLEM = LQR(T=3, A=[0.9, 0.2, -0.1, 0.8], B=[0.3, 0.1, 0.5, -0.2], action_dim=2, q=0.7, r=0.4, q_final=1.5,
              process_var=0.05, init_mean=[0.5, -1.0], init_var=0.2)
RNG = np.random.default_rng(3)
PARAMS = {k: 0.3 * RNG.standard_normal(s) for k, s in PROBLEM.param_shapes().items()}


def _p64(params):
    return {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}


def dense_objective(problem, params):
    """Every s_t and a_t as an explicit affine map of the stacked standard noise, then Gaussian expectations."""
    n, m, T = problem.state_dim, problem.action_dim, problem.T
    a_mat, b_mat = np.reshape(problem.A, (n, n)), np.reshape(problem.B, (n, m))
    dim = (T + 1) * n + T * m
    col = 0

    def fresh(k, scale):
        nonlocal col
        lin = np.zeros((k, dim)); lin[:, col:col + k] = np.diag(scale); col += k
        return lin

    s_const, s_lin = np.asarray(problem.init_mean, float), fresh(n, np.full(n, np.sqrt(problem.init_var)))
    expected_cost = 0.0
    for t in range(T):
        gain, offset, std = params["gain"][t], params["offset"][t], np.exp(params["log_std"][t])
        a_const, a_lin = gain @ s_const + offset, gain @ s_lin + fresh(m, std)
        expected_cost += problem.q * (s_const @ s_const + np.sum(s_lin ** 2))
        expected_cost += problem.r * (a_const @ a_const + np.sum(a_lin ** 2))
        s_const = a_mat @ s_const + b_mat @ a_const
        s_lin = a_mat @ s_lin + b_mat @ a_lin + fresh(n, np.full(n, np.sqrt(problem.process_var)))
    expected_cost += problem.q_final * (s_const @ s_const + np.sum(s_lin ** 2))
    entropy = np.sum(params["log_std"]) + T * m * 0.5 * np.log(2 * np.pi * np.e)
    return -expected_cost + entropy


def test_exact_objective_and_gradient_match_the_dense_derivation_and_finite_differences():
    with jax.enable_x64(True):
        assert float(PROBLEM.objective_exact(_p64(PARAMS))) == pytest.approx(dense_objective(PROBLEM, PARAMS),
                                                                             rel=1e-12)
        grad = jax.jit(jax.grad(PROBLEM.objective_exact))(_p64(PARAMS))
    h = 1e-6
    for name, value in PARAMS.items():
        for i in np.ndindex(value.shape):
            up, down = dict(PARAMS), dict(PARAMS)
            up[name] = value.copy(); up[name][i] += h
            down[name] = value.copy(); down[name][i] -= h
            fd = (dense_objective(PROBLEM, up) - dense_objective(PROBLEM, down)) / (2 * h)
            assert float(grad[name][i]) == pytest.approx(fd, rel=1e-6, abs=1e-7), (name, i)


def test_brute_force_monte_carlo_agrees_with_the_exact_objective():
    """Mean of the sampled return (Σ_t r_t along simulated trajectories) within 4.5 standard errors."""
    n = 200_000
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        spec = PROBLEM.latent_noise(p)
        noise = {k: jnp.asarray(RNG.standard_normal((n,) + v.shape)) for k, v in spec.items()}
        z = jax.vmap(PROBLEM.latent, in_axes=(None, 0))(p, noise)
        returns = np.asarray(jax.vmap(PROBLEM.cost, in_axes=(None, 0))(p, z))
        exact = float(PROBLEM.objective_exact(p))
    assert abs(returns.mean() - exact) < 4.5 * returns.std() / np.sqrt(n)


def test_oracle_values_satisfy_the_bellman_equations_by_quadrature():
    """V_t(s) = E_{a,w}[ρ_t(s, a) + V_{t+1}(A s + B a + w)] and Q_t(s, a) = ρ_t + E_w[V_{t+1}], by Gauss–Hermite.

    ρ_t is the reward of step t computed from the rewards of a 1-step trajectory; the quadratics are integrated
    exactly by 3 nodes per noise coordinate. With the terminal condition this determines V and Q uniquely.
    """
    n, m, T = PROBLEM.state_dim, PROBLEM.action_dim, PROBLEM.T
    nodes, weights = np.polynomial.hermite_e.hermegauss(3)
    weights = weights / weights.sum()
    grid = np.stack(np.meshgrid(*[nodes] * (n + m), indexing="ij"), -1).reshape(-1, n + m)
    w = np.prod(np.stack(np.meshgrid(*[weights] * (n + m), indexing="ij"), -1).reshape(-1, n + m), axis=1)
    a_mat, b_mat = PROBLEM.dynamics()
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        z = PROBLEM.latent(p, {"state": jnp.asarray(RNG.standard_normal((T + 1, n))),
                               "action": jnp.asarray(RNG.standard_normal((T, m)))})
        values, q_values = np.asarray(PROBLEM.value(p, z)), np.asarray(PROBLEM.action_value(p, z))
        assert values.shape == (T + 1,) and values[-1] == 0.0
        P, pv, c = (np.asarray(x) for x in PROBLEM.value_coefficients(p))
        states, actions = np.asarray(z[:, :n]), np.asarray(z[:-1, n:])

        def v_next(t, s):  # the value of s_{t+1} = s (the terminal reward at t + 1 = T)
            return np.einsum("in,nk,ik->i", s, P[t + 1], s) + s @ pv[t + 1] + c[t + 1]

        for t in range(T):
            s = states[t]
            gain, offset, std = PARAMS["gain"][t], PARAMS["offset"][t], np.exp(PARAMS["log_std"][t])
            acts = gain @ s + offset + std * grid[:, n:]
            log_pi = np.sum(-0.5 * grid[:, n:] ** 2 - PARAMS["log_std"][t] - 0.5 * np.log(2 * np.pi), 1)
            rho = -(PROBLEM.q * s @ s + PROBLEM.r * np.sum(acts ** 2, 1)) - log_pi
            nxt = s @ a_mat.T + acts @ b_mat.T + np.sqrt(PROBLEM.process_var) * grid[:, :n]
            assert values[t] == pytest.approx(np.sum(w * (rho + v_next(t, nxt))), rel=1e-10), t
            a = actions[t]
            log_pi_a = np.sum(-0.5 * ((a - gain @ s - offset) / std) ** 2 - PARAMS["log_std"][t] - 0.5 * np.log(2 * np.pi))
            rho_a = -(PROBLEM.q * s @ s + PROBLEM.r * a @ a) - log_pi_a
            nxt_a = a_mat @ s + b_mat @ a + np.sqrt(PROBLEM.process_var) * grid[:, :n]
            assert q_values[t] == pytest.approx(rho_a + np.sum(w * v_next(t, nxt_a)), rel=1e-10), t
        # Rewards as the problem defines them: the step-t reward is ρ_t (plus the terminal reward at t = T − 1).
        r = np.asarray(PROBLEM.rewards(p, z))
        s_T = states[-1]
        assert r[-1] + PROBLEM.q_final * s_T @ s_T == pytest.approx(float(PROBLEM.immediate_rewards(z)[-1])
                                                                    - float(PROBLEM.step_log_probs(p, z)[-1]))
        m0 = np.asarray(PROBLEM.init_mean)
        expected_v0 = m0 @ P[0] @ m0 + PROBLEM.init_var * np.trace(P[0]) + pv[0] @ m0 + c[0]
        assert expected_v0 == pytest.approx(float(PROBLEM.objective_exact(p)), rel=1e-12)
        np.testing.assert_allclose(np.asarray(PROBLEM.value_features(z)).shape, (T, 1 + n + n * (n + 1) // 2))


@pytest.mark.parametrize("spec", ["lqr:T=4", "lqr:T=3,q=2,r=0.5,q_final=0.3,process_var=0.2"])
def test_exact_gradient_vanishes_at_the_soft_riccati_policy(spec):
    """The soft Riccati recursion's policy (computed in NumPy) is a stationary point of the forward-propagated
    objective, which equals the soft-optimal value there and is lower at other policies."""
    problem = resolve_problem(spec)
    with jax.enable_x64(True):
        optimum = _p64(problem.soft_optimal_params())
        grad = jax.jit(jax.grad(problem.objective_exact))(optimum)
        assert max(float(jnp.max(jnp.abs(g))) for g in grad.values()) < 1e-9
        objective = jax.jit(problem.objective_exact)
        best = float(objective(optimum))
        assert best == pytest.approx(float(problem.log_evidence()), rel=1e-10)
        for scale in (0.05, 0.3):
            moved = {k: v + scale * RNG.standard_normal(v.shape) for k, v in optimum.items()}
            assert float(objective(moved)) < best


def test_trajectory_through_the_true_model_is_the_trajectory_and_its_gradient():
    with jax.enable_x64(True):
        p = _p64(PARAMS)
        noise = {"state": jnp.asarray(RNG.standard_normal((4, 2))), "action": jnp.asarray(RNG.standard_normal((3, 2)))}
        a_mat, b_mat = PROBLEM.dynamics()
        wrong = PROBLEM.latent_through_model(p, noise, 1.1 * a_mat, b_mat)
        np.testing.assert_allclose(wrong, PROBLEM.latent(p, noise), rtol=1e-14)  # values: the real trajectory

        def total(latent_fn):
            return jax.grad(lambda q: PROBLEM.model_log_prob(q, latent_fn(q)))(p)

        exact = total(lambda q: PROBLEM.latent(q, noise))
        same = total(lambda q: PROBLEM.latent_through_model(q, noise, a_mat, b_mat))
        other = total(lambda q: PROBLEM.latent_through_model(q, noise, 1.1 * a_mat, b_mat))
        for k in exact:
            np.testing.assert_allclose(same[k], exact[k], rtol=1e-12)
        assert any(not np.allclose(other[k], exact[k]) for k in exact)  # derivatives: the model's


def test_options_are_validated_and_defaults_are_a_damped_double_integrator():
    problem = resolve_problem("lqr")
    a_mat, b_mat = problem.dynamics()
    np.testing.assert_allclose(a_mat, [[1.0, 0.1], [0.0, 0.9]])
    assert b_mat.shape == (2, 1) and problem.sequential and problem.reparameterizable
    assert {k: v.shape for k, v in problem.default_params().items()} == {"gain": (10, 1, 2), "offset": (10, 1),
                                                                         "log_std": (10, 1)}
    with pytest.raises(VarbenchError, match="'A' of problem 'lqr' needs 4 numbers"):
        resolve_problem("lqr:A=[1,2,3]")
    with pytest.raises(VarbenchError, match="'init_mean' of problem 'lqr' needs 3 numbers"):
        resolve_problem("lqr:state_dim=3,A=[1,0,0,0,1,0,0,0,1],B=[0,0,1]")
    with pytest.raises(VarbenchError, match="outside lqr's diagonal"):
        LQR(action_dim=2, B=[1.0, 0.5, 0.0, 1.0]).soft_optimal_params()

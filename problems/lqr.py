"""Linear-quadratic control as inference: a maximum-entropy LQR problem with exact answers.

Levine (2018), "Reinforcement Learning and Control as Probabilistic Inference: Tutorial and Review", §2–3: with
optimality variables p(O_t | s_t, a_t) ∝ exp(r(s_t, a_t)), a uniform action prior and the true dynamics held
fixed in the variational distribution, the evidence lower bound is the maximum-entropy return
``E_π[Σ_t r(s_t, a_t) − log π(a_t | s_t)]``. For linear dynamics and quadratic rewards everything is Gaussian:
the objective and its gradient follow from propagating the closed-loop mean and covariance, the value and
action-value functions of any linear-Gaussian policy are quadratics (a backward recursion), and the optimum is
the soft (maximum-entropy) Riccati recursion (Levine 2018, §3.2; Todorov 2008, "General duality between optimal
control and estimation"). Gupta's model-based RL lecture ("policy optimization with models") motivates the
model-based pathwise gradient that :meth:`LQR.latent_through_model` supports.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.sequential import SequentialProblem, steps_option

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Noise
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

# A damped double integrator (position, velocity) with time step 0.1: the default plant.
DEFAULT_A = (1.0, 0.1, 0.0, 0.9)
DEFAULT_B = (0.0, 0.1)
_HALF_LOG_2PI_E = 0.5 * np.log(2 * np.pi * np.e)


def _floats(values) -> tuple:
    return tuple(float(v) for v in (values if isinstance(values, (list, tuple)) else [values]))


def quadratic_features(x: jax.Array) -> jax.Array:
    """``[1, x, x_i x_j (i ≤ j)]`` along the last axis: every quadratic in x is linear in these."""
    i, j = np.triu_indices(x.shape[-1])
    ones = jnp.ones(x.shape[:-1] + (1,), x.dtype)
    return jnp.concatenate([ones, x, x[..., i] * x[..., j]], -1)


@register_problem
@pytree_dataclass
class LQR(SequentialProblem):
    """Maximum-entropy linear-quadratic control, read as variational inference (Levine 2018).

    Plant: s_0 ~ N(init_mean, init_var·I), s_{t+1} = A s_t + B a_t + w_t, w_t ~ N(0, process_var·I), t < T.
    Policy (the variational distribution over actions): a_t = K_t s_t + k_t + exp(log_std_t) ⊙ ε_t, params
    ``gain`` (T, m, n), ``offset`` (T, m), ``log_std`` (T, m). Rewards r_t = −(q|s_t|² + r|a_t|²) −
    log π(a_t | s_t) for t < T and r_T = −q_final|s_T|²; the objective E[Σ_t r_t] is the ELBO of control as
    inference with a uniform action prior (the sign convention of lgssm's ELBO: larger is better).

    Sequential interface (``problems/sequential.py``): step t = 1..T is the action a_{t−1} taken in state
    s_{t−1}; the terminal reward r_T is added to step T's reward. The latent is the trajectory as an array of
    shape (T + 1, n + m): row t holds (s_t, a_t), the last row (s_T, 0). V_t(s_{t−1}) and
    Q_t(s_{t−1}, a_{t−1}) are quadratics from a backward recursion under the given policy.

    Exact quantities: ``objective_exact`` by propagating the closed-loop Gaussian (mean and covariance of s_t);
    ``log_evidence`` is the largest objective any policy reaches, E[V*_0(s_0)] from the soft Riccati recursion,
    attained by ``soft_optimal_params`` (a linear-Gaussian policy; in this diagonal-std family when m = 1).

    Assumptions: continuous, reparameterizable (the trajectory is affine in the noise for fixed params), known
    linear dynamics. One cost evaluation is one rollout of T steps.

    Default params: a generic policy, every entry of ``gain``, ``offset`` and ``log_std`` 0.15 to 0.45 away from 0
    with a seeded sign (seed 0, see :mod:`varbench.core.generic`), not the zero-mean, unit-variance policy.
    """

    name = "lqr"
    summary = "max-entropy linear-quadratic control as inference (Levine 2018), exact objective, V, Q and Riccati optimum"
    reparameterizable = True

    T: int = steps_option(10, "horizon (number of actions)")
    state_dim: int = option(2, "state dimension n", kind=int, minimum=1)
    action_dim: int = option(1, "action dimension m", kind=int, minimum=1)
    A: tuple = option(DEFAULT_A, "dynamics matrix, row-major list of n*n (default: damped double integrator)",
                      kind=list, convert=_floats)
    B: tuple = option(DEFAULT_B, "control matrix, row-major list of n*m", kind=list, convert=_floats)
    q: float = option(1.0, "state cost Q = q I", kind=float, minimum=0.0)
    r: float = option(0.1, "action cost R = r I", kind=float, minimum=1e-12)
    q_final: float = option(1.0, "final state cost Q_f = q_final I", kind=float, minimum=0.0)
    process_var: float = option(0.01, "variance of the process noise w_t", kind=float, minimum=1e-12)
    init_mean: tuple = option((1.0, 0.0), "mean of s_0 (list of n)", kind=list, convert=_floats)
    init_var: float = option(0.1, "variance of each coordinate of s_0", kind=float, minimum=1e-12)

    def validate(self) -> None:
        n, m = self.state_dim, self.action_dim
        for label, value, size in (("A", self.A, n * n), ("B", self.B, n * m), ("init_mean", self.init_mean, n)):
            if len(value) != size:
                raise VarbenchError(f"option {label!r} of problem 'lqr' needs {size} numbers for state_dim={n}, "
                                    f"action_dim={m}; got {len(value)}")

    def dynamics(self) -> tuple[np.ndarray, np.ndarray]:
        """The true ``(A (n, n), B (n, m))`` as float64 NumPy arrays."""
        n, m = self.state_dim, self.action_dim
        return np.reshape(self.A, (n, n)), np.reshape(self.B, (n, m))

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        n, m, T = self.state_dim, self.action_dim, self.T
        return {"gain": (T, m, n), "offset": (T, m), "log_std": (T, m)}

    def default_params(self) -> dict[str, np.ndarray]:
        base = {k: np.zeros(s) for k, s in self.param_shapes().items()}
        return generic_defaults(base, DEFAULT_SEED, dtype=np.float32)

    # --- sampling ---------------------------------------------------------------------------------------------

    def latent_noise(self, params: Params) -> dict[str, Noise]:
        return {"state": Noise("normal", (self.T + 1, self.state_dim)),
                "action": Noise("normal", (self.T, self.action_dim))}

    def latent(self, params: Params, noise: dict[str, jax.Array]) -> jax.Array:
        a_true, b_true = self.dynamics()
        return self.latent_through_model(params, noise, a_true, b_true)

    def latent_through_model(self, params: Params, noise: dict[str, jax.Array], a_model: np.ndarray | jax.Array,
                             b_model: np.ndarray | jax.Array) -> jax.Array:
        """The trajectory of the TRUE plant, differentiated as if the plant were ``(a_model, b_model)``.

        Each next state is written ``Â s_t + B̂ a_t + stop_gradient(s_{t+1} − Â s_t − B̂ a_t)``: its value is the
        true s_{t+1} (the noise is inferred from the real transition), its derivative the model's. This is the
        stochastic value gradient SVG(∞) of Heess et al. (2015), "Learning Continuous Control Policies by
        Stochastic Value Gradients", §4; with the true matrices it is the plain pathwise gradient.

        Args:
          params: the policy's params.
          noise: the noise of :meth:`latent_noise`.
          a_model: the model's ``A``, shape (state_dim, state_dim).
          b_model: the model's ``B``, shape (state_dim, action_dim).

        Returns:
          The trajectory, as :meth:`latent` returns it.
        """
        dtype = params["offset"].dtype
        a_true, b_true = (jnp.asarray(x, dtype) for x in self.dynamics())
        a_model, b_model = jnp.asarray(a_model, dtype), jnp.asarray(b_model, dtype)
        std = jnp.exp(params["log_std"])
        s0 = jnp.asarray(self.init_mean, dtype) + np.sqrt(self.init_var) * noise["state"][0]

        def step(s, inputs):
            gain, offset, sd, eps, xi = inputs
            a = gain @ s + offset + sd * eps
            s_true = a_true @ s + b_true @ a + np.sqrt(self.process_var) * xi
            s_model = a_model @ s + b_model @ a
            s_next = s_model + jax.lax.stop_gradient(s_true - s_model)
            return s_next, (s, a)

        s_final, (s, a) = jax.lax.scan(step, s0, (params["gain"], params["offset"], std, noise["action"],
                                                   noise["state"][1:]))
        rows = jnp.concatenate([s, a], -1)
        last = jnp.concatenate([s_final, jnp.zeros((self.action_dim,), dtype)])
        return jnp.concatenate([rows, last[None]], 0)

    def split(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(states (T + 1, n), actions (T, m))`` of a trajectory."""
        return z[:, :self.state_dim], z[:-1, self.state_dim:]

    def transitions(self, z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(s_t, a_t, s_{t+1})`` for t < T: shapes (T, n), (T, m), (T, n)."""
        s, a = self.split(z)
        return s[:-1], a, s[1:]

    # --- per-step pieces --------------------------------------------------------------------------------------

    def step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        s, a = self.split(z)
        mean = jnp.einsum("tmn,tn->tm", params["gain"], s[:-1]) + params["offset"]
        log_std = params["log_std"]
        return jnp.sum(-0.5 * ((a - mean) * jnp.exp(-log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi), -1)

    def immediate_rewards(self, z: jax.Array) -> jax.Array:
        """``−(q|s_t|² + r|a_t|²)`` for t < T (without the entropy term), shape (T,)."""
        s, a = self.split(z)
        return -(self.q * jnp.sum(s[:-1] ** 2, -1) + self.r * jnp.sum(a ** 2, -1))

    def terminal_reward(self, z: jax.Array) -> jax.Array:
        """The terminal reward ``r_T = −q_final |s_T|²`` of a trajectory.

        Args:
          z: the trajectory, shape ``(T + 1, n + m)`` (row t holds (s_t, a_t); the last row (s_T, 0)).

        Returns:
          A scalar.
        """
        return -self.q_final * jnp.sum(z[-1, :self.state_dim] ** 2)

    def model_step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        """Rewards without −log π: the immediate quadratic costs, with the terminal cost added to the last step."""
        return self.immediate_rewards(z).at[-1].add(self.terminal_reward(z))

    def entropy(self, params: Params) -> jax.Array:
        return jnp.sum(params["log_std"]) + self.T * self.action_dim * _HALF_LOG_2PI_E

    # --- exact objective --------------------------------------------------------------------------------------

    def _matrices(self, dtype):
        a, b = (jnp.asarray(x, dtype) for x in self.dynamics())
        return a, b, jnp.eye(self.state_dim, dtype=dtype)

    def state_moments(self, params: Params) -> tuple[jax.Array, jax.Array]:
        """Mean (T + 1, n) and covariance (T + 1, n, n) of s_0..s_T under the closed loop."""
        dtype = params["offset"].dtype
        a, b, eye = self._matrices(dtype)
        mean0 = jnp.asarray(self.init_mean, dtype)

        def step(carry, inputs):
            mean, cov = carry
            gain, offset, log_std = inputs
            closed = a + b @ gain
            action_cov = (b * jnp.exp(2 * log_std)) @ b.T
            nxt = (closed @ mean + b @ offset, closed @ cov @ closed.T + action_cov + self.process_var * eye)
            return nxt, nxt

        first = (mean0, self.init_var * eye)
        _, (means, covs) = jax.lax.scan(step, first, (params["gain"], params["offset"], params["log_std"]))
        return jnp.concatenate([mean0[None], means]), jnp.concatenate([first[1][None], covs])

    def objective_exact(self, params: Params) -> jax.Array:
        means, covs = self.state_moments(params)
        gain, offset = params["gain"], params["offset"]
        m_t, c_t = means[:-1], covs[:-1]
        state_cost = self.q * (jnp.sum(m_t ** 2, -1) + jnp.trace(c_t, axis1=-2, axis2=-1))
        action_mean = jnp.einsum("tmn,tn->tm", gain, m_t) + offset
        action_second = (jnp.sum(action_mean ** 2, -1) + jnp.einsum("tmn,tnk,tmk->t", gain, c_t, gain)
                         + jnp.sum(jnp.exp(2 * params["log_std"]), -1))
        terminal = self.q_final * (jnp.sum(means[-1] ** 2) + jnp.trace(covs[-1]))
        return -jnp.sum(state_cost + self.r * action_second) - terminal + self.entropy(params)

    # --- oracle value functions -------------------------------------------------------------------------------

    def value_coefficients(self, params: Params) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(P (T + 1, n, n), p (T + 1, n), c (T + 1,))`` with W_t(s) = sᵀP_t s + p_tᵀs + c_t the expected
        return from s_t = s (t = 0..T; W_T is the terminal reward), by the backward recursion under the policy."""
        dtype = params["offset"].dtype
        a, b, eye = self._matrices(dtype)
        n = self.state_dim
        final = (-self.q_final * eye, jnp.zeros((n,), dtype), jnp.zeros((), dtype))

        def backward(carry, inputs):
            P, p, c = carry
            gain, offset, log_std = inputs
            var = jnp.exp(2 * log_std)
            closed, bk = a + b @ gain, b @ offset
            noise_cov = (b * var) @ b.T + self.process_var * eye
            P_t = -self.q * eye - self.r * gain.T @ gain + closed.T @ P @ closed
            p_t = -2 * self.r * gain.T @ offset + 2 * closed.T @ P @ bk + closed.T @ p
            c_t = (-self.r * (offset @ offset + jnp.sum(var)) + jnp.sum(log_std) + self.action_dim * _HALF_LOG_2PI_E
                   + bk @ P @ bk + jnp.trace(P @ noise_cov) + p @ bk + c)
            out = (P_t, p_t, c_t)
            return out, out

        _, (P, p, c) = jax.lax.scan(backward, final, (params["gain"], params["offset"], params["log_std"]),
                                    reverse=True)
        return (jnp.concatenate([P, final[0][None]]), jnp.concatenate([p, final[1][None]]),
                jnp.concatenate([c, final[2][None]]))

    def value(self, params: Params, z: jax.Array) -> jax.Array:
        P, p, c = self.value_coefficients(params)
        s = z[:-1, :self.state_dim]
        v = jnp.einsum("tn,tnk,tk->t", s, P[:-1], s) + jnp.einsum("tn,tn->t", p[:-1], s) + c[:-1]
        return jnp.concatenate([v, jnp.zeros((1,), z.dtype)])

    def action_value(self, params: Params, z: jax.Array) -> jax.Array:
        """``Q_t = −(q|s|² + r|a|²) − log π(a | s) + E[W_{t+1}(A s + B a + w)]`` along the trajectory."""
        P, p, c = self.value_coefficients(params)
        a_mat, b_mat, _ = self._matrices(z.dtype)
        s, a = self.split(z)
        mean_next = s[:-1] @ a_mat.T + a @ b_mat.T
        expected_next = (jnp.einsum("tn,tnk,tk->t", mean_next, P[1:], mean_next)
                         + self.process_var * jnp.trace(P[1:], axis1=-2, axis2=-1)
                         + jnp.einsum("tn,tn->t", p[1:], mean_next) + c[1:])
        return self.immediate_rewards(z) - self.step_log_probs(params, z) + expected_next

    def value_features(self, z: jax.Array) -> jax.Array:
        return quadratic_features(z[:-1, :self.state_dim])

    def action_features(self, z: jax.Array) -> jax.Array:
        return quadratic_features(z[:-1])

    # --- the soft-optimal policy (maximum-entropy Riccati recursion) ------------------------------------------

    def soft_riccati(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Soft-optimal policy and value, float64: ``(params, P, p, c)`` with V*_t(s) = sᵀP_t s + p_tᵀs + c_t.

        Soft Bellman backup with the dynamics fixed (Levine 2018, eq. 14–16): Q_t(s, a) = r(s, a) +
        E[V_{t+1}(s')], V_t(s) = log ∫ exp Q_t(s, a) da, π*(a | s) ∝ exp Q_t(s, a). With V_{t+1} quadratic,
        Q_t = −aᵀM a + aᵀ(H s + h) + g(s) with M = R − BᵀP B, H = 2BᵀP A, h = Bᵀp, so π* = N(M⁻¹(H s + h)/2,
        (2M)⁻¹) and the integral is Gaussian.
        """
        a, b = self.dynamics()
        n, m, T = self.state_dim, self.action_dim, self.T
        P, p, c = -self.q_final * np.eye(n), np.zeros(n), 0.0
        Ps, ps, cs = [P], [p], [c]
        gains, offsets, log_stds = [], [], []
        for _ in range(T):
            M = self.r * np.eye(m) - b.T @ P @ b
            if not np.allclose(M, np.diag(np.diag(M)), rtol=0, atol=1e-12 * np.max(np.abs(M))):
                raise VarbenchError("the soft-optimal policy has correlated action noise, outside lqr's diagonal "
                                    "log_std family; valid: action_dim=1, or B with orthogonal columns")
            M_inv = np.linalg.inv(M)
            H, h = 2 * b.T @ P @ a, b.T @ p
            gains.append(0.5 * M_inv @ H)
            offsets.append(0.5 * M_inv @ h)
            log_stds.append(-0.5 * np.log(2 * np.diag(M)))
            P, p, c = (a.T @ P @ a - self.q * np.eye(n) + 0.25 * H.T @ M_inv @ H,
                       a.T @ p + 0.5 * H.T @ M_inv @ h,
                       self.process_var * np.trace(P) + c + 0.25 * h @ M_inv @ h + 0.5 * m * np.log(np.pi)
                       - 0.5 * np.linalg.slogdet(M)[1])
            Ps.append(P), ps.append(p), cs.append(c)
        params = {"gain": np.array(gains[::-1]), "offset": np.array(offsets[::-1]),
                  "log_std": np.array(log_stds[::-1])}
        return params, np.array(Ps[::-1]), np.array(ps[::-1]), np.array(cs[::-1])

    def soft_optimal_params(self) -> dict[str, np.ndarray]:
        """The policy that maximises the objective (float64)."""
        return self.soft_riccati()[0]

    def log_evidence(self, params: Params | None = None) -> jax.Array:
        """The largest objective over all policies, E[V*_0(s_0)]: the ELBO's upper bound (Levine 2018, §3)."""
        _, P, p, c = self.soft_riccati()
        mean0 = np.asarray(self.init_mean)
        return jnp.asarray(mean0 @ P[0] @ mean0 + self.init_var * np.trace(P[0]) + p[0] @ mean0 + c[0])

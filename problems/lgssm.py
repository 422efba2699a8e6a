"""A linear-Gaussian state-space model with a structured ("closed-loop") Gaussian variational posterior."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.sequential import SequentialProblem, check_observations, observations_option, steps_option

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Noise
from varbench.core.problem import Params
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Seed of the default observations (drawn once from the model, in NumPy, so they never change).
OBSERVATION_SEED = 0
# 3-point Gauss–Hermite rule for N(0, 1): exact for polynomials of degree <= 5 (the value recursion needs 2).
_GH_NODES = np.array([-np.sqrt(3.0), 0.0, np.sqrt(3.0)])
_GH_WEIGHTS = np.array([1.0, 4.0, 1.0]) / 6.0


def normal_log_pdf(x: Any, mean: Any, var: Any) -> Any:
    """``log N(x; mean, var)``, elementwise.

    Args:
      x: values, any shape (JAX or NumPy arrays, or numbers).
      mean: means, broadcastable with ``x``.
      var: variances (> 0), broadcastable with ``x``.

    Returns:
      The log densities, of the broadcast shape (a NumPy array for NumPy inputs, a JAX array otherwise).
    """
    return -0.5 * jnp.log(2 * jnp.pi * var) - 0.5 * (x - mean) ** 2 / var


def _poly(c: jax.Array, x: jax.Array) -> jax.Array:
    """``c[0] + c[1] x + c[2] x²`` (c may carry leading axes)."""
    return c[..., 0] + c[..., 1] * x + c[..., 2] * x * x


@register_problem
@pytree_dataclass
class LGSSM(SequentialProblem):
    """ELBO of a linear-Gaussian state-space model under a structured Markov Gaussian posterior.

    Model: z_1 ~ N(0, init_var), z_t = transition·z_{t−1} + N(0, process_var), y_t = z_t + N(0, obs_var).
    Variational family (Weber et al. 2015: "structured posterior = closed-loop control"): z_1 = β_1 + s_1 ε_1,
    z_t = α_t z_{t−1} + β_t + s_t ε_t, ε ~ N(0, I_T), s = exp(log_scale). It contains the exact posterior, whose
    precision matrix is tridiagonal (a Markov chain), so the ELBO reaches ``log p(y)`` there.

    Rewards r_t = log p(y_t | z_t) + log p(z_t | z_{t−1}) − log q(z_t | z_{t−1}); cost Σ_t r_t; objective the
    ELBO. Reference: Weber et al. (2015), "Reinforced Variational Inference"; Kalman (1960) for the evidence.

    Exact quantities: ``objective_exact`` is the ELBO in closed form from q's joint mean and covariance
    (Gaussian expectations of quadratics) plus q's entropy Σ_t log s_t + (T/2) log(2πe); ``log_evidence`` by
    the Kalman filter; oracle V_t and Q_t are quadratics, computed by a backward recursion (each V_t is
    evaluated at three states with an exact 3-node Gauss–Hermite rule and interpolated).

    Assumptions: continuous, reparameterizable (z is affine in ε), sequential. Default params: a deliberately
    poor q that ignores the data, at a generic point (seed 0, see :mod:`varbench.core.generic`): α = transition
    moved by 0.075 to 0.225 per step (q follows roughly the prior's dynamics), β and log_scale 0.15 to 0.45 away
    from 0, each with a seeded sign. One cost evaluation is one evaluation of Σ_t r_t along a trajectory.
    """

    name = "lgssm"
    summary = "linear-Gaussian state-space model, structured Gaussian q, rewards = per-step free energies (Weber et al. 2015)"
    reparameterizable = True

    T: int = steps_option(5)
    transition: float = option(0.9, "prior dynamics z_t = transition * z_{t-1} + noise, |transition| <= 1",
                               kind=float)
    process_var: float = option(1.0, "variance of the prior's process noise", kind=float, minimum=1e-12)
    init_var: float = option(1.0, "variance of z_1 under the prior", kind=float, minimum=1e-12)
    obs_var: float = option(0.5, "variance of y_t given z_t", kind=float, minimum=1e-12)
    y: tuple | None = observations_option()

    def validate(self) -> None:
        # A stable (|a| < 1) or unit-root (|a| = 1) prior: beyond, z_t grows like a^T and overflows float32 soon.
        if not abs(self.transition) <= 1:
            raise VarbenchError(f"option 'transition' of problem {self.name!r} must be from -1 to 1 (the prior's "
                                f"dynamics, stable or a random walk); got {self.transition!r}")
        check_observations(self)

    def observations(self) -> np.ndarray:
        """The observations y_1..y_T, shape ``(T,)``: the option ``y``, or one path drawn from the model (seed
        :data:`OBSERVATION_SEED`, so it never changes).
        """
        if self.y is not None:
            return np.asarray(self.y, np.float64)
        rng = np.random.default_rng(OBSERVATION_SEED)
        z = np.zeros(self.T)
        z[0] = np.sqrt(self.init_var) * rng.standard_normal()
        for t in range(1, self.T):
            z[t] = self.transition * z[t - 1] + np.sqrt(self.process_var) * rng.standard_normal()
        return z + np.sqrt(self.obs_var) * rng.standard_normal(self.T)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"alpha": (self.T - 1,), "beta": (self.T,), "log_scale": (self.T,)}

    def default_params(self) -> dict[str, np.ndarray]:
        base = {"alpha": np.full(self.T - 1, self.transition), "beta": np.zeros(self.T), "log_scale": np.zeros(self.T)}
        return generic_defaults(base, DEFAULT_SEED, {"alpha": 0.5}, dtype=np.float32)

    # --- per-step coefficients, length T (step 1 ignores the dummy z_0 = 0) --------------------------------

    def _steps(self, params: Params):
        dtype = params["beta"].dtype
        zero = jnp.zeros((1,), dtype)
        alpha = jnp.concatenate([zero, params["alpha"]])
        prior_coef = jnp.concatenate([zero, jnp.full((self.T - 1,), self.transition, dtype)])
        prior_var = jnp.concatenate([jnp.full((1,), self.init_var, dtype),
                                     jnp.full((self.T - 1,), self.process_var, dtype)])
        y = jnp.asarray(self.observations(), dtype)
        return alpha, params["beta"], jnp.exp(params["log_scale"]), prior_coef, prior_var, y

    @staticmethod
    def _previous(z: jax.Array) -> jax.Array:
        return jnp.concatenate([jnp.zeros((1,), z.dtype), z[:-1]])

    def latent_noise(self, params: Params) -> Noise:
        return Noise("normal", (self.T,))

    def latent(self, params: Params, noise: jax.Array) -> jax.Array:
        alpha, beta, s, *_ = self._steps(params)

        def step(z_tm1, inputs):
            a, b, sd, eps = inputs
            z_t = a * z_tm1 + b + sd * eps
            return z_t, z_t

        _, z = jax.lax.scan(step, jnp.zeros((), noise.dtype), (alpha, beta, s, noise))
        return z

    def step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        alpha, beta, s, *_ = self._steps(params)
        return normal_log_pdf(z, alpha * self._previous(z) + beta, s * s)

    def model_step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        *_, prior_coef, prior_var, y = self._steps(params)
        return normal_log_pdf(y, z, self.obs_var) + normal_log_pdf(z, prior_coef * self._previous(z), prior_var)

    # --- oracle value functions ---------------------------------------------------------------------------

    def value_coefficients(self, params: Params) -> jax.Array:
        """Coefficients (c0, c1, c2) of V_t(x) = c0 + c1 x + c2 x² for t = 1..T+1, shape (T + 1, 3)."""
        steps = self._steps(params)
        dtype = params["beta"].dtype
        nodes, weights = jnp.asarray(_GH_NODES, dtype), jnp.asarray(_GH_WEIGHTS, dtype)
        xs = jnp.asarray([-1.0, 0.0, 1.0], dtype)

        def backward(v_next, step):
            a, b, sd, pc, pv, y_t = step

            def v_at(x):
                z_t = a * x + b + sd * nodes
                q_t = (normal_log_pdf(y_t, z_t, self.obs_var) + normal_log_pdf(z_t, pc * x, pv)
                       - normal_log_pdf(z_t, a * x + b, sd * sd) + _poly(v_next, z_t))
                return jnp.sum(weights * q_t)

            v_m, v_0, v_p = jax.vmap(v_at)(xs)  # V_t is exactly quadratic: interpolate at -1, 0, 1
            coef = jnp.stack([v_0, 0.5 * (v_p - v_m), 0.5 * (v_p + v_m) - v_0])
            return coef, coef

        _, coefs = jax.lax.scan(backward, jnp.zeros((3,), dtype), steps, reverse=True)
        return jnp.concatenate([coefs, jnp.zeros((1, 3), dtype)])

    def value(self, params: Params, z: jax.Array) -> jax.Array:
        coefs = self.value_coefficients(params)
        return jnp.concatenate([_poly(coefs[:-1], self._previous(z)), jnp.zeros((1,), z.dtype)])

    def action_value(self, params: Params, z: jax.Array) -> jax.Array:
        coefs = self.value_coefficients(params)
        return self.rewards(params, z) + _poly(coefs[1:], z)

    def value_features(self, z: jax.Array) -> jax.Array:
        x = self._previous(z)
        return jnp.stack([jnp.ones_like(x), x, x * x], -1)

    def action_features(self, z: jax.Array) -> jax.Array:
        x = self._previous(z)
        return jnp.stack([jnp.ones_like(x), x, z, x * x, x * z, z * z], -1)

    # --- exact objective and evidence ---------------------------------------------------------------------

    def moments(self, params: Params) -> tuple[jax.Array, jax.Array]:
        """Mean and covariance of q: z = L⁻¹(β + s ε) with L unit lower-bidiagonal, −α_t below the diagonal."""
        alpha, beta, s, *_ = self._steps(params)
        lower = jnp.eye(self.T, dtype=beta.dtype) - jnp.diag(alpha[1:], -1)
        inverse = jax.scipy.linalg.solve_triangular(lower, jnp.eye(self.T, dtype=beta.dtype), lower=True)
        return inverse @ beta, (inverse * s * s) @ inverse.T

    def entropy(self, params: Params) -> jax.Array:
        return jnp.sum(params["log_scale"]) + 0.5 * self.T * jnp.log(2 * jnp.pi * jnp.e)

    def objective_exact(self, params: Params) -> jax.Array:
        _, _, _, prior_coef, prior_var, y = self._steps(params)
        m, c = self.moments(params)
        d = jnp.diag(c)
        m_prev, d_prev = self._previous(m), self._previous(d)
        c_prev = jnp.concatenate([jnp.zeros((1,), m.dtype), jnp.diag(c, -1)])  # Cov(z_t, z_{t-1})
        likelihood = -0.5 * jnp.log(2 * jnp.pi * self.obs_var) - 0.5 * ((y - m) ** 2 + d) / self.obs_var
        square = (m - prior_coef * m_prev) ** 2 + d - 2 * prior_coef * c_prev + prior_coef ** 2 * d_prev
        prior = -0.5 * jnp.log(2 * jnp.pi * prior_var) - 0.5 * square / prior_var
        return jnp.sum(likelihood + prior) + self.entropy(params)

    def log_evidence(self, params: Params | None = None) -> jax.Array:
        """Kalman filter: log p(y) = Σ_t log N(y_t; predicted mean, predicted variance + obs_var)."""
        y = jnp.asarray(self.observations())

        def step(carry, inputs):
            mean, var = carry
            y_t, first = inputs
            mean_pred = jnp.where(first, 0.0, self.transition * mean)
            var_pred = jnp.where(first, self.init_var, self.transition ** 2 * var + self.process_var)
            s = var_pred + self.obs_var
            gain = var_pred / s
            return (mean_pred + gain * (y_t - mean_pred), (1 - gain) * var_pred), normal_log_pdf(y_t, mean_pred, s)

        first = jnp.arange(self.T) == 0
        _, terms = jax.lax.scan(step, (jnp.zeros((), y.dtype), jnp.zeros((), y.dtype)), (y, first))
        return jnp.sum(terms)

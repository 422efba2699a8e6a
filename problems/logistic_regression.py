"""Bayesian logistic regression on the scikit-learn breast-cancer data with a diagonal Gaussian posterior."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.amortized import minibatch_noise, normal_log_density, select_rows
from varbench.problems.data import breast_cancer

from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Trapezoid rule for E f(μ + σ t), t ~ N(0, 1): step and half-width (in units of t) of the grid.
TRAPEZOID_STEP, TRAPEZOID_HALF_WIDTH = 0.01, 10.0


@functools.lru_cache(maxsize=4)
def _normal_trapezoid(step: float, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of the trapezoid rule for the standard normal density.

    For integrands analytic in the strip |Im t| < d the error decays like exp(−2π d / step) (Trefethen &
    Weideman 2014, "The exponentially convergent trapezoidal rule", §5); log σ(μ + σ t) has its nearest poles at
    |Im t| = π/σ, so the rule is exact to rounding for σ up to about 50. The truncation at ±10 loses mass
    below 10⁻²².
    """
    t = np.arange(-half_width, half_width + step / 2, step)
    w = np.exp(-0.5 * t * t)
    return t, w / w.sum()


@register_problem
@pytree_dataclass
class LogisticRegression(Problem):
    """Negative ELBO of Bayesian logistic regression, q(w) = N(mean, diag(exp(2 log_scale))), p(w) = N(0, v I).

    The experiment of Mohamed, Rosca, Figurnov & Mnih (2020), JMLR, §8.3 (Bayesian logistic regression on the
    UCI breast-cancer data), here on the first ``data_subset`` rows of scikit-learn's copy, features
    standardized plus an intercept (D = 31), labels y ∈ {±1}:

        F(mean, log_scale) = −Σ_n E_q[log σ(y_n x_n·w)] + KL(q ‖ p),   KL analytic.

    A latent draw is a minibatch of ``batch_size`` rows drawn uniformly with replacement (one-hot categorical
    noise; the full subset when ``batch_size >= data_subset``) and one weight vector w = mean + exp(log_scale)·ε;
    the cost is ``−(N/B) Σ_b log σ(y_b x_b·w) + KL``, an unbiased estimate of F. The KL term depends on the
    params directly (estimators add its gradient as the direct term).

    Assumptions: continuous, reparameterizable, location-scale in params but not in cost (the cost has the
    direct KL term), not amortized (one global posterior). Exact objective: each likelihood term depends on w
    only through the scalar s_n = y_n x_n·w ~ N(y_n x_n·mean, Σ_i x_ni² exp(2 log_scale_i)), so
    E log σ(s_n) is a one-dimensional integral, computed by the exponentially convergent trapezoid rule (step
    0.01 on ±10 standard deviations: exact to rounding while that scale is below about 50; Gauss–Hermite
    converges far more slowly here because of log σ's complex poles); the gradient is its autodiff. One cost evaluation is one minibatch likelihood.

    Default params: a generic point (seed 0, see :mod:`varbench.core.generic`): every mean 0.15 to 0.45 away from
    0 and every log_scale 0.15 to 0.45 away from −1, each with a seeded sign.
    """

    name = "logistic_regression"
    summary = "Bayesian logistic regression on breast cancer, diagonal Gaussian q, analytic KL (Mohamed et al. 2020)"
    reparameterizable = True
    has_exact_objective = True

    data_subset: int = option(569, "N: the first N rows of the breast-cancer data (569 in all)", kind=int, minimum=1)
    batch_size: int = option(32, "minibatch size B, drawn uniformly with replacement; B >= N uses all rows",
                             kind=int, minimum=1)
    prior_variance: float = option(1.0, "variance v of the prior N(0, v I)", static=False, kind=float, minimum=1e-6)

    def validate(self) -> None:
        self.signed_features()

    def signed_features(self) -> np.ndarray:
        """Rows ``y_n · [x_n, 1]``, shape (N, 31)."""
        x, y = breast_cancer(self.data_subset)
        return np.concatenate([x, np.ones((len(x), 1), np.float32)], 1) * y[:, None]

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.data_subset

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"mean": (31,), "log_scale": (31,)}

    def param_groups(self) -> dict[str, list[str]]:
        return {"location": ["mean"], "scale": ["log_scale"]}

    def default_params(self) -> dict[str, np.ndarray]:
        return generic_defaults({"mean": np.zeros(31), "log_scale": np.full(31, -1.0)}, DEFAULT_SEED, dtype=np.float32)

    def latent_noise(self, params: Params) -> dict:
        return {**minibatch_noise(self.full_batch, self.batch_size, self.data_subset), "w": Noise("normal", (31,))}

    def latent(self, params: Params, noise: dict) -> dict:
        rows = select_rows(self.signed_features(), noise, params["mean"].dtype)
        return {"data": rows, "w": params["mean"] + jnp.exp(params["log_scale"]) * noise["w"]}

    def log_prob(self, params: Params, x: dict) -> jax.Array:
        return jnp.sum(normal_log_density(x["w"], params["mean"], params["log_scale"]))

    def kl(self, params: Params) -> jax.Array:
        v = jnp.asarray(self.prior_variance, params["mean"].dtype)
        var = jnp.exp(2 * params["log_scale"])
        return 0.5 * jnp.sum((var + params["mean"] ** 2) / v - 1.0 - 2 * params["log_scale"] + jnp.log(v))

    def cost(self, params: Params, x: dict) -> jax.Array:
        return -self.data_subset * jnp.mean(jax.nn.log_sigmoid(x["data"] @ x["w"])) + self.kl(params)

    def objective_exact(self, params: Params) -> jax.Array:
        rows = jnp.asarray(self.signed_features(), params["mean"].dtype)
        loc = rows @ params["mean"]
        scale = jnp.sqrt((rows * rows) @ jnp.exp(2 * params["log_scale"]))
        nodes, weights = (jnp.asarray(a, loc.dtype) for a in _normal_trapezoid(TRAPEZOID_STEP, TRAPEZOID_HALF_WIDTH))
        expected = jax.nn.log_sigmoid(loc[:, None] + scale[:, None] * nodes) @ weights
        return -jnp.sum(expected) + self.kl(params)

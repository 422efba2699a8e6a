"""Gaussian expectations of simple costs: the test functions of Mohamed et al. (2020) and of optax's tests, and
Gaussian problems with a user's own cost (:func:`gaussian_with_cost`)."""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from varbench.core.errors import VarbenchError
from varbench.core.noise import Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

#: Costs summed over coordinates, ``Σ_i w_i c(x_i)``, and costs of the weighted sum ``s = Σ_i w_i x_i``.
COORDINATE_COSTS = ("linear", "square", "exp_square", "cos", "cube", "quartic", "quintic")
SUM_COSTS = ("square_of_sum", "cos_of_sum")
COSTS = COORDINATE_COSTS + SUM_COSTS


class DiagonalGaussian(Problem):
    """``x ~ N(mean, diag(exp(log_scale)²))`` with ``dim`` coordinates: everything but the cost.

    Assumptions: continuous latent, reparameterizable (``x = μ + exp(s)·ε``), location-scale with independent
    coordinates, a cost that does not depend on the parameters. Subclasses define ``dim`` and ``cost``.

    Default params: mean 1 and log_scale 0 in every coordinate, N(1, 1): special on purpose (see
    ``special_defaults``); ``varbench check`` moves them to a generic point.
    """

    reparameterizable = True
    location_scale = True
    #: The cost is a function of x alone, so score-function estimators add no direct term ∇_θ f_θ(x).
    cost_depends_on_params = False
    special_defaults = {
        "mean": "N(1, 1), the point of Mohamed et al. (2020), Figures 2-3 (mu = sigma = 1), and of the README's "
                "closed-form examples (exact variances 4 and 12 of pathwise, 30 of the score function, for the "
                "square cost with k = 0); varbench check measures at a generic point instead",
        "log_scale": "sigma = 1 (log_scale = 0), with mean = 1: see mean",
    }

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"mean": (self.dim,), "log_scale": (self.dim,)}

    def default_params(self) -> dict[str, np.ndarray]:
        return {"mean": np.ones(self.dim, np.float32), "log_scale": np.zeros(self.dim, np.float32)}

    def latent_noise(self, params: Params) -> Noise:
        return Noise("normal", (self.dim,))

    def latent(self, params: Params, noise: jnp.ndarray) -> jnp.ndarray:
        return params["mean"] + jnp.exp(params["log_scale"]) * noise

    def log_prob(self, params: Params, x: jnp.ndarray) -> jnp.ndarray:
        log_scale = params["log_scale"]
        z = (x - params["mean"]) * jnp.exp(-log_scale)
        return jnp.sum(-0.5 * z * z - log_scale - 0.5 * jnp.log(2 * jnp.pi))

    def score(self, params: Params, x: jnp.ndarray) -> dict[str, jnp.ndarray]:
        """``∇_θ log q_θ(x)`` in closed form (the ``closed_form_score`` capability).

        Args:
          params: ``mean`` and ``log_scale``, shape ``(dim,)``.
          x: one latent, shape ``(dim,)``.

        Returns:
          ``{"mean": (x − μ)/σ², "log_scale": ((x − μ)/σ)² − 1}`` with σ = exp(log_scale).
        """
        inv_scale = jnp.exp(-params["log_scale"])
        z = (x - params["mean"]) * inv_scale
        return {"mean": z * inv_scale, "log_scale": z * z - 1}


@register_problem
@pytree_dataclass
class Gaussian(DiagonalGaussian):
    """``F(μ, s) = E_{x ~ N(μ, diag(exp(s)²))} [cost(x)]``.

    The costs of Mohamed, Rosca, Figurnov & Mnih (2020), "Monte Carlo Gradient Estimation in Machine Learning",
    JMLR 21(132), §3 and Figures 2–3: ``linear`` ``k·x``, ``square`` ``(x − k)²``, ``exp_square`` ``exp(−k x²)``
    and ``cos`` ``cos(k x)``; and the test costs of optax's Monte Carlo gradient tests
    (``stochastic_gradient_estimators_test.py``, ``control_variates_test.py``): per-coordinate ``weights`` w,
    powers ``cube`` x³, ``quartic`` x⁴, ``quintic`` x⁵, and costs of the weighted sum s = Σ_i w_i x_i:
    ``square_of_sum`` (k·s)² and ``cos_of_sum`` cos(k·s). Coordinate costs are summed as ``Σ_i w_i c(x_i)``.

    Assumptions: those of :class:`DiagonalGaussian`. Exact objective in closed form (below); exact gradient by
    autodiff of it. One cost evaluation is one evaluation of the whole cost.

    Closed forms per coordinate, with σ = exp(s) (weighted by w_i and summed):
      linear:     k μ
      square:     (μ − k)² + σ²
      exp_square: exp(−k μ² / (1 + 2kσ²)) / √(1 + 2kσ²)      (needs 1 + 2kσ² > 0)
      cos:        cos(k μ) exp(−k² σ² / 2)
      cube:       μ³ + 3μσ²;   quartic: μ⁴ + 6μ²σ² + 3σ⁴;   quintic: μ⁵ + 10μ³σ² + 15μσ⁴   (Gaussian moments)
    and of the weighted sum s ~ N(m, v) with m = Σ w_i μ_i, v = Σ w_i² σ_i²:
      square_of_sum: k² (m² + v);   cos_of_sum: cos(k m) exp(−k² v / 2).
    """

    name = "gaussian"
    summary = "x ~ N(mean, exp(log_scale)^2) per coordinate, cost sum_i c(x_i) (Mohamed et al. 2020; optax tests)"
    has_exact_objective = True

    # Users write `cost=...`; the field is `cost_name` because a field `cost` would hide Problem.cost, the integrand.
    cost_name: str = option("square", "cost: linear k*x, square (x-k)^2, exp_square exp(-k x^2), cos cos(k x), cube, "
                            "quartic, quintic (summed over coordinates with weights); square_of_sum (k*s)^2, "
                            "cos_of_sum cos(k*s) of s = sum_i w_i x_i", choices=COSTS, kind=str, key="cost")
    k: float = option(1.0, "the cost's constant k", static=False, kind=float)
    dim: int = option(1, "number of independent coordinates", kind=int, minimum=1)
    # Static (part of the compiled structure), so that k stays the only leaf a sweep vmaps over.
    weights: Any = option((1.0,), "per-coordinate weights w (a number or a list of dim numbers)", kind=list,
                          convert=lambda w: tuple(float(v) for v in np.ravel(w)), listed_at_default=False)

    def validate(self) -> None:
        if self.cost_name == "exp_square" and float(np.asarray(self.k)) < 0:
            raise VarbenchError("option 'k' of problem 'gaussian' must be >= 0 for cost exp_square")
        if np.size(self.weights) not in (1, self.dim):
            raise VarbenchError(f"option 'weights' of problem 'gaussian' must be one number or {self.dim} numbers "
                                f"(dim={self.dim}); got {len(self.weights)}")

    def coordinate_weights(self, dtype: Any) -> jnp.ndarray:
        """The per-coordinate weights w of the cost (one given number is repeated over the coordinates).

        Args:
          dtype: the dtype of the result.

        Returns:
          w, shape ``(dim,)``.
        """
        return jnp.broadcast_to(jnp.asarray(self.weights, dtype).reshape(-1), (self.dim,))

    def coordinate_cost(self, x: jnp.ndarray) -> jnp.ndarray:
        """``c(x)`` elementwise (coordinate costs only)."""
        k = jnp.asarray(self.k, x.dtype)
        if self.cost_name == "linear":
            return k * x
        if self.cost_name == "square":
            return (x - k) ** 2
        if self.cost_name == "exp_square":
            return jnp.exp(-k * x * x)
        if self.cost_name == "cube":
            return x ** 3
        if self.cost_name == "quartic":
            return x ** 4
        if self.cost_name == "quintic":
            return x ** 5
        return jnp.cos(k * x)

    def cost(self, params: Params, x: jnp.ndarray) -> jnp.ndarray:
        w = self.coordinate_weights(x.dtype)
        if self.cost_name in SUM_COSTS:
            s = jnp.asarray(self.k, x.dtype) * jnp.sum(w * x)
            return s * s if self.cost_name == "square_of_sum" else jnp.cos(s)
        return jnp.sum(w * self.coordinate_cost(x))

    def objective_exact(self, params: Params) -> jnp.ndarray:
        mu = params["mean"]
        var = jnp.exp(2 * params["log_scale"])
        k = jnp.asarray(self.k, mu.dtype)
        w = self.coordinate_weights(mu.dtype)
        if self.cost_name in SUM_COSTS:
            m, v = jnp.sum(w * mu), jnp.sum(w * w * var)
            if self.cost_name == "square_of_sum":
                return k * k * (m * m + v)
            return jnp.cos(k * m) * jnp.exp(-0.5 * k * k * v)
        if self.cost_name == "linear":
            per = k * mu
        elif self.cost_name == "square":
            per = (mu - k) ** 2 + var
        elif self.cost_name == "exp_square":
            denom = 1 + 2 * k * var
            per = jnp.exp(-k * mu * mu / denom) / jnp.sqrt(denom)
        elif self.cost_name == "cube":
            per = mu ** 3 + 3 * mu * var
        elif self.cost_name == "quartic":
            per = mu ** 4 + 6 * mu * mu * var + 3 * var * var
        elif self.cost_name == "quintic":
            per = mu ** 5 + 10 * mu ** 3 * var + 15 * mu * var * var
        else:
            per = jnp.cos(k * mu) * jnp.exp(-0.5 * k * k * var)
        return jnp.sum(w * per)


class GaussianWithCost(DiagonalGaussian):
    """A diagonal Gaussian with a user's cost ``f(x)`` (see :func:`gaussian_with_cost`); no closed-form objective,
    so Monte Carlo results have no bias column, and ``method=exact`` gives each estimator's exact mean and
    variance (quadrature over its noise) for small ``dim``."""

    name = "gaussian_with_cost"
    summary = "x ~ N(mean, exp(log_scale)^2), a user's cost f(x)"
    cost_function: Callable[[jnp.ndarray], jnp.ndarray] = staticmethod(lambda x: jnp.sum(x * x))

    def cost(self, params: Params, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.asarray(type(self).cost_function(x), x.dtype).reshape(())


def gaussian_with_cost(f: Callable[[jnp.ndarray], jnp.ndarray], *, dim: int = 1, name: str | None = None,
                       summary: str | None = None) -> Problem:
    """A Gaussian problem ``E_{x ~ N(μ, diag σ²)}[f(x)]`` for any JAX-traceable scalar ``f`` of a ``(dim,)`` array.

    Returns a problem instance for :func:`varbench.measure`. With ``name``, the problem class is also registered
    under that name, so a plugin module (``--plugin``, ``plugins = [...]`` in a suite) makes ``name`` and
    ``name:dim=3`` usable as specs everywhere. ``f`` must not depend on the parameters (location-scale: the
    measure-valued and delta-method estimators apply) and should be differentiable for pathwise gradients.

    Example:
      >>> import jax.numpy as jnp, varbench
      >>> problem = varbench.problems.gaussian_with_cost(lambda x: jnp.sum(x ** 2), dim=2)
      >>> res = varbench.measure(problem, "pathwise", params={"mean": 1.0, "log_scale": 0.0}, method="exact")
      >>> [round(float(v), 9) for v in res.grad_mean["mean"]]
      [2.0, 2.0]
    """
    from varbench.core.registry import register_problem as register

    attributes = {"name": name or GaussianWithCost.name, "cost_function": staticmethod(f),
                  "summary": summary or f"x ~ N(mean, exp(log_scale)^2), cost {getattr(f, '__name__', 'f')}(x)",
                  "__annotations__": {"dim": int},
                  "dim": option(int(dim), "number of coordinates", kind=int, minimum=1),
                  "__module__": getattr(f, "__module__", __name__), "__qualname__": name or "GaussianWithCost"}
    cls = pytree_dataclass(type(name or "GaussianWithCost", (GaussianWithCost,), attributes))
    if name is not None:
        register(cls)
    return cls(dim=int(dim))

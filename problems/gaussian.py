"""Gaussian expectations of simple costs: the test functions of Mohamed et al. (2020)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from varbench.core.errors import VarbenchError
from varbench.core.noise import Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem

COSTS = ("linear", "square", "exp_square", "cos")


@register_problem
@pytree_dataclass
class Gaussian(Problem):
    """``F(μ, s) = E_{x ~ N(μ, diag(exp(s)²))} [Σ_i c(x_i)]``.

    The costs of Mohamed, Rosca, Figurnov & Mnih (2020), "Monte Carlo Gradient Estimation in Machine Learning",
    JMLR 21(132), §3 and Figures 2–3: ``linear`` ``k·x``, ``square`` ``(x − k)²``, ``exp_square`` ``exp(−k x²)``
    and ``cos`` ``cos(k x)``, each summed over ``dim`` independent coordinates.

    Assumptions: continuous latent, reparameterizable (``x = μ + exp(s)·ε``), location-scale with independent
    coordinates, cost independent of the parameters. Exact objective in closed form (below); exact gradient by
    autodiff of it. One cost evaluation is one evaluation of ``Σ_i c(x_i)``.

    Closed forms per coordinate, with σ = exp(s):
      linear:     k μ
      square:     (μ − k)² + σ²
      exp_square: exp(−k μ² / (1 + 2kσ²)) / √(1 + 2kσ²)      (needs 1 + 2kσ² > 0)
      cos:        cos(k μ) exp(−k² σ² / 2)
    """

    name = "gaussian"
    summary = "x ~ N(mean, exp(log_scale)^2) per coordinate, cost sum_i c(x_i) (Mohamed et al. 2020)"
    reparameterizable = True
    location_scale = True
    has_exact_objective = True

    cost_name: str = option("square", "cost c(x): linear k*x, square (x-k)^2, exp_square exp(-k x^2), cos cos(k x)",
                            choices=COSTS, kind=str, key="cost")
    k: float = option(1.0, "the cost's constant k", static=False, kind=float)
    dim: int = option(1, "number of independent coordinates", kind=int, minimum=1)

    # Users write `cost=...`; the field is `cost_name` because `cost` is the integrand method of every Problem.
    def validate(self) -> None:
        if self.cost_name == "exp_square" and float(np.asarray(self.k)) < 0:
            raise VarbenchError("option 'k' of problem 'gaussian' must be >= 0 for cost exp_square")

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

    def coordinate_cost(self, x: jnp.ndarray) -> jnp.ndarray:
        """``c(x)`` elementwise."""
        k = jnp.asarray(self.k, x.dtype)
        if self.cost_name == "linear":
            return k * x
        if self.cost_name == "square":
            return (x - k) ** 2
        if self.cost_name == "exp_square":
            return jnp.exp(-k * x * x)
        return jnp.cos(k * x)

    def cost(self, params: Params, x: jnp.ndarray) -> jnp.ndarray:
        return jnp.sum(self.coordinate_cost(x))

    def objective_exact(self, params: Params) -> jnp.ndarray:
        mu = params["mean"]
        var = jnp.exp(2 * params["log_scale"])
        k = jnp.asarray(self.k, mu.dtype)
        if self.cost_name == "linear":
            per = k * mu
        elif self.cost_name == "square":
            per = (mu - k) ** 2 + var
        elif self.cost_name == "exp_square":
            denom = 1 + 2 * k * var
            per = jnp.exp(-k * mu * mu / denom) / jnp.sqrt(denom)
        else:
            per = jnp.cos(k * mu) * jnp.exp(-0.5 * k * k * var)
        return jnp.sum(per)

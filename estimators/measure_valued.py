"""The measure-valued (weak-derivative) estimator for Gaussian location-scale problems, with coupling."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from varbench.core.capabilities import LOCATION_SCALE, require
from varbench.core.estimator import Estimator
from varbench.core.noise import Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class MeasureValued(Estimator):
    """Weak-derivative gradient of ``E_{N(μ, σ²)}[f]`` per coordinate, with coupled positive/negative parts.

    Reference: Mohamed, Rosca, Figurnov & Mnih (2020), JMLR, §6 (Table 1: the Gaussian's weak derivatives), with
    the coupling of §6.4. For coordinate i, with the other coordinates held at a shared sample ``x ~ q``:

      mean:  (f(x; x_i = μ_i + σ_i W) − f(x; x_i = μ_i − σ_i W)) / (σ_i √(2π)),   W ~ Rayleigh(1)
      scale: (f(x; x_i = μ_i + σ_i M) − f(x; x_i = μ_i + σ_i M U)) / σ_i,          M ~ double-sided Maxwell,
             U ~ Uniform(0, 1); ``M·U`` is standard normal, so both parts share M (coupling).

    The gradient w.r.t. ``log_scale`` is σ times the gradient w.r.t. σ. Applies to location-scale Gaussian
    problems whose cost does not depend on the parameters (e.g. ``gaussian``); needs no differentiable cost.
    Uses 4·dim cost evaluations per estimate (two per parameter coordinate).
    """

    name = "measure_valued"
    summary = "weak derivative with coupling, Gaussian location-scale only (Mohamed et al. 2020 s6)"

    def check_applies(self, problem: Problem) -> None:
        require(problem, LOCATION_SCALE, "estimator 'measure_valued'", "use score_function or pathwise")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 4 * problem.param_shapes()["mean"][0]

    def noise(self, problem: Problem, params: Params):
        d = params["mean"].shape[0]
        # The shared sample of the other coordinates is only needed when there are other coordinates.
        return {"base": Noise("normal", (d if d > 1 else 0,)), "rayleigh": Noise("rayleigh", (d,)),
                "maxwell": Noise("double_sided_maxwell", (d,)), "uniform": Noise("uniform", (d,))}

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        mu, log_sigma = params["mean"], params["log_scale"]
        sigma = jnp.exp(log_sigma)
        d = mu.shape[0]
        x = mu + sigma * noise["base"] if d > 1 else mu
        eye = jnp.eye(d, dtype=bool)

        def cost_with_coordinate(values: jax.Array) -> jax.Array:
            # Row i is x with coordinate i replaced by values[i]; returns f of each row.
            rows = jnp.where(eye, values[None, :], x[None, :])
            return jax.vmap(problem.cost, in_axes=(None, 0))(params, rows)

        w, m, u = noise["rayleigh"], noise["maxwell"], noise["uniform"]
        grad_mean = (cost_with_coordinate(mu + sigma * w) - cost_with_coordinate(mu - sigma * w)) / (
            sigma * jnp.sqrt(2 * jnp.pi))
        grad_sigma = (cost_with_coordinate(mu + sigma * m) - cost_with_coordinate(mu + sigma * m * u)) / sigma
        return {"mean": grad_mean, "log_scale": sigma * grad_sigma}

"""The measure-valued (weak-derivative) estimator for Gaussian location-scale problems, coupled or not."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.sampling import AveragedSamples

from varbench.core.capabilities import LOCATION_SCALE, require
from varbench.core.estimator import Estimator, State
from varbench.core.noise import Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class MeasureValued(AveragedSamples, Estimator):
    """Weak-derivative gradient of ``E_{N(μ, σ²)}[f]`` per coordinate, from the positive and negative parts.

    Reference: Mohamed, Rosca, Figurnov & Mnih (2020), JMLR, §6 (Table 1: the Gaussian's weak derivatives; §6.4,
    coupling). For coordinate i, with the other coordinates held at a shared sample ``x ~ q``:

      mean:  (f(x; x_i = μ_i + σ_i W⁺) − f(x; x_i = μ_i − σ_i W⁻)) / (σ_i √(2π)),   W^± ~ Rayleigh(1)
      scale: (f(x; x_i = μ_i + σ_i M) − f(x; x_i = μ_i + σ_i ε)) / σ_i,              M ~ double-sided Maxwell,
             ε ~ N(0, 1).

    ``coupling=true`` (default; §6.4) shares the randomness of the two parts: W⁺ = W⁻ and ε = M·U with
    U ~ Uniform(0, 1) (M·U is standard normal). ``coupling=false`` draws W⁺, W⁻ and ε independently, as optax's
    ``measure_valued_jacobians`` does (Mohamed et al. 2020, §6.3). Both are unbiased.

    The gradient w.r.t. ``log_scale`` is σ times the gradient w.r.t. σ. Applies to location-scale Gaussian
    problems whose cost does not depend on the parameters (e.g. ``gaussian``); needs no differentiable cost.
    Uses 4·dim cost evaluations per sample (two per parameter coordinate), times ``samples``.
    ``measure_valued:control_variate=delta`` wraps it in
    :class:`~varbench.estimators.control_variates.DeltaControlVariate`.
    """

    name = "measure_valued"
    summary = "weak derivative, coupled or not, Gaussian location-scale only (Mohamed et al. 2020 s6)"

    samples: int = option(1, "K samples per estimate, averaged", kind=int, minimum=1)
    coupling: bool = option(True, "share the randomness of the positive and negative parts (s6.4)",
                            choices=(True, False), kind=bool)

    def check_applies(self, problem: Problem) -> None:
        require(problem, LOCATION_SCALE, "estimator 'measure_valued'", "use score_function or pathwise")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples * 4 * problem.param_shapes()["mean"][0]

    def single_noise(self, problem: Problem, params: Params) -> dict:
        """The noise of one sample: the shared draw of the other coordinates and the parts' variates, each (d,)."""
        d = params["mean"].shape[0]
        # The shared sample of the other coordinates is only needed when there are other coordinates.
        noise = {"base": Noise("normal", (d if d > 1 else 0,)), "rayleigh": Noise("rayleigh", (d,)),
                 "maxwell": Noise("double_sided_maxwell", (d,))}
        if self.coupling:
            return noise | {"uniform": Noise("uniform", (d,))}
        return noise | {"rayleigh_minus": Noise("rayleigh", (d,)), "normal": Noise("normal", (d,))}

    def single_estimate(self, problem: Problem, params: Params, state: State, noise: dict) -> Params:
        """The estimate from ONE sample's noise (no leading axis; :meth:`single_noise`), per coordinate."""
        mu, log_sigma = params["mean"], params["log_scale"]
        sigma = jnp.exp(log_sigma)
        d = mu.shape[0]
        x = mu + sigma * noise["base"] if d > 1 else mu
        eye = jnp.eye(d, dtype=bool)

        def cost_with_coordinate(values: jax.Array) -> jax.Array:
            # Row i is x with coordinate i replaced by values[i]; returns f of each row.
            rows = jnp.where(eye, values[None, :], x[None, :])
            return jax.vmap(problem.cost, in_axes=(None, 0))(params, rows)

        w_plus, m = noise["rayleigh"], noise["maxwell"]
        w_minus = w_plus if self.coupling else noise["rayleigh_minus"]
        eps = m * noise["uniform"] if self.coupling else noise["normal"]
        grad_mean = (cost_with_coordinate(mu + sigma * w_plus) - cost_with_coordinate(mu - sigma * w_minus)) / (
            sigma * jnp.sqrt(2 * jnp.pi))
        grad_sigma = (cost_with_coordinate(mu + sigma * m) - cost_with_coordinate(mu + sigma * eps)) / sigma
        return {"mean": grad_mean, "log_scale": sigma * grad_sigma}

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        estimates = jax.vmap(lambda n: self.single_estimate(problem, params, state, n))(noise)
        return jax.tree_util.tree_map(lambda e: jnp.mean(e, 0), estimates)

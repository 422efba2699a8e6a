"""DisARM: ARM with the augmentation integrated out analytically."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators.relaxations import AntitheticBinary, antithetic_pair
from problems.base import Params, Problem
from varbench.pytree import pytree_dataclass
from varbench.registry import register_estimator


@register_estimator
@pytree_dataclass
class DisARM(AntitheticBinary):
    """``g_i = ½ [f(b) − f(b̃)] (−1)^{b̃_i} 1[b_i ≠ b̃_i] σ(|φ_i|)`` with the antithetic pair from ``u ~ U(0, 1)^dim``.

    Reference: Dong, Mnih & Tucker (2020), "DisARM: An Antithetic Gradient Estimator for Binary Latent
    Variables", NeurIPS, eq. (5): ``b = 1[u < σ(φ)]``, ``b̃ = 1[1 − u < σ(φ)]``; it is ARM Rao-Blackwellized
    over the augmentation given (b, b̃), so its variance is never larger than ARM's.

    Assumptions: binary latents only (problem ``bernoulli``; categorical problems are refused), cost
    independent of the logits. Uses 2 cost evaluations per estimate. Exact mode integrates piecewise at the
    thresholds σ(±φ) (the estimate is piecewise constant in u).
    """

    name = "disarm"
    summary = "antithetic ARM, Rao-Blackwellized, binary latents (Dong, Mnih & Tucker 2020)"

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        logits = params["logits"]
        b, b_tilde = antithetic_pair(logits, noise)
        difference = problem.cost(params, b) - problem.cost(params, b_tilde)
        sign = 1 - 2 * b_tilde
        return {"logits": 0.5 * difference * sign * (b != b_tilde) * jax.nn.sigmoid(jnp.abs(logits))}

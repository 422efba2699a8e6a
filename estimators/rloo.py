"""REINFORCE with the leave-one-out baseline of Kool, van Hoof & Welling (2019)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.score_function import direct_term, per_sample_scores

from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class RLOO(Estimator):
    """``(1/(K − 1)) Σ_k ∇_θ log q_θ(x_k) (f(x_k) − f̄)``, ``f̄ = (1/K) Σ_j f(x_j)``, x_k ~ q_θ i.i.d.

    Reference: Kool, van Hoof & Welling (2019), "Buy 4 REINFORCE Samples, Get a Baseline for Free!", ICLR
    workshop DeepRLStructPred, eq. (9). Each sample's baseline is the mean of the other K − 1 costs, which is
    independent of it, so the estimate is unbiased; written with f̄ it is the same estimator as
    ``score_function:baseline=mean``.

    Applies to every problem with ``log_prob`` (continuous or discrete). Needs K ≥ 2. Uses K cost evaluations
    per estimate.
    """

    name = "rloo"
    summary = "REINFORCE leave-one-out, K samples (Kool, van Hoof & Welling 2019)"

    samples: int = option(4, "K >= 2 samples per estimate", kind=int, minimum=2)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> Any:
        return batched_noise(problem.latent_noise(params), self.samples)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        xs = jax.lax.stop_gradient(jax.vmap(problem.latent, in_axes=(None, 0))(params, noise))
        f = jax.lax.stop_gradient(jax.vmap(problem.cost, in_axes=(None, 0))(params, xs))
        centred = f - jnp.mean(f)
        scores = per_sample_scores(problem, params, xs)
        grads = jax.tree_util.tree_map(
            lambda s: jnp.tensordot(centred, s, axes=1) / (self.samples - 1), scores)
        return jax.tree_util.tree_map(jnp.add, grads, direct_term(problem, params, xs))

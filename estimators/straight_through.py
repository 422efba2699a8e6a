"""The straight-through estimator: the hard sample forward, the probabilities' derivative backward."""

from __future__ import annotations

from typing import Any

import jax
from varbench.estimators.relaxations import (
    RelaxedPathwise,
    draw_latents,
    latent_noise,
    probabilities,
)

from varbench.core.problem import Params, Problem
from varbench.core.pytree import pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class StraightThrough(RelaxedPathwise):
    """``∇_φ f(b + p(φ) − stop_gradient(p(φ)))``, i.e. ``∂f/∂b |_b · ∂p/∂φ`` with b sampled, ``p = E[b]``.

    References: Bengio, Léonard & Courville (2013), "Estimating or Propagating Gradients Through Stochastic
    Neurons for Conditional Computation", arXiv:1308.3432, §4; Jang, Gu & Poole (2017), §2.2 (categorical).

    BIASED (exact only for costs linear in b, such as ``categorical``'s). On ``sbn`` the surrogate is the whole
    per-point cost with b replaced by ``b + σ(φ) − stop_gradient(σ(φ))``, differentiated in all params.
    Assumptions: Bernoulli or categorical latents whose cost is differentiable on relaxed values (problems
    ``bernoulli``, ``categorical``, ``sbn``). Uses 1 cost evaluation (with its gradient) per estimate. Its noise is
    the latent itself when the logits do not depend on a random minibatch, so exact mode enumerates.
    """

    name = "straight_through"
    summary = "straight-through: hard sample forward, gradient of E(b) = probs backward (Bengio et al. 2013)"

    def noise(self, problem: Problem, params: Params) -> Any:
        return latent_noise(problem, params)

    def surrogate_latents(self, problem: Problem, logits: jax.Array, noise: dict) -> jax.Array:
        """``b + p(φ) − stop_gradient(p(φ))``: the hard sample b forward, the gradient of ``p = E[b]`` backward.

        Args:
          problem: a discrete problem (binary or categorical relaxation).
          logits: φ, of any shape ``S`` (``problem.latent_logits``).
          noise: :func:`latent_noise`'s dict (the enumerated latents ``b``, or uniforms ``u``).

        Returns:
          The surrogate latents, shape ``S``, equal to b in value (Bengio et al. 2013, §4).
        """
        b = jax.lax.stop_gradient(draw_latents(problem, logits, noise))
        probs = probabilities(problem, logits)
        return b + probs - jax.lax.stop_gradient(probs)

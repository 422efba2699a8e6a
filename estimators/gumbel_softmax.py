"""The Gumbel-softmax (Concrete) relaxation: a biased pathwise gradient for discrete latents."""

from __future__ import annotations

from typing import Any

import jax
from varbench.estimators.relaxations import (
    RelaxedPathwise,
    logit_noise,
    relaxed_sample,
    soften,
)

from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class GumbelSoftmax(RelaxedPathwise):
    """``∇_φ f(soften(z(φ, u), τ))``: the pathwise gradient of the cost at the relaxed latent.

    References: Jang, Gu & Poole (2017), "Categorical Reparameterization with Gumbel-Softmax", ICLR, eq. (1);
    Maddison, Mnih & Teh (2017), "The Concrete Distribution", ICLR (binary Concrete: ``σ((φ + logit u)/τ)``).

    BIASED: it differentiates ``E[f(relaxed z)]``, not ``E[f(b)]``; the bias vanishes as τ → 0 while the
    variance grows. On ``sbn`` the relaxed cost is the whole per-point cost −log p(x, ·) + log q(· | x) with every
    Bernoulli log-mass extended affinely to [0, 1] (as REBAR's control variate), differentiated in all params.
    Assumptions: Bernoulli or categorical latents whose cost extends to relaxed values (problems ``bernoulli``,
    ``categorical``, ``sbn``). Uses 1 cost evaluation (at the relaxed latent) per estimate.
    """

    name = "gumbel_softmax"
    summary = "Concrete / Gumbel-softmax relaxation, pathwise through soft samples (Jang et al. 2017)"

    temperature: float = option(0.5, "tau > 0 of the relaxation", static=False, kind=float, minimum=1e-6)

    def noise(self, problem: Problem, params: Params) -> Any:
        return logit_noise(problem, params)

    def surrogate_latents(self, problem: Problem, logits: jax.Array, noise: dict) -> jax.Array:
        """The relaxed latent σ(z/τ) or softmax(z/τ) of the logistic/Gumbel sample z (Jang et al. 2017, eq. (1)).

        Args:
          problem: a discrete problem (binary or categorical relaxation).
          logits: φ, of any shape ``S`` (``problem.latent_logits``).
          noise: :func:`logit_noise`'s dict; its uniforms ``noise["u"]`` have shape ``S``.

        Returns:
          The relaxed latents, shape ``S``, differentiable in the logits.
        """
        return soften(problem, relaxed_sample(problem, logits, noise["u"]), self.temperature)

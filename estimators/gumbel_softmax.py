"""The Gumbel-softmax (Concrete) relaxation: a biased pathwise gradient for discrete latents."""

from __future__ import annotations

import jax

from estimators.base import Estimator
from estimators.relaxations import relaxation_of, relaxed_sample, soften, uniform_noise
from problems.base import Params, Problem
from varbench.pytree import option, pytree_dataclass
from varbench.registry import register_estimator


@register_estimator
@pytree_dataclass
class GumbelSoftmax(Estimator):
    """``∇_φ f(soften(z(φ, u), τ))``: the pathwise gradient of the cost at the relaxed latent.

    References: Jang, Gu & Poole (2017), "Categorical Reparameterization with Gumbel-Softmax", ICLR, eq. (1);
    Maddison, Mnih & Teh (2017), "The Concrete Distribution", ICLR (binary Concrete: ``σ((φ + logit u)/τ)``).

    BIASED: it differentiates ``E[f(relaxed z)]``, not ``E[f(b)]``; the bias vanishes as τ → 0 while the
    variance grows. Assumptions: Bernoulli or categorical latents whose cost extends to relaxed values
    (problems ``bernoulli``, ``categorical``). Uses 1 cost evaluation (at the relaxed latent) per estimate.
    """

    name = "gumbel_softmax"
    summary = "Concrete / Gumbel-softmax relaxation, pathwise through soft samples (Jang et al. 2017)"
    unbiased = False

    temperature: float = option(0.5, "tau > 0 of the relaxation", static=False, kind=float, minimum=1e-6)

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 1

    def noise(self, problem: Problem, params: Params):
        return uniform_noise(problem, params)

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        def relaxed_cost(p: Params) -> jax.Array:
            return problem.cost(p, soften(problem, relaxed_sample(problem, p["logits"], noise), self.temperature))

        return jax.grad(relaxed_cost)(params)

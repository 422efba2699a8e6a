"""ARM: the augment-REINFORCE-merge estimator for Bernoulli latents."""

from __future__ import annotations

from estimators.relaxations import AntitheticBinary, antithetic_pair
from problems.base import Params, Problem
from varbench.pytree import pytree_dataclass
from varbench.registry import register_estimator


@register_estimator
@pytree_dataclass
class ARM(AntitheticBinary):
    """``g_i = [f(1[u > σ(−φ)]) − f(1[u < σ(φ)])] (u_i − 1/2)``, ``u ~ U(0, 1)^dim``.

    Reference: Yin & Zhou (2019), "ARM: Augment-REINFORCE-Merge Gradient for Stochastic Binary Networks",
    ICLR, Theorem 1 / eq. (5). Unbiased for Bernoulli latents with logits φ.

    Assumptions: binary latents only (problem ``bernoulli``; ARM's categorical extension ARSM is not
    implemented, so categorical problems are refused), cost independent of the logits. Uses 2 cost
    evaluations per estimate. Exact mode integrates over u piecewise at the thresholds σ(±φ), where the
    estimate jumps; between them it is linear in u, so Gauss–Legendre is exact.
    """

    name = "arm"
    summary = "augment-REINFORCE-merge, binary latents (Yin & Zhou 2019)"

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        # b̃ = 1[1 − u < σ(φ)] = 1[u > σ(−φ)]: ARM's two evaluations are at the antithetic pair.
        b, b_tilde = antithetic_pair(params["logits"], noise)
        difference = problem.cost(params, b_tilde) - problem.cost(params, b)
        return {"logits": difference * (noise - 0.5)}

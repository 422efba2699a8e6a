"""ARM: the augment-REINFORCE-merge estimator for Bernoulli latents."""

from __future__ import annotations

import jax
from varbench.estimators.relaxations import AntitheticBinary

from varbench.core.pytree import pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class ARM(AntitheticBinary):
    """``g_i = [f(1[u > σ(−φ)]) − f(1[u < σ(φ)])] (u_i − 1/2)``, ``u ~ U(0, 1)^dim``.

    Reference: Yin & Zhou (2019), "ARM: Augment-REINFORCE-Merge Gradient for Stochastic Binary Networks",
    ICLR, Theorem 1 / eq. (5). Unbiased for Bernoulli latents with logits φ.

    On amortized problems (``sbn``) the logits are the encoder's per data point and f is that point's cost (its
    local learning signal); the logit gradient is pulled back through the encoder and the direct gradient (the
    decoder's, and for K > 1 particles the bound's own encoder term; see :mod:`varbench.problems.discrete`) is averaged
    over the two antithetic draws, each of which is distributed as q (Yin & Zhou 2019, §4; Dong et al. 2020, §5).

    Assumptions: binary latents only (problems ``bernoulli``, ``sbn``; ARM's categorical extension ARSM is not
    implemented, so categorical problems are refused). Uses 2 cost evaluations per estimate. Exact mode
    integrates over u piecewise at the thresholds σ(±φ), where the estimate jumps; between them it is linear in
    u, so Gauss–Legendre is exact (with minibatches the thresholds are random and exact mode does not apply).
    """

    name = "arm"
    summary = "augment-REINFORCE-merge, binary latents (Yin & Zhou 2019)"

    def logit_gradient(self, logits: jax.Array, u: jax.Array, b: jax.Array, b_tilde: jax.Array,
                       difference: jax.Array) -> jax.Array:
        """ARM's estimate for the logits, ``[f(b̃) − f(b)] (u − 1/2)`` (Yin & Zhou 2019, eq. (5)).

        Args:
          logits: φ, of any shape ``S`` (``problem.latent_logits``; unused here).
          u: the uniforms, shape ``S``.
          b: ``1[u < σ(φ)]``, shape ``S`` (unused here).
          b_tilde: ``1[1 − u < σ(φ)] = 1[u > σ(−φ)]``, shape ``S`` (unused here).
          difference: ``f(b̃) − f(b)`` per cost unit, broadcast against the logits.

        Returns:
          The gradient estimate for the logits, shape ``S``.
        """
        # b̃ = 1[1 − u < σ(φ)] = 1[u > σ(−φ)]: ARM's two evaluations are at the antithetic pair.
        return difference * (u - 0.5)

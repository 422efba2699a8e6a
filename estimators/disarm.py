"""DisARM: ARM with the augmentation integrated out analytically."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from varbench.estimators.relaxations import AntitheticBinary

from varbench.core.pytree import pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class DisARM(AntitheticBinary):
    """``g_i = ½ [f(b) − f(b̃)] (−1)^{b̃_i} 1[b_i ≠ b̃_i] σ(|φ_i|)`` with the antithetic pair from ``u ~ U(0, 1)^dim``.

    Reference: Dong, Mnih & Tucker (2020), "DisARM: An Antithetic Gradient Estimator for Binary Latent
    Variables", NeurIPS, eq. (5): ``b = 1[u < σ(φ)]``, ``b̃ = 1[1 − u < σ(φ)]``; it is ARM Rao-Blackwellized
    over the augmentation given (b, b̃), so its variance is never larger than ARM's.

    On amortized problems (``sbn``) the logits are the encoder's per data point and f is that point's cost, as in
    the paper's VAE experiments (§5); the logit gradient is pulled back through the encoder and the direct gradient
    (decoder; for K > 1 particles also the bound's own encoder term) is averaged over b and b̃.

    Assumptions: binary latents only (problems ``bernoulli``, ``sbn``; categorical problems are refused). Uses 2
    cost evaluations per estimate. Exact mode integrates piecewise at the thresholds σ(±φ) (the estimate is
    piecewise constant in u) when the logits do not depend on a random minibatch.
    """

    name = "disarm"
    summary = "antithetic ARM, Rao-Blackwellized, binary latents (Dong, Mnih & Tucker 2020)"

    def logit_gradient(self, logits: jax.Array, u: jax.Array, b: jax.Array, b_tilde: jax.Array,
                       difference: jax.Array) -> jax.Array:
        """DisARM's logit estimate ``½ [f(b) − f(b̃)] (−1)^{b̃} 1[b ≠ b̃] σ(|φ|)`` (Dong et al. 2020, eq. (5)).

        Args:
          logits: φ, of any shape ``S`` (``problem.latent_logits``).
          u: the uniforms, shape ``S`` (unused: DisARM integrates the augmentation out).
          b: ``1[u < σ(φ)]``, shape ``S``.
          b_tilde: ``1[1 − u < σ(φ)]``, shape ``S``.
          difference: ``f(b̃) − f(b)`` per cost unit, broadcast against the logits.

        Returns:
          The gradient estimate for the logits, shape ``S``.
        """
        # ½ [f(b) − f(b̃)] (−1)^{b̃} 1[b ≠ b̃] σ(|φ|), with f(b) − f(b̃) = −difference
        sign = 1 - 2 * b_tilde
        return -0.5 * difference * sign * (b != b_tilde) * jax.nn.sigmoid(jnp.abs(logits))

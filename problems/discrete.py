"""The interface that the discrete-latent estimators (ARM, DisARM, REBAR, RELAX, Gumbel-softmax, straight-through)
use: latents are independent Bernoulli or one-hot categorical variables with *logits*.

A problem with this structure sets ``relaxation`` (``"binary"``: b ~ Bernoulli(σ(logit)); ``"categorical"``:
one-hot b ~ Categorical(softmax(logits)) over the last axis) and provides four hooks:

* ``context_noise()`` — the noise the logits depend on besides the params (an amortized problem's minibatch
  rows; ``{}`` when there is none);
* ``latent_logits(params, context)`` — the logits of every latent, an array whose leading ``cost_unit_axes``
  axes index *cost units* (data points of a minibatch; none for the toys);
* ``unit_costs(params, context, b)`` — the cost of latents ``b`` (shaped like the logits, or relaxed values in
  [0, 1] / on the simplex) per cost unit, shape ``logits.shape[:cost_unit_axes]``; unit u depends only on the
  latents of unit u, and the costs sum to the cost of the draw;
* ``direct_surrogate(params, context, b)`` — a scalar whose gradient at fixed b is the *direct* part of the
  gradient (how the cost depends on the params with the latents held fixed), with any zero-mean part dropped.

The estimators compute a gradient for the logits per unit (learning signals are local: unit u's cost only), pull
it back to the params through ``jax.vjp`` of ``latent_logits``, and add the direct gradient. For the toys the
logits are a parameter and the cost does not depend on the params, so the pull-back is the identity and the
direct gradient is zero.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from varbench.core.problem import Params


class IndependentLogits:
    """Mixin for problems whose params ``{"logits": ...}`` are the logits and whose cost is one unit."""

    #: ``"binary"`` or ``"categorical"``; see the module docstring
    relaxation: ClassVar[str] = "binary"
    #: leading axes of the logits that index cost units
    cost_unit_axes: ClassVar[int] = 0

    def context_noise(self) -> dict:
        return {}

    def latent_logits(self, params: Params, context: Any) -> jax.Array:
        return params["logits"]

    def unit_costs(self, params: Params, context: Any, b: jax.Array) -> jax.Array:
        return self.cost(params, b)

    def direct_surrogate(self, params: Params, context: Any, b: jax.Array) -> jax.Array:
        return jnp.sum(self.unit_costs(params, context, b))

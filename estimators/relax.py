"""RELAX: a learned control variate, trained to minimise the estimator's variance."""

from __future__ import annotations

from typing import Any

import math

import jax
import jax.numpy as jnp
from varbench.estimators.learning import init_learned, learn_control
from varbench.estimators.relaxations import (
    ConditionalRelaxation,
    control_variate_estimate,
    logits_shape,
    soften,
)

from varbench.core.estimator import State
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


def init_network(key: jax.Array, inputs: int, hidden: int, dtype: Any) -> dict:
    """A one-hidden-layer tanh MLP; the output layer starts at zero, so RELAX starts as REBAR."""
    w1 = jax.random.normal(key, (inputs, hidden), dtype) / jnp.sqrt(jnp.asarray(inputs, dtype))
    return {"w1": w1, "b1": jnp.zeros(hidden, dtype), "w2": jnp.zeros(hidden, dtype), "b2": jnp.zeros((), dtype)}


def network(weights: dict, x: jax.Array) -> jax.Array:
    """The tanh MLP ``r_ρ(x) = w2·tanh(x W1 + b1) + b2`` of RELAX's control variate (Grathwohl et al. 2018).

    Args:
      weights: ``{"w1": (inputs, hidden), "b1": (hidden,), "w2": (hidden,), "b2": ()}`` (:func:`init_network`).
      x: one cost unit's relaxed latents, flattened: shape ``(inputs,)``.

    Returns:
      A scalar.
    """
    return jnp.tanh(x @ weights["w1"] + weights["b1"]) @ weights["w2"] + weights["b2"]


@register_estimator
@pytree_dataclass
class RELAX(ConditionalRelaxation):
    """``[f(b) − c_ψ(z̃)] ∇log p(b) + ∇c_ψ(z) − ∇c_ψ(z̃)``, ``b = H(z)``, ``z̃ ~ p(z | b)``, with a learned c_ψ.

    Reference: Grathwohl, Choi, Wu, Roeder & Duvenaud (2018), "Backpropagation through the Void: Optimizing
    control variates for black-box gradient estimation", ICLR, eq. (8) and Algorithm 2 (discrete latents). As
    in their experiments, ``c_ψ(z) = η f(σ_λ(z)) + r_ρ(σ(z))``: the REBAR control variate plus a small tanh
    network r_ρ (``hidden`` units) of the relaxed sample at temperature 1. ψ = (log λ, η, ρ) is the STATE, trained
    by :meth:`update` with Adam on the estimate's squared norm, whose expectation's gradient is the gradient of
    the variance (the estimator is unbiased for every ψ). ``measure(..., warmup=N)`` trains at the measured
    params; ``varbench trace`` trains along an optimisation.

    On problems with several cost units (``sbn``: one per data point) c_ψ is applied per unit, the network
    seeing that unit's K × L relaxed bits (shared weights across data points, not conditioned on x), so every
    data point gets its own learning signal; the decoder's gradient is the direct one at b.

    Assumptions: Bernoulli or categorical latents with a cost that extends to relaxed values (problems
    ``bernoulli``, ``categorical``, ``sbn``). Uses 3 cost evaluations per estimate (f(b), and f at two relaxed
    samples inside c_ψ) plus 2 network evaluations per unit. Exact mode as for REBAR (at most 4 noise scalars).
    """

    name = "relax"
    summary = "RELAX: learned neural control variate, trained to minimise variance (Grathwohl et al. 2018)"
    stateful = True

    temperature: float = option(0.5, "initial relaxation temperature lambda", static=False, kind=float, minimum=1e-6)
    eta: float = option(1.0, "initial scale eta of the relaxed-cost term", static=False, kind=float)
    hidden: int = option(10, "hidden units of the control-variate network", kind=int, minimum=1)
    lr: float = option(0.01, "Adam learning rate of the control variate", static=False, kind=float, minimum=0.0)
    update_samples: int = option(16, "estimates averaged per variance-gradient step", kind=int, minimum=1)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        shape = logits_shape(problem, params)
        inputs = math.prod(shape[problem.cost_unit_axes:])
        return init_learned({"log_temperature": jnp.log(jnp.asarray(self.temperature, dtype)),
                             "eta": jnp.asarray(self.eta, dtype),
                             "network": init_network(key, inputs, self.hidden, dtype)})

    def estimate_with(self, problem: Problem, params: Params, control: dict, noise: Any) -> Params:
        """The RELAX estimate (Grathwohl et al. 2018, eq. (8)) for given controls, ``c_ψ(z) = η f(σ_λ(z)) + r_ρ(σ(z))``.

        Args:
          problem: a discrete problem (binary or categorical relaxation).
          params: the params.
          control: ψ: ``{"log_temperature": log λ, "eta": η, "network": ρ}`` (the state's ``control``).
          noise: the context and the uniforms ``u`` (for z) and ``v`` (for z̃), each shaped like the logits.

        Returns:
          The gradient estimate, shaped like ``params``; differentiable in ``control`` (for the variance step).
        """
        def c(z: jax.Array) -> jax.Array:
            units = z.shape[:problem.cost_unit_axes]
            per_unit_inputs = soften(problem, z, 1.0).reshape((math.prod(units), -1))
            learned = jax.vmap(lambda x: network(control["network"], x))(per_unit_inputs).reshape(units)
            return self.relaxed_cost(problem, params, noise["context"], control, z) + learned

        return control_variate_estimate(problem, params, noise, c)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self.estimate_with(problem, params, state["control"], noise)

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return learn_control(self, problem, params, state, key)

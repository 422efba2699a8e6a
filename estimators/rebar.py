"""REBAR: REINFORCE with the continuous relaxation as a control variate, made unbiased by conditioning."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.learning import StatefulWhen, init_learned, learn_control
from varbench.estimators.relaxations import (
    ConditionalRelaxation,
    control_variate_estimate,
)

from varbench.core.estimator import State
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

TUNING = ("fixed", "variance")


@register_estimator
@pytree_dataclass
class REBAR(ConditionalRelaxation):
    """``[f(b) − η f(σ_λ(z̃))] ∇log p(b) + η ∇f(σ_λ(z)) − η ∇f(σ_λ(z̃))``, ``b = H(z)``, ``z̃ ~ p(z | b)``.

    Reference: Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), "REBAR: Low-variance, unbiased gradient
    estimates for discrete latent variable models", NeurIPS, eq. (6) (binary) and App. C (categorical, with the
    conditional Gumbel sample). σ_λ is the Concrete relaxation at temperature λ (sigmoid or softmax of z/λ).
    Unbiased for every (λ, η).

    ``tune=fixed`` uses the options ``temperature`` and ``eta``. ``tune=variance`` starts from them and learns
    (log λ, η) by Adam steps on the estimate's squared norm — an unbiased estimate of the gradient of its
    variance (§3.3) — in :meth:`update` (stateful: ``measure(..., warmup=N)``, ``varbench trace``).

    On ``sbn`` each data point's logits get their own signal ``f_b(b) − η f_b(σ_λ(z̃))``, the estimate is pulled
    back through the encoder, and the decoder's gradient is the direct one at b (Tucker et al. 2017, §6.2).

    Assumptions: Bernoulli or categorical latents with a cost that extends to relaxed values (problems
    ``bernoulli``, ``categorical``, ``sbn``). Uses 3 cost evaluations per estimate: f(b), f(σ_λ(z)), f(σ_λ(z̃)).
    Exact mode integrates over u (piecewise, at the jump u = σ(−φ)) and v when at most 4 scalars are involved.
    """

    name = "rebar"
    summary = "REBAR: relaxation control variate made unbiased by conditioning (Tucker et al. 2017)"

    temperature: float = option(0.5, "lambda > 0, relaxation temperature (initial value if tuned)", static=False,
                                kind=float, minimum=1e-6)
    eta: float = option(1.0, "eta, control-variate scale (initial value if tuned)", static=False, kind=float)
    tune: str = option("fixed", "fixed, or variance: learn (lambda, eta) by minimising variance (stateful)",
                       choices=TUNING, kind=str)
    lr: float = option(0.01, "Adam learning rate of tune=variance", static=False, kind=float, minimum=0.0)
    update_samples: int = option(16, "estimates averaged per variance-gradient step", kind=int, minimum=1)

    stateful = StatefulWhen(lambda self: self.tune == "variance")

    def initial_control(self, dtype: Any) -> dict:
        """REBAR's control parameters at the options' values: ``{"log_temperature": log λ, "eta": η}``.

        Args:
          dtype: the dtype of the params.

        Returns:
          The scalar controls (used as is with ``tune=fixed``; the starting point with ``tune=variance``).
        """
        return {"log_temperature": jnp.log(jnp.asarray(self.temperature, dtype)), "eta": jnp.asarray(self.eta, dtype)}

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        if self.tune == "fixed":
            return ()
        return init_learned(self.initial_control(jax.tree_util.tree_leaves(params)[0].dtype))

    def estimate_with(self, problem: Problem, params: Params, control: dict, noise: Any) -> Params:
        """The REBAR estimate (Tucker et al. 2017, eq. (6)) for given controls, control variate ``c(z) = η f(σ_λ(z))``.

        Args:
          problem: a discrete problem (binary or categorical relaxation).
          params: the params.
          control: ``{"log_temperature": log λ, "eta": η}`` (:meth:`initial_control`, or the learned ones).
          noise: the context and the uniforms ``u`` (for z) and ``v`` (for z̃), each shaped like the logits.

        Returns:
          The gradient estimate, shaped like ``params``; differentiable in ``control`` (for the variance step).
        """
        return control_variate_estimate(
            problem, params, noise, lambda z: self.relaxed_cost(problem, params, noise["context"], control, z))

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        control = self.initial_control(dtype) if self.tune == "fixed" else state["control"]
        return self.estimate_with(problem, params, control, noise)

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return state if self.tune == "fixed" else learn_control(self, problem, params, state, key)

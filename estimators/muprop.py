"""MuProp: the score function with a first-order Taylor control variate at the mean-field latents."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.relaxations import (
    add,
    direct_gradient,
    draw_latents,
    latent_noise,
    logits_and_pullback,
    per_unit,
    probabilities,
    relaxation_of,
    score_of_logits,
)

from varbench.core.estimator import Estimator, State
from varbench.core.problem import Params, Problem
from varbench.core.pytree import pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class MuProp(Estimator):
    """``[f(b) − f̃(b)] ∇_φ log p(b) + J_μ̄(φ)ᵀ ∇f(μ̄)`` per cost unit, with ``f̃(b) = f(μ̄) + ∇f(μ̄)·(b − μ̄)``.

    Reference: Gu, Levine, Sutskever & Mnih (2016), "MuProp: Unbiased Backpropagation for Stochastic Neural
    Networks", ICLR, eq. (4)–(5) (one stochastic layer): the control variate is the first-order Taylor expansion of
    the cost at the mean-field point μ̄ = E[b] (σ(φ) for binary latents, softmax(φ) for one-hot categorical ones),
    held fixed; its expectation is f(μ̄) + ∇f(μ̄)·(E_φ[b] − μ̄), whose gradient ``J_μ̄(φ)ᵀ ∇f(μ̄)`` is added back
    (the deterministic "mean-field backpropagation" term). Unbiased for any cost that extends to relaxed latents;
    a cost linear in b (e.g. ``categorical``) is its own expansion, so the estimate has variance 0.

    Per cost unit (data points of ``sbn``): unit u's learning signal uses unit u's cost and expansion only; the logit
    gradient is pulled back through the encoder and the direct gradient at b is added (``problems/discrete.py``).
    Omitted from the paper: its learned input-dependent baseline and variance normalisation (NVIL's, available as
    ``nvil``). Assumptions: Bernoulli or categorical latents with logits whose cost accepts relaxed latents. Uses 2
    cost evaluations per estimate: f(b), and f with its gradient at μ̄.
    """

    name = "muprop"
    summary = "score function with a first-order Taylor control variate at the mean field (Gu et al. 2016)"

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 2

    def noise(self, problem: Problem, params: Params) -> Any:
        return latent_noise(problem, params)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        context = noise["context"]
        logits, pullback = logits_and_pullback(problem, params, context)
        b = jax.lax.stop_gradient(draw_latents(problem, logits, noise))
        fixed = jax.lax.stop_gradient(params)
        mean_field = jax.lax.stop_gradient(probabilities(problem, logits))
        unit_costs = lambda z: problem.unit_costs(fixed, context, z)
        f_b = unit_costs(b)
        # Unit u's cost depends on unit u's latents only, so the gradient of the sum holds each unit's gradient.
        f_mean, grad_mean = unit_costs(mean_field), jax.grad(lambda z: jnp.sum(unit_costs(z)))(mean_field)
        linear = grad_mean * (b - mean_field)
        units = problem.cost_unit_axes
        taylor = f_mean + jnp.sum(linear.reshape(linear.shape[:units] + (-1,)), -1)
        signal = per_unit(jax.lax.stop_gradient(f_b - taylor), logits) * score_of_logits(problem, logits, b)
        # ∇_φ of E_φ[f̃] = ∇f(μ̄)·E_φ[b] (μ̄ and ∇f(μ̄) fixed): the mean-field term.
        _, mean_vjp = jax.vjp(lambda l: probabilities(problem, l), logits)
        (mean_field_term,) = mean_vjp(jax.lax.stop_gradient(grad_mean))
        return add(pullback(signal + mean_field_term), direct_gradient(problem, params, context, b))

"""Double control variates: RLOO for discrete latents with a second, Taylor-expansion control variate."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.learning import init_learned, learn_control
from varbench.estimators.relaxations import (
    add,
    direct_gradient,
    draw_latents,
    latent_noise,
    logits_and_pullback,
    per_unit,
    probabilities,
    relaxation_of,
)

from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


def leave_one_out_mean(values: jax.Array) -> jax.Array:
    """``(Σ_j v_j − v_k) / (K − 1)`` for each k along the leading (sample) axis."""
    k = values.shape[0]
    return (jnp.sum(values, 0, keepdims=True) - values) / (k - 1)


def covariance_times(problem: Problem, probs: jax.Array, g: jax.Array) -> jax.Array:
    """``Cov(b) g`` per latent variable: ``θ(1 − θ) g`` (binary), ``p ⊙ g − p (pᵀg)`` (one-hot categorical).

    This is ``E[(gᵀ(b − E b)) ∇_φ log q(b)]`` for a g that does not depend on b: the closed-form gradient of the
    expectation of the linear (Taylor) control variate.
    """
    if problem.relaxation == "binary":
        return probs * (1 - probs) * g
    return probs * g - probs * jnp.sum(probs * g, -1, keepdims=True)


def sum_within_units(problem: Problem, values: jax.Array) -> jax.Array:
    """Sums a per-latent array (leading sample axis, then the logits' shape) over each cost unit's latents."""
    keep = 1 + problem.cost_unit_axes
    return jnp.sum(values, axis=tuple(range(keep, values.ndim)))


@register_estimator
@pytree_dataclass
class DoubleCV(Estimator):
    """RLOO with a global Taylor control variate: per cost unit, K latents b_k ~ q i.i.d., θ = E[b], and

        ĝ_φ = (1/K) Σ_k [(f_k − α h_k) − (1/(K−1)) Σ_{j≠k} (f_j − α h_j)] (b_k − θ) + α Cov(b) ḡ,
        h_k = ḡ_{−k}ᵀ (b_k − θ),   g_j = ∇_b f(b_j),   ḡ_{−k} = mean_{j≠k} g_j,   ḡ = mean_j g_j.

    Reference: Titsias & Shi (2022), "Double Control Variates for Gradient Estimation in Discrete Latent Variable
    Models", AISTATS, §3 (the double control variate for the REINFORCE leave-one-out estimator). RLOO's baseline
    is the first control variate; the second is the first-order Taylor expansion of the cost f around the mean
    θ, ``f(b) ≈ f(θ) + ∇f(θ)ᵀ(b − θ)``, with ∇f(θ) replaced by the leave-one-out mean of ∇_b f at the other
    samples (as in the authors' released code; it needs nothing beyond the K samples' backward passes). As
    ḡ_{−k} is independent of b_k, ``E[h_k (b_k − θ)] = Cov(b) E[ḡ_{−k}]``, which ``α Cov(b) ḡ`` matches in
    expectation; every cross term in the baselines carries another sample's zero-mean ``b_j − θ``. So the
    estimator is unbiased for every α. Written here from this derivation (our own code).

    α is the STATE (as the authors, one scalar learned online): :meth:`update` takes an Adam step on the
    estimate's squared norm, whose expectation's gradient is the variance's (the estimate is linear in α, so the
    variance is a parabola in α). It starts at ``alpha``; ``measure(..., warmup=N)`` trains it at the measured
    params and ``varbench trace`` along an optimisation. With α = 0 it is RLOO with per-unit baselines.

    On problems with several cost units (``sbn``: one per data point) the K samples share one minibatch and
    each data point gets its own baselines and Taylor term (the paper's K samples per data point); the decoder's
    gradient is the direct one averaged over the K samples.

    Assumptions: independent Bernoulli or one-hot categorical latents (problems ``bernoulli``, ``categorical``,
    ``sbn``) with a cost that extends to relaxed values and is differentiable in them (for ∇_b f). Needs K ≥ 2.
    Uses K cost evaluations per estimate, each with one backward pass in the latents. Exact mode enumerates the
    K draws (2^(K·latents) configurations for binary latents) when the logits do not depend on a minibatch.
    """

    name = "double_cv"
    summary = "RLOO + Taylor-expansion global control variate, learned alpha (Titsias & Shi 2022)"
    stateful = True

    samples: int = option(4, "K >= 2 samples per estimate (per data point)", kind=int, minimum=2)
    alpha: float = option(0.0, "initial scale alpha of the Taylor control variate (state; learned)",
                          static=False, kind=float)
    lr: float = option(0.01, "Adam learning rate of alpha", static=False, kind=float, minimum=0.0)
    update_samples: int = option(16, "estimates averaged per variance-gradient step", kind=int, minimum=1)

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> dict:
        base = latent_noise(problem, params)
        # One context (minibatch) shared by the K draws: the baselines are per data point.
        return {key: value if key == "context" else batched_noise(value, self.samples)
                for key, value in base.items()}

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return init_learned(jnp.asarray(self.alpha, dtype))

    def estimate_with(self, problem: Problem, params: Params, alpha: jax.Array, noise: dict) -> Params:
        """The double-CV estimate for a given α.

        Args:
          problem: a discrete problem (binary or categorical latents).
          params: the params.
          alpha: the scale α of the Taylor control variate (a scalar; the estimate is linear in it).
          noise: the shared context and K draws of the latents (:meth:`noise`).

        Returns:
          The gradient estimate, shaped like ``params``; differentiable in ``alpha``.
        """
        context = noise["context"]
        logits, pullback = logits_and_pullback(problem, params, context)
        draws = {key: value for key, value in noise.items() if key != "context"}
        b = jax.lax.stop_gradient(jax.vmap(lambda d: draw_latents(problem, logits, d))(draws))  # (K, *logits)
        fixed = jax.lax.stop_gradient(params)

        def cost_and_gradient(bk: jax.Array) -> tuple[jax.Array, jax.Array]:
            f, vjp = jax.vjp(lambda x: problem.unit_costs(fixed, context, x), bk)
            return f, vjp(jnp.ones_like(f))[0]  # units depend only on their own latents

        f, g = jax.lax.stop_gradient(jax.vmap(cost_and_gradient)(b))  # (K, *units), (K, *logits)
        probs = jax.lax.stop_gradient(probabilities(problem, logits))
        centred = b - probs  # ∇_φ log q(b_k) per latent
        h = sum_within_units(problem, leave_one_out_mean(g) * centred)  # Taylor term per sample and unit
        signal = f - alpha * h
        signal = signal - leave_one_out_mean(signal)
        g_logits = jnp.mean(per_unit(signal, centred) * centred, 0) + alpha * covariance_times(
            problem, probs, jnp.mean(g, 0))
        return add(pullback(g_logits), direct_gradient(problem, params, context, *b))

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self.estimate_with(problem, params, state["control"], noise)

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return learn_control(self, problem, params, state, key)

"""REINFORCE with the leave-one-out baseline of Kool, van Hoof & Welling (2019)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.score_function import direct_term

from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


@register_estimator
@pytree_dataclass
class RLOO(Estimator):
    """``(1/(K − 1)) Σ_k ∇_θ log q_θ(x_k) (f(x_k) − f̄)``, ``f̄ = (1/K) Σ_j f(x_j)``, x_k ~ q_θ i.i.d.

    Reference: Kool, van Hoof & Welling (2019), "Buy 4 REINFORCE Samples, Get a Baseline for Free!", ICLR
    workshop DeepRLStructPred, eq. (9). Each sample's baseline is the mean of the other K − 1 costs, which is
    independent of it, so the estimate is unbiased; written with f̄ it is the same estimator as
    ``score_function:baseline=mean``.

    Applies to every problem with ``log_prob`` (continuous or discrete). Needs K ≥ 2. Uses K cost evaluations
    per estimate.

    On a minibatched amortized problem (``sbn``) each of the K samples is a whole draw of the latent noise, so
    the K samples are K separate minibatches and the baseline is of the whole minibatch's cost: unbiased, but far
    noisier than the discrete-VAE papers' RLOO, which draws K latents per data point of ONE minibatch and gives
    each data point its own baseline. That estimator is ``double_cv:lr=0`` (α held at 0).
    """

    name = "rloo"
    summary = "REINFORCE leave-one-out, K samples (Kool, van Hoof & Welling 2019)"

    samples: int = option(4, "K >= 2 samples per estimate", kind=int, minimum=2)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> Any:
        return batched_noise(problem.latent_noise(params), self.samples)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        xs = jax.lax.stop_gradient(jax.vmap(problem.latent, in_axes=(None, 0))(params, noise))
        f = jax.lax.stop_gradient(jax.vmap(problem.cost, in_axes=(None, 0))(params, xs))
        weights = (f - jnp.mean(f)) / (self.samples - 1)

        # Σ_k w_k ∇ log q(x_k) as the gradient of Σ_k w_k log q(x_k) (one backward pass, no K per-sample score
        # pytrees) rather than a contraction of per-sample scores with the weights. That contraction gave garbage
        # (NaN, 1e38) under jit on CPU (jaxlib 0.10.2): a leaf log q does not depend on (the decoder's) has an
        # all-zero score, which XLA folds to a broadcast scalar; ``dot(weights, broadcast(scalar))`` then shared
        # a YNNPACK fusion with the reduce of the direct term and that fusion read uninitialized memory
        # (reproduced in pure JAX: ``c @ jnp.broadcast_to(w, (4, 784)) + a.sum((1, 2))``; off with
        # ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-LIBRARY_FUSION_TYPE_REDUCE``). Here such a leaf's
        # gradient is a symbolic zero and no contraction against it is ever built. varbench.engine.settings now
        # turns that fusion off for every kernel; this form stays because it is also cheaper.
        def surrogate(p: Params) -> jax.Array:
            return jnp.dot(weights, jax.vmap(problem.log_prob, in_axes=(None, 0))(p, xs))

        return jax.tree_util.tree_map(jnp.add, jax.grad(surrogate)(params), direct_term(problem, params, xs))

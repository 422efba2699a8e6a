"""RODEO: REINFORCE leave-one-out with control variates from a discrete (Gibbs) Stein operator, learned online."""

from __future__ import annotations

from typing import Any

import math

import jax
import jax.numpy as jnp
from varbench.estimators.learning import init_learned, learn_control
from varbench.estimators.relaxations import (
    add,
    direct_gradient,
    draw_latents,
    latent_noise,
    logits_and_pullback,
    logits_shape,
    relaxation_of,
)

from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


def init_stein_network(key: jax.Array, inputs: int, hidden: int, dtype: Any) -> dict:
    """Weights of :func:`stein_network`; the output layer starts at zero, so RODEO starts as RLOO.

    Args:
      key: a JAX PRNG key (the hidden layer's weights are drawn from it, so the init is deterministic in it).
      inputs: the latent bits of one cost unit.
      hidden: hidden units.
      dtype: the floating dtype.

    Returns:
      ``{"w1": (inputs, hidden), "b1": (hidden,), "w2": (hidden, 2), "v2": (hidden, 2), "b2": (2,)}``.
    """
    w1 = jax.random.normal(key, (inputs, hidden), dtype) / jnp.sqrt(jnp.asarray(inputs, dtype))
    zeros = lambda *shape: jnp.zeros(shape, dtype)
    return {"w1": w1, "b1": zeros(hidden), "w2": zeros(hidden, 2), "v2": zeros(hidden, 2), "b2": zeros(2)}


def stein_network(weights: dict, y: jax.Array, level: jax.Array) -> jax.Array:
    """The two learned functions ``(h(y), h̃(y))`` of one cost unit's bits y, given the other samples' mean cost.

    ``tanh(y W1 + b1) (W2 + level·V2) + b2``: a one-hidden-layer network of the bits whose output layer is affine
    in ``level`` (the leave-one-out mean cost f̄₋ₖ of the unit), so the control variates follow the cost's scale
    without feeding a large number through the tanh (the paper's networks also see f̄₋ₖ).

    Args:
      weights: see :func:`init_stein_network`.
      y: bits, shape ``(..., inputs)``.
      level: f̄₋ₖ, shape ``y.shape[:-1]``.

    Returns:
      Shape ``y.shape[:-1] + (2,)``: index 0 is h (the baseline's control variate), 1 is h̃ (the score's).
    """
    features = jnp.tanh(y @ weights["w1"] + weights["b1"])
    return features @ weights["w2"] + level[..., None] * (features @ weights["v2"]) + weights["b2"]


def gibbs_stein(values_at_y: jax.Array, value_at_x: jax.Array, flip_probability: jax.Array) -> jax.Array:
    """The random-scan Gibbs Stein operator ``(A g)(x) = (1/D) Σ_i q_i(¬x_i) [g(x^(i)) − g(x)]`` for factorized q.

    One Gibbs step picks a coordinate i uniformly and redraws x_i from q_i, moving to the neighbour x^(i) (bit i
    flipped) with probability ``q_i(¬x_i)``; q is invariant, so ``E_q[(A g)(x)] = 0`` for every g.

    Args:
      values_at_y: g at the D neighbours, shape ``(..., D, m)``.
      value_at_x: g(x), shape ``(..., m)``.
      flip_probability: ``q_i(¬x_i)``, shape ``(..., D)``.

    Returns:
      Shape ``(..., m)``.
    """
    return jnp.mean(flip_probability[..., None] * (values_at_y - value_at_x[..., None, :]), -2)


@register_estimator
@pytree_dataclass
class RODEO(Estimator):
    """RLOO with two zero-mean control variates from the Gibbs Stein operator A applied to learned functions.

    Reference: Shi, Zhou, Hwang, Titsias & Mackey (2022), "Gradient Estimation with Discrete Stein Operators",
    NeurIPS, §3 (Stein operators from Markov chains; the Gibbs operator for factorized q) and §4 (RODEO, the
    REINFORCE leave-one-out estimator with these control variates, extending Titsias & Shi's double control
    variates). With K samples x_k ~ q, score ``s(x) = ∇_φ log q(x) = x − σ(φ)`` for the logits φ, and A as in
    :func:`gibbs_stein` (no extra cost evaluations: A needs only the D one-bit neighbours of each sample):

        ĝ = (1/K) Σ_k [ (f(x_k) − (1/(K−1)) Σ_{j≠k} (f(x_j) + (A h_j)(x_j))) s(x_k) + (A [h̃_k s])(x_k) ].

    h_k, h̃_k are the two outputs of :func:`stein_network` given f̄₋ₖ (a function of the other samples only). Each
    Stein term has mean zero given every other sample, so ĝ is unbiased for ANY weights; with zero output weights
    (the init) it is RLOO. The weights are the STATE, trained by :meth:`update` with Adam on the estimate's squared
    norm, as RELAX does (the paper trains them the same way). Differences from the paper's experiments: h sees the
    bits themselves rather than a first-order Taylor expansion of f around the other samples (which needs ∇f), and
    the paper's scalars α, β are absorbed in the output layer.

    On problems with cost units (``sbn``: one per data point) everything is per unit, over that unit's P × L bits
    (shared weights across units); the decoder's gradient is the direct one averaged over the K samples.

    Assumptions: binary latents with a factorized q (problems ``bernoulli``, ``sbn``); K ≥ 2. Uses K cost
    evaluations per estimate (plus K·(D + 1) evaluations of the small network per unit). Exact mode enumerates the
    K draws (2^(K·D) configurations) when the context is fixed.
    """

    name = "rodeo"
    summary = "RLOO with learned discrete Stein-operator control variates (Shi et al. 2022)"
    stateful = True

    samples: int = option(4, "K >= 2 samples per estimate", kind=int, minimum=2)
    hidden: int = option(10, "hidden units of the learned Stein function h", kind=int, minimum=1)
    lr: float = option(0.01, "Adam learning rate of h", static=False, kind=float, minimum=0.0)
    update_samples: int = option(16, "estimates averaged per variance-gradient step", kind=int, minimum=1)

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name, binary_only=True)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> dict:
        single = latent_noise(problem, params)
        draws = {k: v for k, v in single.items() if k != "context"}
        # One context (minibatch) shared by the K draws, so each unit has K samples for its leave-one-out terms.
        return {"context": single["context"], "draws": batched_noise(draws, self.samples)}

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        shape = logits_shape(problem, params)
        return init_learned({"network": init_stein_network(key, math.prod(shape[problem.cost_unit_axes:]),
                                                           self.hidden, dtype)})

    def estimate_with(self, problem: Problem, params: Params, control: dict, noise: Any) -> Params:
        """The RODEO estimate for given network weights (see the class docstring).

        Args:
          problem: a problem with binary latents.
          params: the params.
          control: ``{"network": weights of stein_network}`` (the state's ``control``).
          noise: ``{"context": ..., "draws": K draws of the latents}`` (:meth:`noise`).

        Returns:
          The gradient estimate, shaped like ``params``; differentiable in ``control`` (for the variance step).
        """
        context, K = noise["context"], self.samples
        logits, pullback = logits_and_pullback(problem, params, context)
        b = jax.lax.stop_gradient(jax.vmap(lambda n: draw_latents(problem, logits, n))(noise["draws"]))
        fixed = jax.lax.stop_gradient(params)
        f = jax.lax.stop_gradient(jax.vmap(lambda x: problem.unit_costs(fixed, context, x))(b))
        units = logits.shape[:problem.cost_unit_axes]
        n_units, dim = math.prod(units), math.prod(logits.shape[problem.cost_unit_axes:])
        x = b.reshape(K, n_units, dim)
        p = jax.lax.stop_gradient(jax.nn.sigmoid(logits)).reshape(n_units, dim)
        f = f.reshape(K, n_units)
        leave_one_out = lambda v: (jnp.sum(v, 0) - v) / (K - 1)
        f_others = leave_one_out(f)                                                    # (K, U)
        neighbours = jnp.where(jnp.eye(dim, dtype=bool), 1 - x[..., None, :], x[..., None, :])  # (K, U, D, D)
        at_x = stein_network(control["network"], x, f_others)                         # (K, U, 2)
        at_y = stein_network(control["network"], neighbours, jnp.broadcast_to(f_others[..., None], (K, n_units, dim)))
        flip = jnp.where(x > 0, 1 - p, p)                                             # q_i(¬x_i)
        score_x, score_y = x - p, neighbours - p[:, None, :]
        baseline_cv = gibbs_stein(at_y[..., :1], at_x[..., :1], flip)[..., 0]         # (A h_k)(x_k): (K, U)
        score_cv = gibbs_stein(at_y[..., 1:] * score_y, at_x[..., 1:] * score_x, flip)  # (A [h̃_k s])(x_k): (K, U, D)
        signal = f - leave_one_out(f + baseline_cv)
        g = jnp.mean(signal[..., None] * score_x + score_cv, 0).reshape(logits.shape)
        return add(pullback(g), direct_gradient(problem, params, context, *b))

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self.estimate_with(problem, params, state["control"], noise)

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return learn_control(self, problem, params, state, key)

"""ARMS: K mutually antithetic Bernoulli samples from the Dirichlet copula, with a debiased leave-one-out baseline."""

from __future__ import annotations

import dataclasses
from math import comb
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from varbench.estimators.relaxations import (
    add,
    direct_gradient,
    fixed_context,
    logits_and_pullback,
    logits_shape,
    per_unit,
    relaxation_of,
)

from varbench.core.estimator import Estimator, State
from varbench.core.noise import Discrete, Noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


def _threshold_side(p: Any) -> tuple[Any, Any]:
    """``(r, flipped)`` with ``r = min(p, 1 − p)``: the copula is thresholded at the smaller tail probability.

    The Dirichlet copula is asymmetric: for small r at most one of ``u_k < r`` can hold (its strongest negative
    dependence), so for p > 1/2 ARMS thresholds the flipped uniforms, ``b = 1[1 − u < p] = 1 − 1[u < 1 − p]``.
    """
    flipped = p > 0.5
    return (1 - p) * flipped + p * (1 - flipped), flipped


def dirichlet_copula_bits(exponentials: jax.Array, p: jax.Array) -> jax.Array:
    """Bernoulli(p) bits, K per latent, coupled by the Dirichlet copula; axis 0 of ``exponentials`` indexes k.

    ``d = e / Σ_k e_k`` is flat-Dirichlet on the simplex, ``u_k = (1 − d_k)^(K−1)`` is U(0, 1) for each k, and
    ``b_k = 1[u_k < p]`` (``1[1 − u_k < p]`` where p > 1/2, see :func:`_threshold_side`).

    Args:
      exponentials: i.i.d. Exp(1) draws, shape ``(K,) + p.shape``.
      p: the Bernoulli probabilities σ(φ).

    Returns:
      The bits (0/1, dtype of p), shape ``(K,) + p.shape``.
    """
    k = exponentials.shape[0]
    u = (1 - exponentials / jnp.sum(exponentials, axis=0)) ** (k - 1)
    r, flipped = _threshold_side(p)
    below = (u < r).astype(p.dtype)
    return jnp.where(flipped, 1 - below, below)


def pattern_probabilities(p: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every joint value of one latent's K copula bits with its probability (what exact mode enumerates).

    For the flat Dirichlet, ``P(d_k > a for all k in S) = (1 − |S| a)_+^(K−1)``; ``u_k < r`` is ``d_k > a`` with
    ``a = 1 − r^(1/(K−1))``, and inclusion–exclusion gives the probability of exactly the set S of bits at 1.

    Args:
      p: the Bernoulli probability of each bit.
      k: the number of coupled samples K >= 2.

    Returns:
      ``(bits, probabilities)``: bits of shape ``(2^K, K)`` (float64) and their ``2^K`` probabilities.
    """
    r, flipped = _threshold_side(float(p))
    a = 1.0 - r ** (1.0 / (k - 1))
    all_of = [max(1.0 - j * a, 0.0) ** (k - 1) for j in range(k + 1)]  # P(these j bits are all 1), any j of K
    exactly = [sum((-1) ** (j - m) * comb(k - m, j - m) * all_of[j] for j in range(m, k + 1)) for m in range(k + 1)]
    bits = ((np.arange(2 ** k)[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)
    below = 1 - bits if flipped else bits  # the pattern of 1[u_k < r] behind these bits
    probs = np.maximum(np.asarray(exactly)[below.sum(axis=1).astype(int)], 0.0)  # cancellation: never below 0
    return bits, probs


@dataclasses.dataclass(frozen=True, eq=False)
class DirichletCopulaBits(Discrete):
    """K Bernoulli(probs) bits per latent, coupled across k by the Dirichlet copula, independent across latents.

    Monte Carlo draws the copula itself (:func:`dirichlet_copula_bits`); exact mode enumerates each latent's
    ``2^K`` joint values with the closed-form probabilities of :func:`pattern_probabilities`.
    """

    probs: Any
    samples: int

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self.samples,) + tuple(np.shape(self.probs))

    @property
    def num_configurations(self) -> int:
        return 2 ** self.size

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        p = jnp.asarray(self.probs)
        e = jax.random.exponential(key, (self.size,), p.dtype).reshape(self.shape)  # flat: see Noise.sample
        return dirichlet_copula_bits(e, p).astype(dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(self.probs, np.float64).ravel()
        tables = [pattern_probabilities(pi, self.samples) for pi in p]
        n = 2 ** self.samples
        index = np.stack(np.unravel_index(np.arange(n ** p.size), (n,) * p.size), -1)  # one pattern per latent
        values = np.stack([tables[i][0][index[:, i]] for i in range(p.size)], axis=-1)  # (N, K, latents)
        weights = np.prod([tables[i][1][index[:, i]] for i in range(p.size)], axis=0)
        return values.reshape((-1,) + self.shape), weights


def copula_joint_probability(p: jax.Array, k: int) -> jax.Array:
    """``P(b_j = b_k = 1)`` for two of the K copula bits (j ≠ k): ``p − (r − C(r, r))``, ``r = min(p, 1 − p)``.

    The Dirichlet copula's bivariate margin is ``C(s, t) = (s^(1/(K−1)) + t^(1/(K−1)) − 1)_+^(K−1)``; with the
    flip for p > 1/2, ``P(b_j = b_k = 1) = 1 − 2r + C(r, r)`` there, which is ``p − r + C(r, r)`` on both sides.

    Args:
      p: the Bernoulli probabilities.
      k: K >= 2.

    Returns:
      The pairwise joint probabilities, shaped like p.
    """
    r, _ = _threshold_side(p)
    c = jnp.maximum(2 * r ** (1.0 / (k - 1)) - 1, 0.0) ** (k - 1)
    return p - r + c


@register_estimator
@pytree_dataclass
class ARMS(Estimator):
    """``g_i = Σ_k [f(b_k) − f̄] (b_ki − p_i) · p_i(1 − p_i) / [(K−1)(p_i − P(b_ji = b_ki = 1))]``, f̄ = mean f(b_k).

    Reference: Dimitriev & Zhou (2021), "ARMS: Antithetic-REINFORCE-Multi-Sample Gradient for Binary Variables",
    ICML, §3 (the ARMS estimator: REINFORCE leave-one-out on K samples whose uniforms are coupled by a copula, with
    the correction factor that removes the bias of the now-dependent baseline). The copula is the paper's
    Dirichlet copula (its ARMS-D, the variant used in the paper's experiments; the Gaussian copula is not
    implemented): ``u_k = (1 − d_k)^(K−1)``, ``d ~ Dirichlet(1, …, 1)``, thresholded at ``1 − u`` where p > 1/2.

    Why the factor: for j ≠ k, ``E[f(b_j)(b_k − p)] = E_q[Δ_i f] (P(b_j = b_k = 1) − p²)`` is not 0 once the
    samples are dependent, so the leave-one-out sum has mean ``(K−1)(p − P(b_j = b_k = 1)) E_q[Δ_i f]``; the factor
    rescales it to ``p(1−p) E_q[Δ_i f] = ∂F/∂φ_i``. Latents are coupled across k only, so this holds coordinate-wise.
    With K = 2 the copula is the antithetic pair (u, 1 − u), the factor is σ(|φ|) and ARMS is DisARM (Dong, Mnih &
    Tucker 2020, eq. (5)). On amortized problems (``sbn``) f is each data point's cost and the logit gradient is
    pulled back through the encoder; the direct gradient is averaged over the K samples (each distributed as q).

    Assumptions: binary latents only (``bernoulli``, ``sbn``). Uses K cost evaluations per estimate. Exact mode
    enumerates the ``2^K`` joint values of each latent's bits (closed-form probabilities) when the logits do not
    depend on a random minibatch; otherwise the noise is uniforms turned into the copula's exponentials.
    Written from the paper's equations, not from the authors' code.
    """

    name = "arms"
    summary = "antithetic multi-sample REINFORCE, Dirichlet copula, binary latents (Dimitriev & Zhou 2021)"

    samples: int = option(4, "K >= 2 coupled samples per estimate", kind=int, minimum=2)

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name, binary_only=True)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> dict:
        context = problem.context_noise()
        if fixed_context(problem):  # the logits depend on the params alone
            probs = jax.nn.sigmoid(problem.latent_logits(params, {}))
            return {"context": context, "b": DirichletCopulaBits(probs, self.samples)}
        # Random minibatches: the probabilities are unknown until the context is drawn, so draw the copula's
        # exponentials from uniforms (e = −log u) and threshold them in the estimate.
        return {"context": context, "u": Noise("uniform", (self.samples,) + logits_shape(problem, params))}

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        context = noise["context"]
        logits, pullback = logits_and_pullback(problem, params, context)
        p = jax.nn.sigmoid(logits)
        if "b" in noise:
            b = noise["b"].astype(p.dtype)
        else:
            b = dirichlet_copula_bits(-jnp.log(noise["u"].astype(p.dtype)), p)
        b = jax.lax.stop_gradient(b)
        f = jax.lax.stop_gradient(jax.vmap(lambda bk: problem.unit_costs(params, context, bk))(b))  # (K, units)
        centred = jax.vmap(lambda fk: per_unit(fk, logits))(f - jnp.mean(f, axis=0))
        p_fixed = jax.lax.stop_gradient(p)
        gap = p_fixed - copula_joint_probability(p_fixed, self.samples)  # p − P(b_j = b_k = 1) >= 0
        factor = jnp.where(gap > 0, p_fixed * (1 - p_fixed) / jnp.where(gap > 0, gap, 1.0), 0.0)
        g_logits = jnp.sum(centred * (b - p_fixed), axis=0) * factor / (self.samples - 1)
        return add(pullback(g_logits), direct_gradient(problem, params, context, *b))

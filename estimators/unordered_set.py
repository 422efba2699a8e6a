"""The unordered set estimator: k categorical samples without replacement, with its built-in baseline."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from varbench.estimators.relaxations import add, logits_and_pullback

from varbench.core.capabilities import DISCRETE, require
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.core.estimator import Estimator, State
from varbench.core.noise import Discrete
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator


@dataclasses.dataclass(frozen=True, eq=False)
class WithoutReplacement(Discrete):
    """``k`` classes drawn in order without replacement from ``softmax(logits)`` (one-hot rows, shape (k, n)).

    Sampled by the Gumbel-top-k trick (Kool, van Hoof & Welling 2019, "Stochastic Beams and Where to Find Them",
    ICML): the k largest of ``logits + Gumbel`` are such a draw. Exact mode enumerates the n!/(n − k)! ordered
    draws with probabilities ``Π_i p(s_i) / (1 − Σ_{j<i} p(s_j))``.
    """

    logits: Any
    k: int

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self.k, int(np.shape(self.logits)[-1]))

    @property
    def num_configurations(self) -> int:
        n = self.shape[1]
        return int(np.prod(np.arange(n - self.k + 1, n + 1)))

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        perturbed = jnp.asarray(self.logits, dtype) + jax.random.gumbel(key, self.shape[1:], dtype)
        _, index = jax.lax.top_k(perturbed, self.k)
        return jax.nn.one_hot(index, self.shape[1], dtype=dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        logits = np.asarray(self.logits, np.float64)
        p = np.exp(logits - np.logaddexp.reduce(logits))
        n = p.size
        orders = np.array(list(itertools.permutations(range(n), self.k)))
        taken = np.concatenate([np.zeros((len(orders), 1)), np.cumsum(p[orders], 1)[:, :-1]], 1)
        weights = np.prod(p[orders] / (1 - taken), 1)
        return np.eye(n)[orders], weights / weights.sum()


def log_set_probability(log_p: jax.Array, removed: jax.Array) -> jax.Array:
    """``log p^{D∖A}(B)``: the log-probability that sampling ``len(log_p)`` classes without replacement from the
    distribution with the classes A (total probability ``removed``) taken out draws exactly the set B, whose
    members have log-probabilities ``log_p`` under the full distribution: a sum over the |B|! orders."""
    m = log_p.shape[0]
    if m == 0:
        return jnp.zeros((), log_p.dtype)
    orders = np.array(list(itertools.permutations(range(m))))
    lp = log_p[orders]                                   # (m!, m)
    before = jnp.cumsum(jnp.exp(lp), 1) - jnp.exp(lp)    # mass drawn before each step
    rest = jnp.maximum(1 - removed - before, jnp.finfo(log_p.dtype).tiny)
    return jax.nn.logsumexp(jnp.sum(lp - jnp.log(rest), 1))


@register_estimator
@pytree_dataclass
class UnorderedSet(Estimator):
    """The unordered set estimator with baseline for one categorical latent, from k samples without replacement.

    Reference: Kool, van Hoof & Welling (2020), "Estimating Gradients for Discrete Random Variables by Sampling
    without Replacement", ICLR, eq. (7) (the estimator) and §3.2 (its baseline). With S the sampled set,
    ``R(S, s) = p^{D∖s}(S∖s) / p(S)`` (the leave-one-out ratio of set probabilities) and score ``∇log p(s)``:

        ĝ = Σ_{s ∈ S} p(s) R(S, s) ∇log p(s) [f(s) − B(S, s)],
        B(S, s) = p(s) f(s) + Σ_{s' ∈ S∖s} p(s') R^{D∖s}(S∖s, s') f(s'),
        R^{D∖s}(S∖s, s') = p^{D∖{s, s'}}(S∖{s, s'}) / p^{D∖s}(S∖s).

    ``Σ_s p(s) R(S, s) h(s)`` is unbiased for E_p[h] for any h, and B(S, s) is such an estimate of E_p[f] built
    from s and the other k − 1 samples (drawn from D∖s), whose expectation does not depend on s, so the estimate is
    unbiased for k >= 2. With k = n (every class) it is the exact gradient. Set probabilities are sums over the
    k! orders (exact; meant for small k). Assumptions: ONE categorical variable (logits of shape (1, n) or (n,)),
    logits that do not depend on a random minibatch, cost independent of the params at fixed latents (the direct
    gradient, if any, is weighted the same way). Uses k cost evaluations per estimate.
    """

    name = "unordered_set"
    summary = "k categorical samples without replacement, with built-in baseline (Kool et al. 2020)"

    samples: int = option(3, "k >= 2 distinct classes per estimate (sums over k! orders: keep k small)", kind=int,
                          minimum=2)

    def validate(self) -> None:
        if self.samples > 6:
            raise VarbenchError(f"unordered_set sums over samples! orders per set probability: samples must be "
                                f"2..6 (got {self.samples})")

    def check_applies(self, problem: Problem) -> None:
        require(problem, DISCRETE, "estimator 'unordered_set'", "use rloo or score_function")
        shape = jax.eval_shape(lambda: problem.latent_logits(
            {k: jnp.zeros(s) for k, s in problem.param_shapes().items()}, {})).shape if not jax.tree_util.tree_leaves(
            problem.context_noise()) else None
        if problem.relaxation != "categorical" or shape is None or int(np.prod(shape[:-1])) != 1:
            raise NotApplicableError(f"estimator 'unordered_set' needs ONE categorical latent with fixed logits (e.g. "
                                     f"categorical:dim=1); {problem.name!r} has other latents; use rloo")
        if shape[-1] < self.samples:
            raise NotApplicableError(f"estimator 'unordered_set' draws samples={self.samples} distinct classes of "
                                     f"{shape[-1]}; valid: samples <= {shape[-1]}")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> Any:
        return {"set": WithoutReplacement(jnp.ravel(problem.latent_logits(params, {})), self.samples)}

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        logits, pullback = logits_and_pullback(problem, params, {})
        one_hot = jax.lax.stop_gradient(noise["set"])                      # (k, n)
        log_probs = jax.nn.log_softmax(jnp.ravel(logits))
        lp = jax.lax.stop_gradient(one_hot @ log_probs)                    # (k,)
        p = jnp.exp(lp)
        fixed = jax.lax.stop_gradient(params)
        costs = jax.vmap(lambda z: problem.unit_costs(fixed, {}, z.reshape(logits.shape)))(one_hot).reshape(-1)
        k = self.samples
        log_set = log_set_probability(lp, jnp.zeros((), lp.dtype))
        # Static loops over the k members of the set (k <= 6), not over samples.
        without = [np.delete(np.arange(k), i) for i in range(k)]
        log_minus = jnp.stack([log_set_probability(lp[w], p[i]) for i, w in enumerate(without)])
        weights = p * jnp.exp(log_minus - log_set)                         # p(s) R(S, s)
        baselines = []
        for i, w in enumerate(without):
            terms = [p[i] * costs[i]]
            for j in w:
                rest = np.delete(np.arange(k), [i, j])
                ratio = jnp.exp(log_set_probability(lp[rest], p[i] + p[j]) - log_minus[i])
                terms.append(p[j] * ratio * costs[j])
            baselines.append(sum(terms))
        signal = jax.lax.stop_gradient(weights * (costs - jnp.stack(baselines)))
        scores = one_hot - jax.nn.softmax(jnp.ravel(logits))[None]        # ∇_logits log p(s), (k, n)
        g_logits = jnp.sum(signal[:, None] * scores, 0).reshape(logits.shape)
        direct = jax.vmap(lambda z: jax.grad(problem.direct_surrogate)(params, {}, z.reshape(logits.shape)))(one_hot)
        direct = jax.tree_util.tree_map(lambda d: jnp.tensordot(jax.lax.stop_gradient(weights), d, 1), direct)
        return add(pullback(g_logits), direct)

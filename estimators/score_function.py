"""The score-function (REINFORCE, likelihood-ratio) estimator with unbiased baselines."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import sequential
from estimators.base import Estimator, batched_noise
from problems.base import Params, Problem
from varbench.errors import VarbenchError
from varbench.pytree import option, pytree_dataclass
from varbench.registry import register_estimator

BASELINES = ("none", "mean", "optimal", "value")


def per_sample_scores(problem: Problem, params: Params, xs: jax.Array) -> Params:
    """``∇_θ log q_θ(x_k)`` for each of the K latents in ``xs`` (leading axis K on every leaf)."""
    return jax.vmap(jax.grad(problem.log_prob), in_axes=(None, 0))(params, xs)


def direct_term(problem: Problem, params: Params, xs: jax.Array) -> Params:
    """``E[∇_θ f_θ(x)]`` part for integrands that depend on θ directly (zero for pure costs)."""
    return jax.grad(lambda p: jnp.mean(jax.vmap(problem.cost, in_axes=(None, 0))(p, xs)))(params)


@register_estimator
@pytree_dataclass
class ScoreFunction(Estimator):
    """Score-function gradient ``(1/K) Σ_k ∇_θ log q_θ(x_k) (f(x_k) − b_k)``, x_k ~ q_θ i.i.d.

    References: Williams (1992), "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning" (REINFORCE); Glynn (1990) (likelihood ratio); Mohamed et al. (2020), JMLR, §4,
    eq. (13) and §7.4 (baselines). Seed 003 (Weber et al. 2015) derives ``b* = E[s² f] / E[s²]``.

    Baselines, each independent of the sample it multiplies so the estimator stays unbiased:
      * ``none``: b_k = 0.
      * ``mean``: the leave-one-out mean of the other samples' costs, ``b_k = Σ_{j≠k} f_j / (K − 1)``.
      * ``optimal``: per coordinate, the leave-one-out estimate of the variance-minimising constant
        ``b* = E[s² f] / E[s²]``: ``b_{k,i} = Σ_{j≠k} s_{j,i}² f_j / Σ_{j≠k} s_{j,i}²``.

    Applies to every problem (continuous or discrete; needs only ``log_prob``). Integrands that depend on θ
    directly add the pathwise term ``∇_θ f_θ(x)`` at the sampled x. Uses K cost evaluations per estimate.

    Sequential problems (seed 003; logic in :mod:`estimators.sequential`), with baseline none or value: the
    per-step scores ∇θ log q(z_t | z_{t−1}) are weighted by ``returns=full`` (Σ_u r_u) or ``returns=to_go``
    (R_t = Σ_{u≥t} r_u), minus ``baseline=value``'s V_t(z_{t−1}) (``critic=oracle`` exact, ``critic=learned``
    fitted by least squares in ``init`` on ``critic_samples`` trajectories); the zero-mean direct term of the
    −log q inside the rewards is dropped.
    """

    name = "score_function"
    summary = "REINFORCE / likelihood ratio, with leave-one-out baselines (Williams 1992; Mohamed et al. 2020 s4)"

    baseline: str = option("none", "baseline: none, mean (leave-one-out mean), optimal (leave-one-out b*), value "
                           "(sequential: V_t(z_{t-1}), with returns=to_go)",
                           choices=BASELINES, kind=str)
    samples: int = option(1, "K cost evaluations per estimate, averaged", kind=int, minimum=1)
    returns: str = option("full", "sequential problems: full (total reward) or to_go (reward-to-go R_t)",
                          choices=sequential.RETURNS, kind=str)
    critic: str = option("oracle", "baseline=value: oracle (exact V) or learned (least squares, then frozen)",
                         choices=sequential.CRITICS, kind=str)
    critic_samples: int = option(sequential.DEFAULT_CRITIC_SAMPLES, "critic=learned: trajectories used once to "
                                 "fit V", kind=int, minimum=2)

    def validate(self) -> None:
        sequential.validate_score_function_options(self)
        if self.baseline in ("mean", "optimal") and self.samples < 2:
            raise VarbenchError(f"score_function baseline={self.baseline} is leave-one-out and needs samples >= 2 "
                                f"(got samples={self.samples}); valid: baseline=none, or samples >= 2")

    def check_applies(self, problem: Problem) -> None:
        sequential.score_function_applies(self, problem)

    def init(self, problem: Problem, params: Params, key: jax.Array):
        return sequential.score_function_init(self, problem, params, key)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params):
        return batched_noise(problem.latent_noise(params), self.samples)

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        if sequential.uses_sequential_path(self, problem):
            return sequential.score_function_estimate(self, problem, params, state, noise)
        K = self.samples
        xs = jax.lax.stop_gradient(jax.vmap(problem.latent, in_axes=(None, 0))(params, noise))
        f = jax.lax.stop_gradient(jax.vmap(problem.cost, in_axes=(None, 0))(params, xs))
        scores = per_sample_scores(problem, params, xs)

        def weight(s: jax.Array) -> jax.Array:
            fk = f.reshape((K,) + (1,) * (s.ndim - 1))
            if self.baseline == "none":
                return s * fk
            if self.baseline == "mean":
                return s * (fk - (jnp.sum(fk, 0) - fk) / (K - 1))
            s2 = s * s
            num = jnp.sum(s2 * fk, 0) - s2 * fk
            den = jnp.sum(s2, 0) - s2
            b = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
            return s * (fk - b)

        grads = jax.tree_util.tree_map(lambda s: jnp.mean(weight(s), 0), scores)
        return jax.tree_util.tree_map(jnp.add, grads, direct_term(problem, params, xs))

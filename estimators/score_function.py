"""The score-function (REINFORCE, likelihood-ratio) estimator with unbiased baselines."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.learning import StatefulWhen
from varbench.estimators.sampling import AveragedSamples
from varbench.estimators.sequential import SequentialScoreFunction

from varbench.core.capabilities import CLOSED_FORM_SCORE
from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, State
from varbench.core.noise import sample_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

BASELINES = ("none", "mean", "optimal", "constant", "ema")
#: Baselines computed from the other samples of the same estimate (they need samples >= 2).
LEAVE_ONE_OUT = ("mean", "optimal")


def per_sample_scores(problem: Problem, params: Params, xs: jax.Array) -> Params:
    """``∇_θ log q_θ(x_k)`` for each of the K latents in ``xs`` (leading axis K on every leaf): the problem's
    closed form where it has one (:data:`~varbench.core.capabilities.CLOSED_FORM_SCORE`), else autodiff of
    ``log_prob``."""
    score = problem.score if CLOSED_FORM_SCORE.satisfied_by(problem) else jax.grad(problem.log_prob)
    return jax.vmap(score, in_axes=(None, 0))(params, xs)


def direct_term(problem: Problem, params: Params, xs: jax.Array) -> Params:
    """``E[∇_θ f_θ(x)]`` part for integrands that depend on θ directly: zeros, without differentiating the cost,
    for a problem whose class says ``cost_depends_on_params = False``."""
    if not problem.cost_depends_on_params:
        return jax.tree_util.tree_map(jnp.zeros_like, params)
    return jax.grad(lambda p: jnp.mean(jax.vmap(problem.cost, in_axes=(None, 0))(p, xs)))(params)


@register_estimator
@pytree_dataclass
class ScoreFunction(AveragedSamples, Estimator):
    """Score-function gradient ``(1/K) Σ_k ∇_θ log q_θ(x_k) (f(x_k) − b_k)``, x_k ~ q_θ i.i.d.

    References: Williams (1992), "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning" (REINFORCE); Glynn (1990) (likelihood ratio); Mohamed et al. (2020), JMLR, §4,
    eq. (13) and §7.4 (baselines). Weber et al. (2015) derive ``b* = E[s² f] / E[s²]``.

    Baselines, each independent of the sample it multiplies so the estimator stays unbiased:
      * ``none``: b_k = 0.
      * ``mean``: the leave-one-out mean of the other samples' costs, ``b_k = Σ_{j≠k} f_j / (K − 1)``.
      * ``optimal``: per coordinate, the leave-one-out estimate of the variance-minimising constant
        ``b* = E[s² f] / E[s²]``: ``b_{k,i} = Σ_{j≠k} s_{j,i}² f_j / Σ_{j≠k} s_{j,i}²``.
      * ``constant``: b_k = ``value`` (a traced option: changing it does not recompile).
      * ``ema``: b_k = an exponential moving average of f with rate ``decay``, kept in the estimator's STATE and
        updated by :meth:`update` from fresh samples; ``zero_debias=true`` (default, as optax's
        ``moving_avg_baseline``) divides it by 1 − decay^t like Adam's moments (Kingma & Ba 2015, §3), ``false``
        uses the raw average started at 0; frozen while an estimate is made, so it is independent of the samples (Williams 1992, §7 "reinforcement comparison").
        The estimator is stateful only with this baseline; ``measure(..., warmup=N)`` trains it.

    ``score_function:control_variate=delta`` (Gaussian location-scale problems, with baseline none, constant or
    ema) wraps it in :class:`~varbench.estimators.control_variates.DeltaControlVariate` (Paisley, Blei & Jordan
    2012; Miller et al. 2017).

    Applies to every problem (continuous or discrete; needs only ``log_prob``, and uses the problem's ``score``
    where it has one in closed form). Integrands that depend on θ directly add the pathwise term ``∇_θ f_θ(x)`` at
    the sampled x. Uses K cost evaluations per estimate.

    On a sequential problem, baseline ``none`` is computed by the per-step
    :class:`~varbench.estimators.sequential.SequentialScoreFunction` with its defaults (``returns=full``: the same
    estimator in expectation, without the zero-mean direct term of the −log q inside the rewards). Its other
    options (``returns``, ``baseline=value``, ``critic``, ``critic_samples``) are its own: a spec such as
    ``score_function:returns=to_go`` builds that class (:attr:`spec_variants`).
    """

    name = "score_function"
    summary = "REINFORCE / likelihood ratio, with leave-one-out baselines (Williams 1992; Mohamed et al. 2020 s4)"

    #: other classes a ``score_function`` spec builds, chosen by the options given (``varbench.catalog``)
    spec_variants = (SequentialScoreFunction,)

    baseline: str = option("none", "baseline: none, mean (leave-one-out mean), optimal (leave-one-out b*), constant, "
                           "ema (stateful), value (sequential: V_t(z_{t-1}), with returns=to_go)",
                           choices=BASELINES, kind=str)
    samples: int = option(1, "K cost evaluations per estimate, averaged", kind=int, minimum=1)
    value: float = option(0.0, "the baseline for baseline=constant", static=False, kind=float)
    decay: float = option(0.9, "EMA rate for baseline=ema (state; stateful)", static=False, kind=float, minimum=0.0)
    zero_debias: bool = option(True, "baseline=ema: divide the average by 1 - decay^t (Adam-style; optax's "
                               "zero_debias), or use the raw average started at 0", choices=(True, False), kind=bool)
    stateful = StatefulWhen(lambda self: self.baseline == "ema")

    def validate(self) -> None:
        if float(self.decay) >= 1.0:
            raise VarbenchError(f"option 'decay' of estimator 'score_function' must be in [0, 1); got {self.decay}")
        if self.baseline in LEAVE_ONE_OUT and self.samples < 2:
            raise VarbenchError(f"score_function baseline={self.baseline} is leave-one-out and needs samples >= 2 "
                                f"(got samples={self.samples}); valid: baseline=none, constant or ema, or samples >= 2")

    def costs(self, problem: Problem, params: Params, noise: Any) -> tuple[jax.Array, jax.Array]:
        """The K latents and their costs (no gradient flows through either)."""
        xs = jax.lax.stop_gradient(jax.vmap(problem.latent, in_axes=(None, 0))(params, noise))
        return xs, jax.lax.stop_gradient(jax.vmap(problem.cost, in_axes=(None, 0))(params, xs))

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        if self.baseline != "ema":
            return ()
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return {"mean": jnp.zeros((), dtype), "weight": jnp.zeros((), dtype)}

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        if self.baseline != "ema":
            return state
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        _, f = self.costs(problem, params, sample_noise(self.noise(problem, params), key, dtype))
        decay = jnp.asarray(self.decay, dtype)
        return {"mean": decay * state["mean"] + (1 - decay) * jnp.mean(f),
                "weight": decay * state["weight"] + (1 - decay)}

    def constant_baseline(self, state: State, dtype: Any) -> jax.Array:
        """The baseline that does not depend on this estimate's samples (constant, or the frozen EMA)."""
        if self.baseline == "constant":
            return jnp.asarray(self.value, dtype)
        if not self.zero_debias:
            return state["mean"].astype(dtype)
        weight = state["weight"]
        return jnp.where(weight > 0, state["mean"] / jnp.where(weight > 0, weight, 1.0), 0.0).astype(dtype)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        if problem.sequential and self.baseline == "none":
            # Per-step scores; the sequential estimator at its defaults (composition, not a copy of its options).
            return SequentialScoreFunction(samples=self.samples).estimate_from_noise(problem, params, state, noise)
        K = self.samples
        xs, f = self.costs(problem, params, noise)
        scores = per_sample_scores(problem, params, xs)

        def weight(s: jax.Array) -> jax.Array:
            fk = f.reshape((K,) + (1,) * (s.ndim - 1))
            if self.baseline == "none":
                return s * fk
            if self.baseline == "mean":
                return s * (fk - (jnp.sum(fk, 0) - fk) / (K - 1))
            if self.baseline in ("constant", "ema"):
                return s * (fk - self.constant_baseline(state, fk.dtype))
            s2 = s * s
            num = jnp.sum(s2 * fk, 0) - s2 * fk
            den = jnp.sum(s2, 0) - s2
            b = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)
            return s * (fk - b)

        terms = jax.tree_util.tree_map(weight, scores)
        grads = jax.tree_util.tree_map(lambda t: jnp.mean(t, 0), terms)
        return jax.tree_util.tree_map(jnp.add, grads, direct_term(problem, params, xs))

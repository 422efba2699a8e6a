"""Score-function gradients for sequential problems: variational inference as reinforcement learning.

Weber et al. (2015), "Reinforced Variational Inference": with rewards r_t (per-step free energies) and
the ELBO ``F = E_q[Σ_t r_t]``,

    ∇F = E[Σ_t ∇θ log q(z_t | z_{t−1}) · A_t]

for every "advantage" A_t below whose conditional mean given (z_{t−1}, z_t) is
``Q_t(z_{t−1}, z_t) − b(z_{t−1})``:

  full     A_t = Σ_u r_u                     (REINFORCE on the whole trajectory)
  to_go    A_t = R_t = Σ_{u≥t} r_u           (causality: earlier rewards do not depend on z_t)
  value    A_t = R_t − V_t(z_{t−1})          (state-dependent baseline)
  actor_critic  A_t = Q_t(z_{t−1}, z_t) − V_t(z_{t−1})
  n_step   A_t = r_t + … + r_{t+n−1} + V_{t+n}(z_{t+n−1}) − V_t(z_{t−1})
  gae      A_t = Σ_l λ^l δ_{t+l},  δ_t = r_t + V_{t+1}(z_t) − V_t(z_{t−1})   (Schulman et al. 2016)

The rewards contain −log q_θ(z_t | z_{t−1}), whose *direct* dependence on θ adds the term
``E[−Σ_t ∇θ log q_θ(z_t | z_{t−1})]``; it is dropped because it is zero: given z_{t−1}, the expected score of
q(· | z_{t−1}) vanishes (``∫ ∇θ q = ∇θ ∫ q = 0``). Dropping it changes the variance, not the mean.

Critics: ``oracle`` uses the problem's exact V and Q; ``learned`` fits V_t and Q_t by least squares per step on
``critic_samples`` fresh trajectories (features in which the true V and Q are exactly linear: quadratics for
``lgssm``, one-hot tables for ``hmm``), inside ``init``; the fitted coefficients are the estimator's state and
stay frozen while variance is measured; ``td`` fits them instead on bootstrapped λ-returns (fitted value iteration
at ``td_lambda=0``; see ``estimators/td_critic.py``). Regression error makes the learned-critic advantages biased unless the
critic only enters as a baseline (``value`` baseline, GAE with λ = 1, n-step reaching the end).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.learning import OptionFlag
from varbench.estimators.returns import (
    lambda_returns,
    n_step_bootstrapped_returns,
    truncated_generalized_advantage_estimation,
)
from varbench.estimators.td_critic import (
    fit_td_critic,
    td_lambda_option,
    validate_td_lambda,
)

from varbench.core.capabilities import SEQUENTIAL, require
from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.noise import sample_noise
from varbench.core.numerics import after
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

CRITICS = ("oracle", "learned")
RETURNS = ("full", "to_go")
DEFAULT_CRITIC_SAMPLES = 2000


def require_sequential(estimator_name: str, problem: Problem) -> None:
    """Raise :class:`NotApplicableError` naming ``estimator_name`` unless ``problem`` is sequential."""
    require(problem, SEQUENTIAL, f"estimator {estimator_name!r}")


# --- critics --------------------------------------------------------------------------------------------------

def _least_squares_per_step(features: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-step least-squares coefficients: features (N, T, F), targets (N, T) -> (T, F).

    ``lstsq`` returns the minimum-norm solution, so unidentified coefficients (step 1's state is a constant
    dummy; unvisited table cells) are 0 instead of NaN. The steps are solved one after another (``lax.map``), not
    vmapped into one batched LAPACK call: see :func:`varbench.core.numerics.after`.
    """
    return jax.lax.map(lambda xy: jnp.linalg.lstsq(*xy)[0], (jnp.swapaxes(features, 0, 1), targets.T))


def fit_critic(problem: Problem, params: Params, key: jax.Array, num_trajectories: int) -> dict[str, jax.Array]:
    """Fit V_t and Q_t by regressing the reward-to-go R_t on state (and action) features.

    ``E[R_t | z_{t−1}] = V_t`` and ``E[R_t | z_{t−1}, z_t] = Q_t``, so least squares on features in which they
    are linear converges to them. Uses ``num_trajectories`` cost evaluations, once (not per estimate). The
    batch is vmapped here because the fit is part of ``init`` (jitted by the harness), not of an estimate.
    """
    params = jax.lax.stop_gradient(params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    noise = sample_noise(batched_noise(problem.latent_noise(params), num_trajectories), key, dtype)
    z = jax.vmap(problem.latent, in_axes=(None, 0))(params, noise)
    r = jax.vmap(problem.rewards, in_axes=(None, 0))(params, z)
    to_go = jax.vmap(reward_to_go)(r)
    v = _least_squares_per_step(jax.vmap(problem.value_features)(z), to_go)
    q = _least_squares_per_step(after(v, jax.vmap(problem.action_features)(z)), to_go)
    return {"v": v, "q": q}


def critic_values(problem: Problem, params: Params, state: Any, z: jax.Array, critic: str
                  ) -> tuple[jax.Array, jax.Array]:
    """``(values (T + 1,), action_values (T,))`` along one trajectory, from the oracle or the fitted critic."""
    if critic == "oracle":
        return problem.value(params, z), problem.action_value(params, z)
    v = jnp.einsum("tf,tf->t", problem.value_features(z), state["v"].astype(z.dtype))
    q = jnp.einsum("tf,tf->t", problem.action_features(z), state["q"].astype(z.dtype))
    return jnp.concatenate([v, jnp.zeros((1,), v.dtype)]), q


# --- advantages of one trajectory -----------------------------------------------------------------------------

def reward_to_go(r_t: jax.Array) -> jax.Array:
    """``R_t = Σ_{u≥t} r_u`` (λ-return with λ = 1, unit discounts, zero final value)."""
    ones, zeros = jnp.ones_like(r_t), jnp.zeros_like(r_t)
    return lambda_returns(r_t, ones, zeros, 1.0)


def advantages(kind: str, r_t: jax.Array, values: jax.Array, action_values: jax.Array, *, n: int = 1,
               lambda_: Any = 1.0) -> jax.Array:
    """The weight A_t of ∇θ log q(z_t | z_{t−1}) for one trajectory (see the module docstring)."""
    ones = jnp.ones_like(r_t)
    if kind == "full":
        return jnp.broadcast_to(jnp.sum(r_t), r_t.shape)
    if kind == "to_go":
        return reward_to_go(r_t)
    if kind == "value":
        return reward_to_go(r_t) - values[:-1]
    if kind == "actor_critic":
        return action_values - values[:-1]
    if kind == "n_step":
        return n_step_bootstrapped_returns(r_t, ones, values[1:], n) - values[:-1]
    if kind == "gae":
        return truncated_generalized_advantage_estimation(r_t, ones, lambda_, values)
    raise ValueError(kind)


def score_estimate(problem: Problem, params: Params, state: Any, noise: Any, *, kind: str, critic: str,
                   n: int = 1, lambda_: Any = 1.0) -> Params:
    """``(1/K) Σ_k Σ_t ∇θ log q(z_kt | z_k,t−1) A_kt`` for the K trajectories in ``noise`` (leading axis K)."""
    params_sg = jax.lax.stop_gradient(params)
    z = jax.lax.stop_gradient(jax.vmap(problem.latent, in_axes=(None, 0))(params_sg, noise))

    def weights(zk: jax.Array) -> jax.Array:
        r = problem.rewards(params_sg, zk)
        values, action_values = (critic_values(problem, params_sg, state, zk, critic)
                                 if kind not in ("full", "to_go") else (None, None))
        return advantages(kind, r, values, action_values, n=n, lambda_=lambda_)

    w = jax.lax.stop_gradient(jax.vmap(weights)(z))

    def surrogate(p: Params) -> jax.Array:
        log_q = jax.vmap(problem.step_log_probs, in_axes=(None, 0))(p, z)
        return jnp.sum(w * log_q) / z.shape[0]

    return jax.grad(surrogate)(params)


# --- the score function with per-step scores (spec: score_function:returns=...,baseline=value,critic=...) ----

#: The baselines of the per-step score function (``value`` is the critic's V_t(z_{t−1})).
SEQUENTIAL_BASELINES = ("none", "value")


@pytree_dataclass
class SequentialScoreFunction(Estimator):
    """Score function with per-step scores: ``(1/K) Σ_k Σ_t ∇θ log q(z_kt | z_k,t−1) A_kt`` (module docstring).

    Reference: Weber, Heess, Eslami, Schulman, Wingate & Silver (2015), "Reinforced Variational Inference", §3
    (returns, baselines and critics); Williams (1992) (REINFORCE). The weight A_t is ``returns=full`` (Σ_u r_u) or
    ``returns=to_go`` (R_t = Σ_{u≥t} r_u), minus ``baseline=value``'s V_t(z_{t−1}) (``critic=oracle`` exact,
    ``critic=learned`` fitted by least squares in ``init`` on ``critic_samples`` trajectories, then frozen); the
    zero-mean direct term of the −log q inside the rewards is dropped. Sequential problems only; K = ``samples``
    trajectories (cost evaluations) per estimate.

    It is written as the score function it refines: its ``name`` is ``score_function``, and the catalog builds it
    from a ``score_function`` spec that selects it (:meth:`selected_by`), so ``score_function:returns=to_go`` is
    its canonical spec. At its defaults it is what :class:`~varbench.estimators.score_function.ScoreFunction`
    computes on a sequential problem with baseline none.
    """

    name = "score_function"
    summary = "score function with per-step scores, reward-to-go and value baselines (Weber et al. 2015)"

    baseline: str = option("none", "none, or value (sequential: V_t(z_{t-1}), with returns=to_go)",
                           choices=SEQUENTIAL_BASELINES, kind=str)
    samples: int = option(1, "K trajectories (cost evaluations) per estimate, averaged", kind=int, minimum=1)
    returns: str = option("full", "sequential problems: full (total reward) or to_go (reward-to-go R_t)",
                          choices=RETURNS, kind=str)
    critic: str = option("oracle", "baseline=value: oracle (exact V) or learned (least squares, then frozen)",
                         choices=CRITICS, kind=str)
    critic_samples: int = option(DEFAULT_CRITIC_SAMPLES, "critic=learned: trajectories used once to fit V", kind=int,
                                 minimum=2)

    @classmethod
    def selected_by(cls, options: dict[str, Any]) -> bool:
        """Whether a ``score_function`` spec's ``options`` (by key, as given) ask for this class: a value only it
        takes (``baseline=value``) or one of its own options away from its default. Its own options at their
        defaults describe the plain score function, which the catalog then builds."""
        own = ("returns", "critic", "critic_samples")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        return options.get("baseline") == "value" or any(k in options and options[k] != fields[k].default
                                                         for k in own)

    def validate(self) -> None:
        """Refuse combinations of returns, baseline and critic that do not go together."""
        if self.baseline == "value" and self.returns != "to_go":
            raise VarbenchError("score_function baseline=value needs returns=to_go (the value V_t(z_{t-1}) is a "
                                "baseline for the reward-to-go); valid: returns=to_go,baseline=value")
        if self.critic == "learned" and self.baseline != "value":
            raise VarbenchError("score_function critic=learned applies only with baseline=value; valid: "
                                "returns=to_go,baseline=value,critic=learned")

    def check_applies(self, problem: Problem) -> None:
        require_sequential(f"score_function:returns={self.returns},baseline={self.baseline}", problem)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> Any:
        return batched_noise(problem.latent_noise(params), self.samples)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> Any:
        # A learned critic is fitted once here and then frozen.
        if self.baseline == "value" and self.critic == "learned":
            return fit_critic(problem, params, key, self.critic_samples)
        return ()

    def estimate_from_noise(self, problem: Problem, params: Params, state: Any, noise: Any) -> Params:
        kind = "value" if self.baseline == "value" else self.returns
        return score_estimate(problem, params, state, noise, kind=kind, critic=self.critic)


# --- actor-critic, n-step and GAE -----------------------------------------------------------------------------

class _CriticEstimator(Estimator):
    """Shared plumbing: one trajectory per estimate, a critic (oracle or learned), sequential problems only."""

    critic: str
    critic_samples: int
    #: unbiased with the oracle critic; a fitted critic biases the advantages wherever it does not cancel
    unbiased = OptionFlag(lambda self: self.critic == "oracle", on_class=True)

    def check_applies(self, problem: Problem) -> None:
        require_sequential(self.name, problem)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 1

    def noise(self, problem: Problem, params: Params) -> Any:
        return batched_noise(problem.latent_noise(params), 1)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> Any:
        if self.critic == "learned":
            return fit_critic(problem, params, key, self.critic_samples)
        if self.critic == "td":
            return fit_td_critic(problem, params, key, self.critic_samples, self.td_lambda)
        return ()

    def validate(self) -> None:
        validate_td_lambda(self)

    def _estimate(self, problem: Problem, params: Params, state: Any, noise: Any, kind: str, **kw: Any) -> Params:
        return score_estimate(problem, params, state, noise, kind=kind, critic=self.critic, **kw)


def critic_option() -> Any:
    """The ``critic`` option (``oracle``, ``learned`` or ``td``) shared by the critic estimators."""
    return option("oracle", "critic: oracle (the problem's exact V, Q), learned (least squares on returns) or td "
                  "(fitted lambda-returns, estimators/td_critic.py); learned and td are then frozen",
                  choices=CRITICS + ("td",), kind=str)


def critic_samples_option() -> Any:
    """The ``critic_samples`` option: trajectories used once, in ``init``, to fit a learned critic."""
    return option(DEFAULT_CRITIC_SAMPLES, "trajectories used once to fit a learned critic (not per estimate)",
                  kind=int, minimum=2)


@register_estimator
@pytree_dataclass
class ActorCritic(_CriticEstimator):
    """Actor-critic score function: ``Σ_t ∇θ log q(z_t | z_{t−1}) (Q_t(z_{t−1}, z_t) − V_t(z_{t−1}))``.

    Reference: Weber et al. (2015), "Reinforced Variational Inference" (critics); Sutton, McAllester, Singh & Mansour (2000). Sequential
    problems only (continuous or discrete). Unbiased with the oracle critic; with ``critic=learned`` the
    fitted Q's error biases it (measured, never hidden). One cost evaluation (one trajectory) per estimate.
    """

    name = "actor_critic"
    summary = "sequential score function weighted by Q - V (Weber et al. 2015); biased with critic=learned"

    critic: str = critic_option()
    critic_samples: int = critic_samples_option()
    td_lambda: float = td_lambda_option()

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self._estimate(problem, params, state, noise, "actor_critic")


@register_estimator
@pytree_dataclass
class NStep(_CriticEstimator):
    """n-step TD advantage ``r_t + … + r_{t+n−1} + V_{t+n}(z_{t+n−1}) − V_t(z_{t−1})`` weighting the step score.

    Reference: Weber et al. (2015), "Reinforced Variational Inference" (TD learning); Sutton & Barto (2018) §7.1. Sequential problems only.
    Unbiased with the oracle critic; biased with ``critic=learned`` unless n ≥ T (the bootstrap is then the
    exact V_{T+1} = 0 for every step). n is a traced option: an n grid reuses one compiled kernel. One cost
    evaluation per estimate.
    """

    name = "n_step"
    summary = "sequential score function with n-step TD advantages (Weber et al. 2015); biased with critic=learned"

    n: int = option(1, "number of rewards before bootstrapping with the critic's V", static=False, kind=int,
                    minimum=1)
    critic: str = critic_option()
    critic_samples: int = critic_samples_option()
    td_lambda: float = td_lambda_option()

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self._estimate(problem, params, state, noise, "n_step", n=self.n)


@register_estimator
@pytree_dataclass
class GAE(_CriticEstimator):
    """Generalized advantage estimation: ``A_t = Σ_l λ^l δ_{t+l}``, ``δ_t = r_t + V_{t+1}(z_t) − V_t(z_{t−1})``.

    Reference: Schulman, Moritz, Levine, Jordan & Abbeel (2016), eq. (16); Weber et al. (2015) ("can be combined").
    λ = 1 is the value baseline (R_t − V_t), λ = 0 the one-step TD error. Sequential problems only. Unbiased
    with the oracle critic; with ``critic=learned`` biased for λ < 1. λ is a traced option: a λ grid reuses one
    compiled kernel. One cost evaluation per estimate.
    """

    name = "gae"
    summary = "sequential score function with GAE(lambda) advantages (Schulman et al. 2016); biased w/ learned critic"

    lam: float = option(0.95, "lambda in [0, 1]: 1 = value baseline, 0 = one-step TD", static=False, kind=float,
                        minimum=0.0, key="lambda")
    critic: str = critic_option()
    critic_samples: int = critic_samples_option()
    td_lambda: float = td_lambda_option()
    #: λ = 1 is the value baseline (R_t − V_t), unbiased with any critic
    unbiased = OptionFlag(lambda self: self.critic == "oracle" or float(self.lam) == 1.0, on_class=True)

    def validate(self) -> None:
        super().validate()
        if not float(self.lam) <= 1.0:
            raise VarbenchError(f"option 'lambda' of estimator 'gae' must be in [0, 1]; got {self.lam}")

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return self._estimate(problem, params, state, noise, "gae", lambda_=self.lam)


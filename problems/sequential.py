"""Sequential latent-variable problems: variational inference as reinforcement learning.

Weber et al. (2015), "Reinforced Variational Inference": a structured variational posterior
``q_θ(z_{1:T}) = Π_t q_θ(z_t | z_{t−1})`` is a policy, the latent ``z_{t−1}`` is the state, ``z_t`` the action,
and the per-step free energy ``r_t = log p(y_t | z_t) + log p(z_t | z_{t−1}) − log q_θ(z_t | z_{t−1})`` is the
reward. The ELBO is the expected return ``E_q[Σ_t r_t]``, so ``cost(params, z) = Σ_t r_t`` and the generic
estimators (score function, pathwise) apply unchanged; the sequential estimators use the per-step pieces below.

Conventions (one trajectory, unbatched): ``z`` holds z_1..z_T on its leading axis; the state before step 1,
z_0, is a fixed dummy (0 for continuous latents, state 0 for discrete ones) that step 1 ignores. Value arrays
have T + 1 entries, ``V_1(z_0), …, V_T(z_{T−1}), V_{T+1} = 0``; action values have T entries
``Q_t(z_{t−1}, z_t)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from varbench.core.errors import VarbenchError
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option


def steps_option(default: int, doc: str = "number of time steps", minimum: int = 1) -> Any:
    """The option ``T`` of a sequential problem: the number of steps of a trajectory
    (:attr:`SequentialProblem.num_steps`).

    Args:
      default: T when the option is not given.
      doc: one line for ``varbench list``.
      minimum: the smallest T the problem allows.

    Returns:
      The dataclass field (see :func:`varbench.core.pytree.option`).
    """
    return option(default, doc, kind=int, minimum=minimum)


def observations_option() -> Any:
    """The option ``y`` of a state-space problem: its T observations, or None for ones drawn from the model.

    Returns:
      The dataclass field (see :func:`varbench.core.pytree.option`); the value is stored as a tuple of floats.
    """
    return option(None, "observations (list of length T); default: drawn from the model, fixed seed", kind=list,
                  convert=lambda v: tuple(float(x) for x in v))


def check_observations(problem: Any) -> None:
    """Refuse given observations ``y`` whose length is not the problem's ``T``, with a one-line error.

    Args:
      problem: a problem with the options ``T`` and ``y`` (:func:`observations_option`).
    """
    if problem.y is not None and len(problem.y) != problem.T:
        raise VarbenchError(f"option 'y' of problem {problem.name!r} must have length T={problem.T}; "
                            f"got {len(problem.y)}")


class SequentialProblem(Problem):
    """A problem whose cost is a sum of per-step rewards of a Markov variational posterior."""

    sequential: ClassVar[bool] = True
    has_exact_objective: ClassVar[bool] = True
    #: the cost contains −log q, whose expectation (the entropy of q) ``entropy`` gives in closed form
    has_entropy: ClassVar[bool] = True

    @property
    def num_steps(self) -> int:
        """T, the number of steps of a trajectory: the option ``T`` unless a subclass says otherwise."""
        return self.T

    def step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        """``log q_θ(z_t | z_{t−1})`` for t = 1..T, shape (T,)."""
        raise NotImplementedError

    def model_step_log_probs(self, params: Params, z: jax.Array) -> jax.Array:
        """``log p(y_t | z_t) + log p(z_t | z_{t−1})`` for t = 1..T, shape (T,)."""
        raise NotImplementedError

    def value(self, params: Params, z: jax.Array) -> jax.Array:
        """Oracle ``V_t(z_{t−1}) = E_q[Σ_{u≥t} r_u | z_{t−1}]`` along ``z`` for t = 1..T+1, shape (T + 1,)."""
        raise NotImplementedError

    def action_value(self, params: Params, z: jax.Array) -> jax.Array:
        """Oracle ``Q_t(z_{t−1}, z_t) = E_q[Σ_{u≥t} r_u | z_{t−1}, z_t]`` along ``z``, shape (T,)."""
        raise NotImplementedError

    def value_features(self, z: jax.Array) -> jax.Array:
        """Features of the state z_{t−1} per step, shape (T, F), in which V_t is exactly linear (learned critics)."""
        raise NotImplementedError

    def action_features(self, z: jax.Array) -> jax.Array:
        """Features of (z_{t−1}, z_t) per step, shape (T, G), in which Q_t is exactly linear."""
        raise NotImplementedError

    def entropy(self, params: Params) -> jax.Array:
        """``H(q_θ) = −E_q[log q_θ(z)]`` in closed form."""
        raise NotImplementedError

    def log_evidence(self, params: Params | None = None) -> jax.Array:
        """``log p(y)`` (the ELBO's upper bound; equal to it at the exact posterior)."""
        raise NotImplementedError

    # --- derived ------------------------------------------------------------------------------------------

    def rewards(self, params: Params, z: jax.Array) -> jax.Array:
        """``r_t = log p(y_t | z_t) + log p(z_t | z_{t−1}) − log q_θ(z_t | z_{t−1})``, shape (T,)."""
        return self.model_step_log_probs(params, z) - self.step_log_probs(params, z)

    def log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        return jnp.sum(self.step_log_probs(params, z))

    def model_log_prob(self, params: Params, z: jax.Array) -> jax.Array:
        """``log p(y, z)``: the cost without its −log q part."""
        return jnp.sum(self.model_step_log_probs(params, z))

    def cost(self, params: Params, z: jax.Array) -> jax.Array:
        return jnp.sum(self.rewards(params, z))

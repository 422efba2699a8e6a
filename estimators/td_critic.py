"""A critic learned by temporal differences: batch TD(λ) (fitted λ-return evaluation) on separate trajectories.

Weber et al. (2015), "Reinforced Variational Inference", list TD learning among the RL ideas that carry over to
VI; Sutton & Barto (2018), "Reinforcement Learning: An Introduction", §12.1 (λ-returns) and §11 / Ernst, Geurts &
Wehenkel (2005), "Tree-Based Batch Mode Reinforcement Learning" (fitted Q iteration) give the method. In a finite
horizon the per-step critics are fitted backwards: with V̂_{T+1} = 0 and G_{T+1} = 0,

    G_t = r_t + (1 − λ) V̂_{t+1}(z_t) + λ G_{t+1},    V̂_t, Q̂_t = least squares of G_t on state / state-action features.

λ = 1 is the Monte Carlo regression of ``critic=learned`` (targets = rewards-to-go); λ = 0 is fitted (Q-)value
iteration for the policy, whose targets r_t + V̂_{t+1}(z_t) bootstrap on the previous fit: lower-variance
targets, at the price of propagating the fitted V̂'s errors backwards. The fitted coefficients are the estimator's
state (same layout as the Monte Carlo critic's), frozen while variance is measured.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from varbench.core.errors import VarbenchError
from varbench.core.estimator import batched_noise
from varbench.core.noise import sample_noise
from varbench.core.numerics import after
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option

DEFAULT_TD_LAMBDA = 0.0


def td_lambda_option() -> Any:
    """The ``td_lambda`` option of ``critic=td``: λ of the fitted λ-returns (0: fitted value iteration)."""
    return option(DEFAULT_TD_LAMBDA, "critic=td: lambda of the fitted lambda-returns (0 = fitted value iteration, "
                  "1 = Monte Carlo regression)", kind=float, minimum=0.0)


def fit_td_critic(problem: Problem, params: Params, key: jax.Array, num_trajectories: int, lambda_: float
                  ) -> dict[str, jax.Array]:
    """Fit V_t and Q_t backwards on λ-return targets from ``num_trajectories`` fresh trajectories.

    Returns ``{"v": (T, F), "q": (T, G)}`` coefficients on ``problem.value_features`` / ``action_features``.
    Uses ``num_trajectories`` cost evaluations, once (in ``init``, not per estimate).
    """
    params = jax.lax.stop_gradient(params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    noise = sample_noise(batched_noise(problem.latent_noise(params), num_trajectories), key, dtype)
    z = jax.vmap(problem.latent, in_axes=(None, 0))(params, noise)
    r_t = jnp.swapaxes(jax.vmap(problem.rewards, in_axes=(None, 0))(params, z), 0, 1)          # (T, N)
    phi_t = jnp.swapaxes(jax.vmap(problem.value_features)(z), 0, 1)                             # (T, N, F)
    psi_t = jnp.swapaxes(jax.vmap(problem.action_features)(z), 0, 1)                            # (T, N, G)
    # Features of the state after step t (before step t + 1); after the last step the value is exactly 0.
    phi_tp1 = jnp.concatenate([phi_t[1:], jnp.zeros_like(phi_t[:1])])
    lam = jnp.asarray(lambda_, dtype)

    def backward(carry: tuple, inputs: tuple) -> tuple[tuple, tuple]:
        g_tp1, w_tp1 = carry
        r, phi, psi, phi_next = inputs
        g = r + (1 - lam) * (phi_next @ w_tp1) + lam * g_tp1
        w = jnp.linalg.lstsq(phi, g)[0]  # minimum-norm: unidentified coefficients (constant features) are 0
        u = jnp.linalg.lstsq(after(w, psi), g)[0]  # one LAPACK call in flight at a time (see numerics.after)
        return (g, w), (w, u)

    init = (jnp.zeros(r_t.shape[1:], dtype), jnp.zeros(phi_t.shape[-1:], dtype))
    _, (v, q) = jax.lax.scan(backward, init, (r_t, phi_t, psi_t, phi_tp1), reverse=True)
    return {"v": v, "q": q}


def validate_td_lambda(estimator: Any) -> None:
    """``td_lambda`` must lie in [0, 1]."""
    if not 0.0 <= float(estimator.td_lambda) <= 1.0:
        raise VarbenchError(f"option 'td_lambda' of estimator {estimator.name!r} must be in [0, 1]; "
                            f"got {estimator.td_lambda}")

"""Returns and advantages of ONE trajectory (unbatched; the caller vmaps), in the style of rlax's multistep.

Time-index suffixes follow rlax: ``r_t`` and ``discount_t`` are the reward and discount of step t (after action
t); ``v_t`` is the value of the state reached after step t (bootstrap value); ``values`` (in
:func:`truncated_generalized_advantage_estimation`) are the values of the states *before* each step plus the
final state, length T + 1. All recursions run backwards with ``lax.scan``.

References: Sutton & Barto (2018), "Reinforcement Learning: An Introduction", §7.1 (n-step returns) and §12.1
(λ-returns); Schulman, Moritz, Levine, Jordan & Abbeel (2016), "High-Dimensional Continuous Control Using
Generalized Advantage Estimation", eq. (16).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _check_rank1(**arrays: jax.Array) -> None:
    for name, a in arrays.items():
        if jnp.ndim(a) != 1:
            raise ValueError(f"{name} must be a rank-1 array over time (one unbatched trajectory); got shape "
                             f"{jnp.shape(a)}")


def lambda_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array, lambda_: float | jax.Array = 1.0
                   ) -> jax.Array:
    """λ-returns ``G_t = r_t + discount_t ((1 − λ) v_t + λ G_{t+1})``, bootstrapped with ``G_{T+1} = v_T``.

    With λ = 1 and a zero final bootstrap value this is the reward-to-go ``Σ_{u≥t} r_u`` (for unit discounts).
    """
    _check_rank1(r_t=r_t, discount_t=discount_t, v_t=v_t)
    lambda_ = jnp.broadcast_to(jnp.asarray(lambda_, r_t.dtype), r_t.shape)

    def step(g_next: jax.Array, inputs: tuple) -> tuple[jax.Array, jax.Array]:
        r, discount, v, lam = inputs
        g = r + discount * ((1 - lam) * v + lam * g_next)
        return g, g

    _, returns = jax.lax.scan(step, v_t[-1], (r_t, discount_t, v_t, lambda_), reverse=True)
    return returns


def n_step_bootstrapped_returns(r_t: jax.Array, discount_t: jax.Array, v_t: jax.Array, n: int | jax.Array
                                ) -> jax.Array:
    """``G_t = r_t + γ_t r_{t+1} + … + (Π γ) v_{t+n−1}``: n rewards then the value after step t+n−1.

    Windows that run past the end are truncated and bootstrapped with the last value ``v_T``. Computed as a
    reverse scan over time carrying the partial returns of every length 1…T that start at each step, then
    picking length min(n, T) (every length ≥ T is the truncated return). ``n`` may be traced, so an n grid
    reuses one compiled kernel; the carry is T long, O(T²) work, small for trajectory lengths of tens.
    """
    _check_rank1(r_t=r_t, discount_t=discount_t, v_t=v_t)
    if isinstance(n, int) and n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    horizon = r_t.shape[0]
    # carry[k] = return of length k+1 from step t+1 (k+1 rewards then bootstrap), k = 0..T-1; from the end of
    # the trajectory every length collapses to the final value.
    init = jnp.broadcast_to(v_t[-1], (horizon,))
    pick = jnp.clip(jnp.asarray(n) - 1, 0, horizon - 1)

    def step(carry: jax.Array, inputs: tuple) -> tuple[jax.Array, jax.Array]:
        r, discount, v = inputs
        # length-1 return from t: r_t + γ v_t; length-(k+1): r_t + γ · (length-k return from t+1).
        shorter = jnp.concatenate([v[None], carry[:-1]])
        new = r + discount * shorter
        return new, new[pick]

    _, returns = jax.lax.scan(step, init, (r_t, discount_t, v_t), reverse=True)
    return returns


def truncated_generalized_advantage_estimation(r_t: jax.Array, discount_t: jax.Array, lambda_: float | jax.Array,
                                               values: jax.Array) -> jax.Array:
    """GAE ``A_t = Σ_l (γλ)^l δ_{t+l}``, ``δ_t = r_t + γ_t values[t+1] − values[t]`` (Schulman et al. 2016).

    ``values`` has T + 1 entries (the state before each step, then the final state). λ = 1 gives the
    reward-to-go minus ``values[t]`` (with a zero final value); λ = 0 gives the one-step TD error δ_t.
    """
    _check_rank1(r_t=r_t, discount_t=discount_t, values=values)
    lambda_ = jnp.broadcast_to(jnp.asarray(lambda_, r_t.dtype), r_t.shape)
    delta_t = r_t + discount_t * values[1:] - values[:-1]

    def step(a_next: jax.Array, inputs: tuple) -> tuple[jax.Array, jax.Array]:
        delta, discount, lam = inputs
        a = delta + discount * lam * a_next
        return a, a

    _, advantages = jax.lax.scan(step, jnp.zeros((), r_t.dtype), (delta_t, discount_t, lambda_), reverse=True)
    return advantages

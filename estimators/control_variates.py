"""Control variates for the score-function estimator, with coefficients that keep it unbiased."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from varbench.core.capabilities import LOCATION_SCALE, require
from varbench.core.problem import Params, Problem

CONTROL_VARIATES = ("none", "delta")


def check_delta_applies(problem: Problem) -> None:
    require(problem, LOCATION_SCALE, "score_function:control_variate=delta", "use control_variate=none")


def leave_one_out_coefficient(terms: jax.Array, controls: jax.Array) -> jax.Array:
    """Per sample k and coordinate, the least-squares slope of the terms on the controls fitted (with an
    intercept) to the OTHER K − 1 samples, so it is independent of sample k; it needs K >= 3.

    The intercept makes the slope exact when terms − controls is constant (a cost equal to its Taylor
    expansion), where the control variate then removes all the variance.
    """
    k = terms.shape[0]
    # Row k of `others` selects the samples j != k; deviations are taken from those samples' own means (two-pass,
    # so nearly equal controls do not cancel catastrophically in float32).
    others = (1 - jnp.eye(k, dtype=terms.dtype)).reshape((k, k) + (1,) * (terms.ndim - 1))

    def deviations(x: jax.Array) -> jax.Array:
        mean = jnp.sum(others * x[None], 1) / (k - 1)
        return others * (x[None] - mean[:, None])

    dt, dh = deviations(terms), deviations(controls)
    cov, var = jnp.sum(dt * dh, 1), jnp.sum(dh * dh, 1)
    return jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 0.0)


def delta_method(problem: Problem, params: Params, xs: jax.Array, scores: Params, terms: Params) -> Params:
    """Subtract ``a_k (s_k f̃(x_k) − E[s f̃])`` from each per-sample score-function term ``terms`` (leading axis K).

    ``f̃(x) = f(μ) + ∇f(μ)·(x − μ)`` is the first-order Taylor (delta-method) expansion of the cost at the mean,
    with μ held fixed; for a location family ``E_θ[f̃] = f(μ) + ∇f(μ)·(mean − μ)``, so ``E[s f̃] = ∇_θ E_θ[f̃]``
    is ∇f(μ) for the mean and 0 for the log-scale. References: Paisley, Blei & Jordan (2012), "Variational
    Bayesian Inference with Stochastic Search", ICML, §3 (control variates from Taylor approximations); Miller,
    Foti, D'Amour & Adams (2017), "Reducing Reparameterization Gradient Variance", NeurIPS (first-order Taylor
    control variates with known expectation). The coefficient is leave-one-out, so the estimate stays unbiased.
    """
    mu = jax.lax.stop_gradient(params["mean"])
    f_mu, grad_mu = jax.value_and_grad(lambda x: problem.cost(params, x))(mu)
    f_mu, grad_mu = jax.lax.stop_gradient(f_mu), jax.lax.stop_gradient(grad_mu)
    taylor = f_mu + (xs - mu) @ grad_mu
    expected = jax.grad(lambda p: f_mu + jnp.sum((p["mean"] - mu) * grad_mu))(params)

    def adjust(s: jax.Array, t: jax.Array, e: jax.Array) -> jax.Array:
        h = s * taylor.reshape((-1,) + (1,) * (s.ndim - 1)) - e
        return t - leave_one_out_coefficient(t, h) * h

    return jax.tree_util.tree_map(adjust, scores, terms, expected)

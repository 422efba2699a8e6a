"""The delta-method control variate, applied to any base estimator of a Gaussian location-scale problem.

The control variate of Paisley, Blei & Jordan (2012), "Variational Bayesian Inference with Stochastic Search",
ICML, §3, and Miller, Foti, D'Amour & Adams (2017), "Reducing Reparameterization Gradient Variance", NeurIPS,
§3 (optax's ``control_delta_method``): the Taylor expansion of the cost at the mean μ₀ (held fixed),

    f̃(x) = f(μ₀) + ∇f(μ₀)·(x − μ₀) + ½ (x − μ₀)ᵀ H(μ₀) (x − μ₀)          (``order=2``; ``order=1`` drops H),

whose expectation under q = N(μ, diag σ²) is known in closed form,

    E_q[f̃] = f(μ₀) + ∇f(μ₀)·(μ − μ₀) + ½ (μ − μ₀)ᵀ H (μ − μ₀) + ½ Σ_i H_ii σ_i²,

so its gradient at μ = μ₀ is ``∇f(μ₀)`` for the mean and ``H_ii σ_i²`` for each log-scale. Following optax's
``control_variates_jacobians``, the BASE estimator (score function, pathwise or measure-valued) is applied to f̃
with the same noise as to f; the estimate is

    ĝ = mean_k [ g_k(f) − c · (g_k(f̃) − ∇E_q[f̃]) ],

unbiased for any coefficient c that is independent of sample k. The expansion point is held fixed (not
differentiated), which is what keeps ĝ unbiased for costs that are not quadratic. For a quadratic cost with
``order=2``, f̃ = f and c = 1 gives an estimate with variance 0.

Coefficients (option ``coefficient``):
  * ``fixed``: c = ``scale`` (default 1: Miller et al. 2017; optax's use). No extra evaluations. With c = 1 it can
    raise the variance where the Taylor expansion is a poor fit over q's width (cos costs with large k·σ); with c
    set to the variance-minimising c* = Cov(g, h) / Var(h) (from a pilot, or exactly) the variance is
    (1 − ρ²)·Var(g), never more than the base estimator's.
  * ``fitted``: per coordinate, the least-squares slope of g(f) on g(f̃) over ``fit_samples`` SEPARATE single
    estimates (optax estimates its coefficient on a separate batch), an estimate of the variance-minimising
    c* = Cov(g, h) / Var(h). Uses ``fit_samples`` more base estimates.
  * ``loo``: the slope fitted to the other K − 1 samples of the same estimate (no extra evaluations).

A slope fitted with an intercept to n points has an error like a Student-t with n − 2 degrees of freedom (times
heavy-tailed score terms), so its variance is infinite or huge for tiny n: with K = 3 the leave-one-out slope
uses 2 points and its variance is unbounded. Both fitted coefficients therefore need at least
:data:`MIN_FIT_POINTS` points (refused otherwise, naming the valid choices).

Cost evaluations: the base estimator's, plus one evaluation of the cost with its gradient and Hessian at μ₀, plus
``fit_samples`` base estimates for ``coefficient=fitted``. Evaluating f̃ is a closed-form polynomial, not a cost
evaluation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from varbench.core.capabilities import LOCATION_SCALE, require
from varbench.core.errors import VarbenchError
from varbench.core.estimator import batched_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option

CONTROL_VARIATES = ("none", "delta")
COEFFICIENTS = ("fixed", "fitted", "loo")
ORDERS = (1, 2)
#: Fewest points a fitted slope uses (leave-one-out: K − 1; fitted: fit_samples): see the module docstring.
MIN_FIT_POINTS = 9


def control_variate_option() -> Any:
    return option("none", "none, or delta: Taylor (delta-method) control variate with closed-form expectation "
                  "(Gaussian location-scale problems)", choices=CONTROL_VARIATES, kind=str)


def order_option() -> Any:
    return option(2, "control_variate=delta: order of the Taylor expansion, 1 or 2", choices=ORDERS, kind=int)


def coefficient_option() -> Any:
    return option("fixed", "control_variate=delta: coefficient fixed (c = scale), fitted (on fit_samples separate "
                  f"estimates) or loo (leave-one-out, samples >= {MIN_FIT_POINTS + 1})", choices=COEFFICIENTS,
                  kind=str)


def scale_option() -> Any:
    return option(1.0, "coefficient=fixed: the coefficient c", static=False, kind=float)


def fit_samples_option() -> Any:
    return option(16, "coefficient=fitted: separate single estimates the coefficient is fitted on", kind=int,
                  minimum=MIN_FIT_POINTS)


def validate(estimator: Any, samples: int) -> None:
    """Refuse coefficient choices whose fitted slope would have unbounded variance."""
    if estimator.control_variate == "none":
        return
    if estimator.coefficient == "loo" and samples - 1 < MIN_FIT_POINTS:
        raise VarbenchError(
            f"{estimator.name} control_variate=delta,coefficient=loo fits its slope to the other samples: it needs "
            f"samples >= {MIN_FIT_POINTS + 1} (got samples={samples}; a slope through few points has unbounded "
            f"variance); valid: coefficient=fixed, coefficient=fitted, or more samples")


def check_applies(estimator: Any, problem: Problem) -> None:
    if estimator.control_variate != "none":
        require(problem, LOCATION_SCALE, f"{estimator.name}:control_variate=delta", "use control_variate=none")


def extra_evaluations(estimator: Any, single_evaluations: int) -> int:
    """Cost evaluations the control variate adds: the expansion at the mean, and the fitting batch."""
    if estimator.control_variate == "none":
        return 0
    return 1 + (estimator.fit_samples * single_evaluations if estimator.coefficient == "fitted" else 0)


class Taylor(NamedTuple):
    """The expansion of the cost at ``point`` (all constants: no gradient flows through them)."""

    point: jax.Array
    value: jax.Array
    gradient: jax.Array
    hessian: jax.Array  # zeros for order 1


def expand(problem: Problem, params: Params, order: int) -> Taylor:
    mu = jax.lax.stop_gradient(params["mean"])
    cost = lambda x: problem.cost(params, x)
    value, gradient = jax.value_and_grad(cost)(mu)
    hessian = jax.hessian(cost)(mu) if order == 2 else jnp.zeros(mu.shape * 2, mu.dtype)
    return Taylor(mu, *jax.lax.stop_gradient((value, gradient, hessian)))


def taylor_cost(t: Taylor, x: jax.Array) -> jax.Array:
    d = x - t.point
    return t.value + d @ t.gradient + 0.5 * d @ t.hessian @ d


def expected_gradient(t: Taylor, params: Params) -> Params:
    """``∇_θ E_{q_θ}[f̃]`` at θ = params, with the expansion point fixed (closed form for a Gaussian q)."""
    def expectation(p: Params) -> jax.Array:
        d = p["mean"] - t.point
        variance = jnp.exp(2 * p["log_scale"])
        return t.value + d @ t.gradient + 0.5 * d @ t.hessian @ d + 0.5 * jnp.sum(jnp.diag(t.hessian) * variance)

    return jax.grad(expectation)(params)


class TaylorProblem:
    """``problem`` with its cost replaced by the Taylor expansion ``f̃`` (everything else delegated)."""

    def __init__(self, problem: Problem, taylor: Taylor):
        self._problem, self._taylor = problem, taylor

    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        return taylor_cost(self._taylor, x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)


def single_noise(estimator: Any, problem: Problem, params: Params, single: Any, samples: int) -> Any:
    """The noise of ``samples`` single estimates (leading axis), plus the fitting batch for ``coefficient=fitted``."""
    batch = batched_noise(single, samples)
    if estimator.control_variate == "delta" and estimator.coefficient == "fitted":
        return {"estimate": batch, "fit": batched_noise(single, estimator.fit_samples)}
    return batch


def _slope(terms: jax.Array, controls: jax.Array) -> jax.Array:
    """Least-squares slope with intercept over the leading axis (two-pass deviations for float32)."""
    dt, dh = terms - jnp.mean(terms, 0), controls - jnp.mean(controls, 0)
    cov, var = jnp.sum(dt * dh, 0), jnp.sum(dh * dh, 0)
    return jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 0.0)


def leave_one_out_coefficient(terms: jax.Array, controls: jax.Array) -> jax.Array:
    """Per sample k and coordinate, the least-squares slope (with intercept) of the terms on the controls fitted
    to the OTHER K − 1 samples, so it is independent of sample k."""
    k = terms.shape[0]
    # Row k of `others` selects the samples j != k.
    others = (1 - jnp.eye(k, dtype=terms.dtype)).reshape((k, k) + (1,) * (terms.ndim - 1))

    def deviations(x: jax.Array) -> jax.Array:
        mean = jnp.sum(others * x[None], 1) / (k - 1)
        return others * (x[None] - mean[:, None])

    dt, dh = deviations(terms), deviations(controls)
    cov, var = jnp.sum(dt * dh, 1), jnp.sum(dh * dh, 1)
    return jnp.where(var > 0, cov / jnp.where(var > 0, var, 1.0), 0.0)


def estimate(estimator: Any, problem: Problem, params: Params, noise: Any,
             single_estimate: Callable[[Any, Any], Params]) -> Params:
    """The control-variate estimate from ``single_estimate(problem, one_noise)``, the base estimator's estimate
    from ONE sample's noise, applied to each of the samples in ``noise`` (leading axis) and averaged."""
    fitted = estimator.coefficient == "fitted"
    batch = noise["estimate"] if fitted else noise
    taylor = expand(problem, params, estimator.order)
    surrogate = TaylorProblem(problem, taylor)
    expected = expected_gradient(taylor, params)

    def terms_and_controls(noises: Any) -> tuple[Params, Params]:
        g = jax.vmap(lambda n: single_estimate(problem, n))(noises)
        h = jax.vmap(lambda n: single_estimate(surrogate, n))(noises)
        return g, jax.tree_util.tree_map(lambda hk, e: hk - e, h, expected)

    g, h = terms_and_controls(batch)
    if estimator.coefficient == "fixed":
        c = jax.tree_util.tree_map(lambda x: jnp.full(x.shape[1:], estimator.scale, x.dtype), g)
    elif fitted:
        c = jax.tree_util.tree_map(_slope, *terms_and_controls(noise["fit"]))
    else:
        c = jax.tree_util.tree_map(leave_one_out_coefficient, g, h)
    return jax.tree_util.tree_map(lambda gk, ck, hk: jnp.mean(gk - ck * hk, 0), g, c, h)


def one_sample(noise: Any) -> Any:
    """One sample's noise (no leading axis) as the noise of a ``samples=1`` estimator (a leading axis of 1)."""
    return jax.tree_util.tree_map(lambda x: x[None], noise)


def without_control_variate(estimator: Any, **changes: Any) -> Any:
    """The same estimator with ``control_variate=none`` (and ``changes``), for its single estimates."""
    return dataclasses.replace(estimator, control_variate="none", **changes)


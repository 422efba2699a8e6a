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

from varbench.estimators.measure_valued import MeasureValued
from varbench.estimators.pathwise import Pathwise
from varbench.estimators.score_function import ScoreFunction

from varbench.core.capabilities import LOCATION_SCALE, require
from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.options import check_option
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, options_of, pytree_dataclass

CONTROL_VARIATES = ("none", "delta")
COEFFICIENTS = ("fixed", "fitted", "loo")
ORDERS = (1, 2)
#: Fewest points a fitted slope uses (leave-one-out: K − 1; fitted: fit_samples): see the module docstring.
MIN_FIT_POINTS = 9
#: Baselines of the score function that do not use the other samples of an estimate (a control variate needs them).
INDEPENDENT_BASELINES = ("none", "constant", "ema")

#: The spec key that wraps a base estimator (``pathwise:control_variate=delta``); ``none`` leaves it unwrapped.
SWITCH_KEY = "control_variate"
SWITCH = option("none", "none, or delta: Taylor (delta-method) control variate with closed-form expectation "
                "(Gaussian location-scale problems)", choices=CONTROL_VARIATES, kind=str)


class Taylor(NamedTuple):
    """The expansion of the cost at ``point`` (all constants: no gradient flows through them)."""

    point: jax.Array
    value: jax.Array
    gradient: jax.Array
    hessian: jax.Array  # zeros for order 1


def expand(problem: Problem, params: Params, order: int) -> Taylor:
    """The delta method's expansion of the cost at the current mean μ₀ (held fixed; module docstring).

    Args:
      problem: a Gaussian location-scale problem (params ``mean``, ``log_scale``).
      params: the params; the expansion point is ``params["mean"]``, shape ``(d,)``.
      order: 1 (value and gradient; the Hessian is zeros) or 2 (with the Hessian).

    Returns:
      The :class:`Taylor` expansion: point ``(d,)``, value ``()``, gradient ``(d,)``, Hessian ``(d, d)``, all
      constants. One cost evaluation (with its gradient, and for order 2 its Hessian).
    """
    mu = jax.lax.stop_gradient(params["mean"])
    cost = lambda x: problem.cost(params, x)
    value, gradient = jax.value_and_grad(cost)(mu)
    hessian = jax.hessian(cost)(mu) if order == 2 else jnp.zeros(mu.shape * 2, mu.dtype)
    return Taylor(mu, *jax.lax.stop_gradient((value, gradient, hessian)))


def taylor_cost(t: Taylor, x: jax.Array) -> jax.Array:
    """The control variate ``f̃(x) = f(μ₀) + ∇f(μ₀)·(x − μ₀) + ½ (x − μ₀)ᵀ H (x − μ₀)`` (module docstring).

    Args:
      t: the expansion (:func:`expand`).
      x: one sample, shape ``(d,)``.

    Returns:
      ``f̃(x)``, a scalar (a closed-form polynomial, not a cost evaluation).
    """
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

    def __init__(self, problem: Problem, taylor: Taylor) -> None:
        self._problem, self._taylor = problem, taylor

    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        return taylor_cost(self._taylor, x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)


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
    """The control-variate estimate, averaged over the samples of ``noise``.

    Args:
      estimator: the :class:`DeltaControlVariate` (its ``order``, ``coefficient`` and ``scale``).
      problem: a Gaussian location-scale problem.
      params: ``{"mean": (d,), "log_scale": (d,)}``.
      noise: K samples' noise (leading axis K on every leaf), and ``{"estimate": ..., "fit": ...}`` with
        ``coefficient=fitted``.
      single_estimate: ``single_estimate(problem, one_noise)``, the base estimator's estimate from ONE sample's
        noise (no leading axis), for the problem or its Taylor surrogate.

    Returns:
      The estimate, shaped like ``params``.
    """
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


class _FromBase:
    """A class attribute that an instance reads from its wrapped estimator (``name``, ``stateful``, ``unbiased``).

    On the class it is ``on_class`` (what messages about the wrapper's own options call it); on an instance it is
    the base's, so the engine's messages and flags name the estimator the user wrote (``'pathwise'``).
    """

    def __init__(self, attribute: str, on_class: Any) -> None:
        self.attribute, self.on_class = attribute, on_class

    def __get__(self, obj: Any, owner: type) -> Any:
        return self.on_class if obj is None else getattr(obj.base, self.attribute)


@pytree_dataclass
class DeltaControlVariate(Estimator):
    """A base estimator with the delta-method (Taylor) control variate subtracted from each sample's term.

    References: Paisley, Blei & Jordan (2012), ICML, §3; Miller, Foti, D'Amour & Adams (2017), "Reducing
    Reparameterization Gradient Variance", NeurIPS, §3; optax's ``control_variates_jacobians`` (an estimator and a
    control variate composed). The estimate is ``mean_k [g_k(f) − c·(g_k(f̃) − ∇E_q[f̃])]`` (module docstring), where
    ``g_k`` is the base estimator's single-sample estimate and f̃ the Taylor expansion of the cost at the mean.

    ``base`` is a :class:`~varbench.estimators.pathwise.Pathwise`, a
    :class:`~varbench.estimators.score_function.ScoreFunction` whose baseline does not use the other samples (none,
    constant or ema) or a :class:`~varbench.estimators.measure_valued.MeasureValued`; its ``samples`` is K. In a spec
    the wrapper is the base's spec with ``control_variate=delta`` and these options
    (``pathwise:control_variate=delta,order=1`` is ``DeltaControlVariate(base=Pathwise(), order=1)``), and that is
    also its canonical spec (:func:`varbench.core.naming.spec_of`). Applies to Gaussian location-scale problems.
    Uses the base's cost evaluations, one more (the cost's gradient and Hessian at the mean), plus ``fit_samples``
    single base estimates with ``coefficient=fitted``.
    """

    name = _FromBase("name", "delta")
    role = "control variate"
    summary = "delta-method (Taylor) control variate over a base estimator (Miller et al. 2017; optax)"
    unbiased = _FromBase("unbiased", True)
    stateful = _FromBase("stateful", False)
    #: how a spec and the canonical spec write the wrapper: its base's spec plus ``control_variate=delta``
    spec_switch = (SWITCH_KEY, "delta")

    base: Estimator
    order: int = option(2, "control_variate=delta: order of the Taylor expansion, 1 or 2", choices=ORDERS, kind=int)
    coefficient: str = option("fixed", "control_variate=delta: coefficient fixed (c = scale), fitted (on fit_samples "
                              f"separate estimates) or loo (leave-one-out, samples >= {MIN_FIT_POINTS + 1})",
                              choices=COEFFICIENTS, kind=str)
    scale: float = option(1.0, "coefficient=fixed: the coefficient c", static=False, kind=float)
    fit_samples: int = option(16, "coefficient=fitted: separate single estimates the coefficient is fitted on",
                              kind=int, minimum=MIN_FIT_POINTS)

    @staticmethod
    def accepts(cls: type) -> bool:
        """Whether estimators of class ``cls`` can be wrapped: they have ``samples`` (K), ``single_noise`` and
        ``single_estimate`` (one sample's noise and estimate), and K samples cost K times one."""
        return issubclass(cls, (Pathwise, ScoreFunction, MeasureValued))

    @classmethod
    def spec_options(cls) -> dict[str, dataclasses.Field]:
        """The options a base's spec may carry for the wrapper, by key: the switch, then the wrapper's own."""
        return {SWITCH_KEY: SWITCH} | options_of(cls)

    @classmethod
    def from_spec(cls, base: Estimator, options: dict[str, Any]) -> Estimator:
        """``base`` wrapped as ``options`` (keys of :meth:`spec_options`, as a spec writes them) ask.

        Args:
          base: the estimator built from the rest of the spec.
          options: the wrapper's keys given in the spec; ``control_variate=none`` (or none given) leaves ``base``.

        Returns:
          ``base`` itself, or ``DeltaControlVariate(base=base, ...)``.
        """
        owner, fields = f"estimator {base.name!r}", cls.spec_options()
        checked = {k: check_option(owner, k, fields[k], v) for k, v in options.items()}
        if checked.pop(SWITCH_KEY, "none") == "none":
            if checked:
                raise VarbenchError(f"option {next(iter(checked))!r} of estimator {base.name!r} applies only with "
                                    f"control_variate=delta; valid: add control_variate=delta, or drop it")
            return base
        return cls(base, **{fields[k].name: v for k, v in checked.items()})

    def validate(self) -> None:
        """Refuse bases that cannot be wrapped, and coefficients whose fitted slope has unbounded variance."""
        base = self.base
        if not self.accepts(type(base)):
            raise VarbenchError(f"control_variate=delta wraps pathwise, score_function (baseline none, constant or "
                                f"ema) or measure_valued; got {type(base).__name__}")
        if isinstance(base, ScoreFunction) and base.baseline not in INDEPENDENT_BASELINES:
            raise VarbenchError(f"score_function control_variate=delta needs a baseline independent of the other "
                                f"samples: baseline none, constant or ema (got baseline={base.baseline})")
        if self.coefficient == "loo" and base.samples - 1 < MIN_FIT_POINTS:
            raise VarbenchError(
                f"{base.name} control_variate=delta,coefficient=loo fits its slope to the other samples: it needs "
                f"samples >= {MIN_FIT_POINTS + 1} (got samples={base.samples}; a slope through few points has "
                f"unbounded variance); valid: coefficient=fixed, coefficient=fitted, or more samples")

    def check_applies(self, problem: Problem) -> None:
        self.base.check_applies(problem)
        require(problem, LOCATION_SCALE, f"{self.base.name}:control_variate=delta", "use control_variate=none")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        # A base's K samples cost K times one sample; add the expansion at the mean and the fitting batch.
        base = self.base.evaluations_per_estimate(problem)
        return base + 1 + (self.fit_samples * base // self.base.samples if self.coefficient == "fitted" else 0)

    def noise(self, problem: Problem, params: Params) -> Any:
        """The base's noise of K samples, and for ``coefficient=fitted`` the noise of ``fit_samples`` more."""
        single = self.base.single_noise(problem, params)
        batch = batched_noise(single, self.base.samples)
        return {"estimate": batch, "fit": batched_noise(single, self.fit_samples)} if self.coefficient == "fitted" \
            else batch

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        return self.base.init(problem, params, key)

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return self.base.update(problem, params, state, key)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        return estimate(self, problem, params, noise,
                        lambda prob, n: self.base.single_estimate(prob, params, state, n))

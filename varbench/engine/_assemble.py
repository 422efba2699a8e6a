"""A :class:`Result` from a measurement's moments: per-parameter statistics, exact answers, bias, SNR and MSE."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NonFiniteEstimateError
from varbench.core.estimator import Estimator
from varbench.core.naming import spec_of
from varbench.core.problem import Problem
from varbench.engine import stats
from varbench.engine.exact import ExactMoments, to_float64
from varbench.engine.result import Result
from varbench.engine.subject import Subject


class Stats(NamedTuple):
    """Per-parameter statistics of one estimate, ``{name: array}`` each."""

    grad_mean: dict
    grad_se: dict
    variance: dict
    variance_ci: dict  # a trailing axis (lo, hi)


class Run(NamedTuple):
    """How a measurement ran.

    Attributes:
      seed: the PRNG seed.
      method: ``"mc"`` or ``"exact"``.
      num_samples: estimates streamed, or quadrature points evaluated.
      compile_seconds: seconds spent compiling kernels.
      run_seconds: seconds spent running them.
    """

    seed: int
    method: str
    num_samples: int
    compile_seconds: float
    run_seconds: float


def mc_stats(moments: Mapping[str, stats.Moments], estimator: Estimator, num_samples: int) -> Stats:
    """Per-parameter statistics from streamed moments; non-finite estimates or overflowing moments are errors.

    Args:
      moments: ``{name: Moments}`` of the streamed estimates.
      estimator: the estimator measured (named in errors).
      num_samples: estimates streamed.

    Returns:
      The :class:`Stats`.
    """
    bad = {k: int(np.sum(m.nonfinite)) for k, m in moments.items()}
    if any(bad.values()):
        worst = max(bad, key=bad.get)
        raise NonFiniteEstimateError(
            f"estimator {spec_of(estimator)!r} produced NaN/inf in {bad[worst]} of {num_samples} estimates of "
            f"{worst!r} at these params (a fault of the estimator, unless the problem's costs overflow there)")
    summaries = {k: stats.summarize(m) for k, m in moments.items()}
    # The power sums are scaled to stay far from float32's range; if one overflowed anyway (estimates spanning
    # ~1e9 times their first chunk's spread), the variance interval (which needs the fourth moment) would be blank.
    overflow = [k for k, sm in summaries.items()
                if not all(np.all(np.isfinite(x)) for x in (sm.mean, sm.variance, sm.variance_lo, sm.variance_hi))]
    if overflow:
        raise NonFiniteEstimateError(
            f"estimator {spec_of(estimator)!r}: the moments of {overflow[0]!r} overflowed float32 (estimates too "
            "large or too heavy-tailed at these params); valid params keep the estimates' fourth powers finite")
    return Stats({k: sm.mean for k, sm in summaries.items()}, {k: sm.se for k, sm in summaries.items()},
                 {k: sm.variance for k, sm in summaries.items()},
                 {k: np.stack([sm.variance_lo, sm.variance_hi], -1) for k, sm in summaries.items()})


def exact_stats(moments: ExactMoments, estimator: Estimator) -> Stats:
    """Per-parameter statistics from exact mode's moments: no sampling error, a variance interval of width 0.

    Exact mode's moments must be finite, as Monte Carlo mode's are (:func:`mc_stats`): an estimate whose value or
    square overflows float64 somewhere on the quadrature grid has no reportable mean or variance.

    Args:
      moments: the exact moments.
      estimator: the estimator measured (named in errors).

    Returns:
      The :class:`Stats`.
    """
    for what, tree in (("mean", moments.mean), ("variance", moments.variance)):
        bad = [k for k, v in tree.items() if not np.all(np.isfinite(v))]
        if bad:
            raise NonFiniteEstimateError(
                f"estimator {spec_of(estimator)!r}: the exact {what} of its estimate of {bad[0]!r} is not finite in "
                "float64 (estimates overflow at these params); valid params keep the estimates' squares finite")
    return Stats(moments.mean, {k: np.zeros_like(v) for k, v in moments.variance.items()}, moments.variance,
                 {k: np.stack([v, v], -1) for k, v in moments.variance.items()})


class _Exact(NamedTuple):
    """The fields of a Result that need the problem's exact answer (all None where it has none)."""

    objective_exact: float | None = None
    grad_exact: dict | None = None
    bias: dict | None = None
    bias_z: dict | None = None
    mse: dict | None = None


def _exact_answers(subject: Subject, st: Stats, method: str) -> _Exact:
    """The exact objective and gradient, the bias, its z-score (Monte Carlo only) and the MSE."""
    problem, params = subject.problem, subject.params
    if not problem.has_exact_objective:
        return _Exact()
    objective_exact, grad_exact = exact_objective_and_gradient(problem, params)
    if not (np.isfinite(objective_exact) and all(np.all(np.isfinite(g)) for g in grad_exact.values())):
        raise NonFiniteEstimateError(
            f"the exact objective or gradient of problem {spec_of(problem)!r} is not finite in float64 at these "
            "params; valid params keep the problem's costs finite")
    grad_mean, grad_se, variance, _ = st
    bias = {k: grad_mean[k] - grad_exact[k] for k in grad_mean}
    mse = {k: variance[k] + bias[k] ** 2 for k in grad_mean}
    bias_z = None
    if method == "mc":
        with np.errstate(divide="ignore", invalid="ignore"):
            bias_z = {k: np.where(grad_se[k] > 0, bias[k] / grad_se[k], np.where(bias[k] == 0, 0.0, np.inf))
                      * 1.0 for k in grad_mean}
    return _Exact(objective_exact, grad_exact, bias, bias_z, mse)


def make_result(subject: Subject, st: Stats, run: Run) -> Result:
    """Assemble a :class:`Result` from the per-parameter statistics of a measurement.

    Args:
      subject: what was measured: the problem and estimator objects and the params as NumPy arrays (their order
        is the order of the per-parameter fields).
      st: the per-parameter statistics.
      run: how the measurement ran.

    Returns:
      The :class:`Result`.
    """
    problem, estimator, params, _ = subject
    exact = _exact_answers(subject, st, run.method)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = {k: np.abs(st.grad_mean[k]) / np.sqrt(st.variance[k]) for k in st.grad_mean}
    # Report per-parameter fields in the problem's parameter order (pytrees come back with sorted keys).
    ordered = lambda d: {k: d[k] for k in params} if d is not None else None
    variance = ordered(st.variance)  # summed in this order for total_variance
    return Result(
        problem=spec_of(problem), estimator=spec_of(estimator), params=params, num_samples=int(run.num_samples),
        seed=int(run.seed), method=run.method,
        evaluations_per_estimate=int(estimator.evaluations_per_estimate(problem)),
        grad_mean=ordered(st.grad_mean), grad_se=ordered(st.grad_se), variance=variance,
        variance_ci=ordered(st.variance_ci), total_variance=float(sum(np.sum(v) for v in variance.values())),
        grad_exact=ordered(exact.grad_exact), objective_exact=exact.objective_exact, bias=ordered(exact.bias),
        bias_z=ordered(exact.bias_z), snr=ordered(snr), mse=ordered(exact.mse),
        compile_seconds=float(run.compile_seconds), run_seconds=float(run.run_seconds),
        estimates_per_second=float(run.num_samples / run.run_seconds) if run.run_seconds > 0 else float("inf"),
        backend=jax.default_backend(), dtype=str(next(iter(params.values())).dtype), version=_version())


@jax.jit
def _objective_value_and_grad(problem: Problem, params: Any) -> tuple[jax.Array, Any]:
    return jax.value_and_grad(problem.objective_exact)(params)


def exact_objective_and_gradient(problem: Problem, params: Mapping[str, np.ndarray]) -> tuple[float, dict]:
    """The closed-form objective and its autodiff gradient, computed in float64.

    Args:
      problem: a problem with ``has_exact_objective``.
      params: ``{name: array}`` at which to evaluate.

    Returns:
      ``(objective, {name: gradient})``, float64 NumPy values.
    """
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        problem64 = jax.tree_util.tree_map(to_float64, problem)
        value, grad = _objective_value_and_grad(problem64, p64)
        return float(value), {k: np.asarray(v, np.float64) for k, v in grad.items()}


def _version() -> str:
    from varbench import __version__
    return __version__

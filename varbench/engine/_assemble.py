"""A :class:`Result` from a measurement's moments: per-parameter statistics, exact answers, bias, SNR and MSE."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NonFiniteEstimateError
from varbench.core.estimator import Estimator
from varbench.core.naming import spec_of
from varbench.core.noise import sample_noise
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


def problem_fault(subject: Subject) -> str | None:
    """Whether the problem itself, not the estimator, is NaN/inf at the subject's params (in their dtype): its cost
    and log-density at one draw from q, and its exact objective where it has one. Only asked once estimates came
    out non-finite, so that the message can blame the right party.

    Args:
      subject: the problem and the params (NumPy arrays, float32 or float64) that were measured.

    Returns:
      ``"problem '...' is not finite in float32 at these params (its cost at a draw from q is NaN/inf)"``, or None
      when those values are finite (or cannot be evaluated outside a kernel).
    """
    problem, params = subject.problem, subject.params
    dtype = np.result_type(*params.values())
    try:
        with jax.enable_x64(dtype == np.float64):
            if dtype == np.float64:
                problem = jax.tree_util.tree_map(to_float64, problem)
            p = {k: jnp.asarray(v, dtype) for k, v in params.items()}
            x = problem.latent(p, sample_noise(problem.latent_noise(p), jax.random.key(0), dtype))
            values = {"cost at a draw from q": problem.cost(p, x), "log-density there": problem.log_prob(p, x)}
            if problem.has_exact_objective:
                values["exact objective"] = problem.objective_exact(p)
            bad = [what for what, v in values.items() if not np.all(np.isfinite(np.asarray(v)))]
    except Exception:  # noqa: BLE001 - a diagnosis only; without it the estimator's message stands
        return None
    if not bad:
        return None
    return (f"problem {spec_of(problem)!r} is not finite in {dtype.name} at these params (its {' and '.join(bad)} "
            f"{'is' if len(bad) == 1 else 'are'} NaN/inf)")


def _blame_problem(subject: Subject | None, what: str) -> None:
    """Raise the problem's fault, if it has one, for the non-finite ``what`` of the estimator's estimates."""
    fault = problem_fault(subject) if subject is not None else None
    if fault:
        raise NonFiniteEstimateError(f"{fault}, so estimator {spec_of(subject.estimator)!r} {what}; choose params "
                                     "and options that keep the problem's values finite")


def mc_stats(moments: Mapping[str, stats.Moments], estimator: Estimator, num_samples: int,
             subject: Subject | None = None) -> Stats:
    """Per-parameter statistics from streamed moments; non-finite estimates or overflowing moments are errors.

    Args:
      moments: ``{name: Moments}`` of the streamed estimates.
      estimator: the estimator measured (named in errors).
      num_samples: estimates streamed.
      subject: what was measured, with the params as NumPy arrays: where given, non-finite estimates are blamed
        on the problem when its own values are non-finite there (:func:`problem_fault`).

    Returns:
      The :class:`Stats`.

    Raises:
      NonFiniteEstimateError: NaN/inf estimates, or moments that overflowed.
    """
    bad = {k: int(np.sum(m.nonfinite)) for k, m in moments.items()}
    if any(bad.values()):
        worst = max(bad, key=bad.get)
        _blame_problem(subject, f"produced NaN/inf in {bad[worst]} of {num_samples} estimates of {worst!r}")
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


def exact_stats(moments: ExactMoments, estimator: Estimator, subject: Subject | None = None) -> Stats:
    """Per-parameter statistics from exact mode's moments: no sampling error, a variance interval of width 0.

    Exact mode's moments must be finite, as Monte Carlo mode's are (:func:`mc_stats`): an estimate whose value or
    square overflows float64 somewhere on the quadrature grid has no reportable mean or variance.

    Args:
      moments: the exact moments.
      estimator: the estimator measured (named in errors).
      subject: what was measured (float64 params): non-finite moments are blamed on the problem when its own
        values are non-finite there (:func:`problem_fault`).

    Returns:
      The :class:`Stats`.

    Raises:
      NonFiniteEstimateError: a mean or variance that is not finite.
    """
    for what, tree in (("mean", moments.mean), ("variance", moments.variance)):
        bad = [k for k, v in tree.items() if not np.all(np.isfinite(v))]
        if bad:
            _blame_problem(subject, f"has no finite exact {what} of its estimate of {bad[0]!r}")
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

"""The battery's checks, one function each, in the style of scikit-learn's ``check_estimator``.

Each check takes a :class:`~varbench.battery.CheckContext` (the estimator and problem at one check point, the
level, the seed) and yields what it finds: :class:`~varbench.battery.CheckRow` values, and for the variance check
the :class:`~varbench.battery.Comparison` it measured. A check reports any failure of the estimator's code as a
failed row instead of raising.
"""

from __future__ import annotations

from typing import Iterator

import jax
import numpy as np

from varbench import unbiasedness
from varbench.battery._context import (
    EVALUATIONS_SEED,
    RUNS_PERTURBED_SEED,
    RUNS_SEED,
    STATE_SEED,
    BiasMeasurement,
    CheckContext,
    bias_measurement,
    one_line,
)
from varbench.battery._report import CheckRow, Comparison, Status
from varbench.battery._variance import candidate_variance, compare_variance, variance_row
from varbench.core.errors import VarbenchError
from varbench.engine import harness
from varbench.engine.result import Result
from varbench.engine.subject import Subject
from varbench.evaluations import count_evaluations

#: What a check yields.
Finding = CheckRow | Comparison
#: Largest |exact mean − exact gradient| relative to the gradient's scale that is quadrature rounding.
EXACT_TOLERANCE = 1e-4
#: The row of the runs check that says the estimator runs at all; without it no other check of the problem runs.
RUNS_OK = "runs: jit, vmap, finite, shaped like params"


def check_runs(ctx: CheckContext) -> Iterator[Finding]:
    """**runs**: the estimator keeps the engine's contract (a real gradient shaped like the params, a positive int
    evaluation count, no exception while traced); one jitted estimate is finite; the harness's vmapped kernel
    compiles once, and changing the params, the seed or the sample count (with freshly built problem and
    estimator objects) does not compile again; a fixed seed gives bit-identical results."""
    failure = _one_estimate_failure(ctx)
    if failure is not None:
        yield failure
        return
    params = ctx.subject.params
    perturbed = {k: v * np.float32(1.03) + np.float32(0.01) for k, v in params.items()}
    try:
        first = harness.measure(ctx.fresh_problem(), ctx.fresh_estimator(), params=params, num_samples=1000,
                                seed=ctx.seed + RUNS_SEED)
        compiled = harness.compile_count()
        harness.measure(ctx.fresh_problem(), ctx.fresh_estimator(), params=perturbed, num_samples=1500,
                        seed=ctx.seed + RUNS_PERTURBED_SEED)
        again = harness.measure(ctx.fresh_problem(), ctx.fresh_estimator(), params=params, num_samples=1000,
                                seed=ctx.seed + RUNS_SEED)
        new_kernels = harness.compile_count() - compiled
    except Exception as err:  # noqa: BLE001 - the battery reports any failure of the user's code as a row
        yield ctx.row("runs: vmapped kernel", Status.FAIL, one_line(err))
        return
    yield ctx.row(RUNS_OK, Status.PASS,
                  "one estimate and 1000 vmapped estimates are finite and shaped like the params")
    if new_kernels:
        yield ctx.row("runs: no recompilation", Status.FAIL,
                      f"{new_kernels} new kernel(s) compiled when only params, seed and sample count changed (with "
                      "freshly built objects): keep per-instance values out of static fields")
    else:
        yield ctx.row("runs: no recompilation", Status.PASS,
                      "new params, seed and sample count reuse the compiled kernel")
    same = all(np.array_equal(first.grad_mean[k], again.grad_mean[k]) and
               np.array_equal(first.variance[k], again.variance[k]) for k in first.grad_mean)
    yield ctx.row("runs: deterministic", Status.PASS if same else Status.FAIL,
                  "a fixed seed gives bit-identical results" if same else
                  "the same seed gave different results: draw randomness only from the key")


def _one_estimate_failure(ctx: CheckContext) -> CheckRow | None:
    """The failed row if the estimator breaks the engine's contract (its estimate is not a real gradient shaped like
    the params, its evaluation count is not a positive int, its code raises while traced), or if one jitted estimate
    (on a freshly built problem) fails or is not finite; None if it is sound."""
    problem, estimator, params = ctx.fresh_problem(), ctx.estimator, ctx.subject.params
    try:  # the engine's one check of the contract, which every measurement runs first
        harness.check_contract([Subject(problem, estimator, params)])
    except VarbenchError as err:
        return ctx.row("runs: estimator contract", Status.FAIL, str(err))
    key = jax.random.key(ctx.seed)
    try:
        state = estimator.init(problem, params, key)
        estimate = jax.jit(lambda pr, es, pa, st, k: es.estimate(pr, pa, st, k))(problem, estimator, params, state, key)
        if not all(np.all(np.isfinite(np.asarray(v))) for v in estimate.values()):
            return ctx.row("runs: finite", Status.FAIL, "one jitted estimate is NaN or inf")
    except Exception as err:  # noqa: BLE001
        return ctx.row("runs: jit", Status.FAIL, one_line(err))
    return None


def runs_passed(rows: list[Finding]) -> bool:
    """Whether the runs check's ``rows`` say the estimator runs (else the problem's other checks are not run)."""
    return any(isinstance(row, CheckRow) and row.check == RUNS_OK for row in rows)


def check_evaluations(ctx: CheckContext) -> Iterator[Finding]:
    """**evaluations**: ``evaluations_per_estimate`` equals the cost evaluations one estimate really makes
    (:mod:`varbench.evaluations`)."""
    problem, estimator, params = ctx.subject.problem, ctx.estimator, ctx.subject.params
    key = jax.random.key(ctx.seed + EVALUATIONS_SEED)
    try:
        state = estimator.init(problem, params, key)
        counted = count_evaluations(problem, estimator, params, state, key)
    except Exception as err:  # noqa: BLE001
        yield ctx.row("evaluations", Status.FAIL, f"could not count evaluations: {one_line(err)}")
        return
    declared = int(estimator.evaluations_per_estimate(problem))
    if counted == declared:
        yield ctx.row("evaluations", Status.PASS, f"declares {declared}, makes {counted}", counted)
    else:
        yield ctx.row("evaluations", Status.FAIL,
                      f"evaluations_per_estimate says {declared} but one estimate evaluates the cost {counted} times",
                      counted)


def check_bias(ctx: CheckContext) -> Iterator[Finding]:
    """**unbiased**: in exact mode wherever the noise permits and the problem is small, the exact mean against the
    exact gradient to quadrature precision; otherwise z-tests (Holm within the point, the battery's Bonferroni
    share ``ctx.alpha``) sized from a pilot run to detect the level's relative bias with the level's power. An
    estimator that declares itself biased gets its bias measured and reported instead of a failure."""
    yield _bias_row(ctx, ctx.candidate, "unbiased")


def _bias_row(ctx: CheckContext, measured: BiasMeasurement, check: str) -> CheckRow:
    result, outcome = measured.result, measured.outcome
    if result is None:
        if measured.error is not None:
            return ctx.row(check, Status.FAIL, measured.error)
        return ctx.row(check, Status.SKIP, "the problem has no exact gradient to compare with")
    relative, at = _worst_relative_bias(result)
    declared_biased = not ctx.estimator.unbiased
    if outcome is None:  # exact mode
        if declared_biased:
            return ctx.row(check, Status.BIASED, f"declared biased; exact relative bias {relative:.3g} at {at}",
                           relative)
        if not _bias_found(measured):
            return ctx.row(check, Status.PASS,
                           f"exact mode: mean equals the exact gradient (relative difference {relative:.1e})", relative)
        return ctx.row(check, Status.FAIL, f"exact mode: relative bias {relative:.3g} at {at} (rounding would be "
                       f"below {EXACT_TOLERANCE:g})", relative)
    where = _z_test_summary(outcome)
    if declared_biased:
        found = "bias detected" if not outcome.passed else "no bias detectable at this precision"
        return ctx.row(check, Status.BIASED,
                       f"declared biased; {found}: relative bias {relative:.3g} at {at} ({where})", relative)
    if outcome.passed and _capped_above_target(ctx, outcome):  # could not have seen the bias the level targets
        return ctx.row(check, Status.FLAG, f"inconclusive: z-tests (Holm) find no bias, but the sample cap "
                       f"({ctx.level.max_samples}) leaves the detectable relative bias above the level's "
                       f"{ctx.level.relative_bias:g} ({where}); a lower-variance point or a higher level settles it",
                       relative)
    if outcome.passed:
        return ctx.row(check, Status.PASS, f"z-tests (Holm) find no bias ({where})", relative)
    return ctx.row(check, Status.FAIL, f"bias detected: relative bias {relative:.3g} at {at} ({where})", relative)


def _bias_found(measured: BiasMeasurement) -> bool:
    """Whether the measurement finds a bias: beyond quadrature rounding in exact mode, rejected by the z-tests
    otherwise (False when there is no measurement)."""
    if measured.result is None:
        return False
    if measured.outcome is None:
        return _worst_relative_bias(measured.result)[0] > EXACT_TOLERANCE
    return not measured.outcome.passed


def _detectable_relative(outcome: unbiasedness.BiasTest) -> float:
    """The largest relative bias (to :func:`varbench.unbiasedness.gradient_scale`) the test could miss."""
    scale = unbiasedness.gradient_scale(outcome.result.grad_exact)
    return max(float(np.max(outcome.detectable_bias[k] / scale[k])) for k in scale)


def _capped_above_target(ctx: CheckContext, outcome: unbiasedness.BiasTest) -> bool:
    """Whether the test ran at the level's sample cap and could still miss a bias larger than the level targets
    (sizing from the pilot hits the target up to the pilot's noise, so only a capped test falls short)."""
    return outcome.num_samples >= ctx.level.max_samples and _detectable_relative(outcome) > ctx.level.relative_bias


def _z_test_summary(outcome: unbiasedness.BiasTest) -> str:
    """The sample size, the largest |z| and the relative bias the test could detect."""
    worst = max(float(np.max(np.abs(z))) for z in outcome.z.values())
    worst_text = "inf (a coordinate with zero spread is off)" if worst > 1e300 else f"{worst:.2f}"
    return (f"{outcome.num_samples} samples, max |z| {worst_text}, detectable relative bias "
            f"{_detectable_relative(outcome):.2g}")


def _worst_relative_bias(result: Result) -> tuple[float, str]:
    """The largest |bias| relative to :func:`varbench.unbiasedness.gradient_scale` and the coordinate where it
    is (``name`` for a scalar param, ``name[i, ...]`` otherwise), so that a failure points at the term to fix."""
    scale = unbiasedness.gradient_scale(result.grad_exact)
    worst, at = -1.0, ""
    for name in result.bias:
        relative = np.atleast_1d(np.abs(np.asarray(result.bias[name])) / scale[name])
        if relative.size and float(np.max(relative)) > worst:
            worst, index = float(np.max(relative)), np.unravel_index(int(np.argmax(relative)), relative.shape)
            at = name if np.ndim(result.bias[name]) == 0 else f"{name}[{', '.join(map(str, index))}]"
    return worst, at


def check_variance(ctx: CheckContext) -> Iterator[Finding]:
    """**variance**: exact or Monte Carlo variance with its 95% interval, ranked against the references (raw and
    work-normalized: × cost evaluations, × seconds per estimate); flagged if its interval lies above the plain
    score function's in every coordinate.

    A biased estimator is ranked apart: one that declares itself biased, or whose bias check at this point finds a
    bias (exact mean off the exact gradient beyond rounding, or the z-tests reject). Its row is BIASED, never a
    pass with a rank nor a flag, and its entry comes after the unbiased ones with rank 0, since a variance lowered
    by a bias is no gain; references are ranked apart when they declare themselves biased (their bias is not
    measured). The unbiased are ranked by total variance and by total variance × evaluations, which alone compares
    estimators that average different numbers of samples."""
    try:
        own, seconds = candidate_variance(ctx)
    except Exception as err:  # noqa: BLE001
        yield ctx.row("variance", Status.FAIL, one_line(err))
        return
    biased = not ctx.estimator.unbiased or _bias_found(ctx.candidate)
    comparison, plain = compare_variance(ctx, own, seconds, biased)
    yield comparison
    yield variance_row(ctx, comparison, own, plain)


def check_state(ctx: CheckContext) -> Iterator[Finding]:
    """**state** (stateful estimators): the state stays a valid pytree (same structure, shapes, finite) and the
    estimate stays unbiased at every state reached along a short warm-up."""
    problem, estimator, params = ctx.subject.problem, ctx.estimator, ctx.subject.params
    key_init, key_warm = jax.random.split(jax.random.key(ctx.seed + STATE_SEED))
    state = estimator.init(problem, params, key_init)
    reference = _layout(state)
    for checkpoint in range(1, ctx.level.checkpoints + 1):
        state = harness.prepare_state(ctx.subject.replace(state=state), jax.random.fold_in(key_warm, checkpoint),
                                      ctx.level.warmup_steps)
        steps = checkpoint * ctx.level.warmup_steps
        if _layout(state) != reference:
            yield ctx.row(f"state after {steps} updates", Status.FAIL,
                          "update changed the state's structure or shapes (the compiled kernel needs init's)")
            return
        if not all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(state)
                   if np.issubdtype(np.asarray(x).dtype, np.inexact)):
            yield ctx.row(f"state after {steps} updates", Status.FAIL, "the state holds NaN or inf")
            return
        measured = bias_measurement(ctx, ctx.subject.replace(state=state))
        yield _bias_row(ctx, measured, f"unbiased after {steps} updates")


def _layout(state: object) -> tuple[object, list[tuple[int, ...]]]:
    """A state's tree structure and leaf shapes (what the compiled kernel depends on)."""
    return jax.tree_util.tree_structure(state), [np.shape(x) for x in jax.tree_util.tree_leaves(state)]

"""The trace itself: optimise with the driver, then measure every listed estimator at each checkpoint."""

from __future__ import annotations

import math
import os
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from varbench.api import measure
from varbench.catalog import resolve_estimator, resolve_problem, spec_of
from varbench.core.errors import VarbenchError
from varbench.engine import compile_tier
from varbench.engine import settings as engine_settings
from varbench.engine._kernels import kernel_subject
from varbench.engine.harness import METHODS, check_contract
from varbench.engine.params import prepare_params
from varbench.engine.prng import MAX_SEED
from varbench.engine.result import Result
from varbench.engine.subject import Subject
from varbench.executors import ExecutorChoice
from varbench.trace._checkpoints import save_checkpoint, writable_folder
from varbench.trace._protocol import ema_names, ema_update, ema_variance, init_ema, objective_key, objective_mc
from varbench.trace._settings import TraceSettings, check_count


class Checkpoint(NamedTuple):
    """What the optimisation reached at step ``step``: the params, the learners' states and the training metrics
    (the driver's moving-average variance and the Monte Carlo objective with its standard error; NaN when not
    computed)."""

    step: int
    params: dict[str, np.ndarray]
    states: list[Any]
    ema_variance: float
    objective: tuple[float, float]


class MeasureTask(NamedTuple):
    """One measurement of a trace (an executor item): what is measured at checkpoint ``step``, and how."""

    step: int
    subject: Subject
    num_samples: int
    seed: int
    method: str


def trace(problem: Any, estimator: Any, *, estimators: Sequence[Any] | None = None,
          params: Mapping[str, Any] | None = None, settings: TraceSettings | None = None, seed: int = 0,
          method: str = "mc", save_params: str | os.PathLike | None = None,
          executor: ExecutorChoice | None = None) -> list[dict[str, Any]]:
    """Optimise ``problem``'s params with ``estimator`` (Adam) and measure ``estimators`` at every checkpoint.

    Args:
      problem: a problem spec or object (it needs an exact objective only for the ``objective`` column).
      estimator: the driver, whose estimates update the params: ``params ← Adam(lr)(estimate)``.
      estimators: the estimators measured at each checkpoint (default: the driver). A spec equal to the driver's
        shares its state with it; every stateful one is updated once per step at the current params.
      params: starting params (problem defaults otherwise; scalars broadcast).
      settings: the learning rate, the steps, the steps between checkpoints, the estimates per measurement, the
        moving averages' decay and the objective's draws (default: ``TraceSettings()``).
      seed: the trace's only source of randomness (the objective's draws at checkpoint t use
        ``fold_in(fold_in(key(seed), OBJECTIVE_STREAM), t)``, a stream of their own).
      method: ``"mc"`` or ``"exact"`` for the measurements.
      save_params: a directory (created if missing); the params of checkpoint t are written to
        :func:`checkpoint_path` ``(save_params, t)`` before they are measured, replacing a file of that name.
      executor: where the measurements run (:class:`varbench.executors.ExecutorChoice`; default local, in this
        process). The optimisation runs here, step after step; the measurements at its checkpoints are
        independent, so with ``dask`` they run on the cluster's workers. The records are the same whichever runs
        them.

    Returns:
      Tidy records, one per (checkpoint, measured estimator): ``step``, ``driver``, ``estimator``, ``problem``,
      ``objective`` (exact, or None), ``params`` and ``variance``/``grad_mean`` (``{name: list}``),
      ``total_variance``, ``log_variance`` (natural log of the total variance), ``method``, ``num_samples``,
      ``seed`` (of the measurement) and ``evaluations_per_estimate``; and, for problems with ``param_groups()``,
      ``group_variance`` (``{group: summed variance of its coordinates}``, summing to ``total_variance``) and
      ``group_work_normalized_variance`` (the same times ``evaluations_per_estimate``), both ``None`` otherwise;
      ``compile_seconds`` and ``run_seconds`` of the measurement (not of the training steps);
      ``total_variance_ci`` (``(lo, hi)``: the sum of the coordinates' 95% variance bounds, a conservative interval
      of ``total_variance``), and per group ``group_ci_lo``/``group_ci_hi`` (``{group: bound}``, the same rule
      over the group's coordinates; None without groups). The training protocol of the discrete-VAE papers (see
      :mod:`varbench.trace._protocol`): ``paper_ema_variance``, the mean over the encoder's coordinates (every
      param's when the problem has no ``"encoder"`` group) of ``EMA(g²) − EMA(g)²`` of the *driver's* estimates g
      along its training (decay ``settings.ema_decay``, no bias correction, as DisARM's code), a float on the
      records whose measured estimator is the driver itself (the same spec) and None on the others, since it
      belongs to the driver's own trajectory; ``objective_mc`` and ``objective_mc_stderr``, the mean cost over
      ``settings.objective_samples`` draws at the checkpoint and its standard error (None with 0 draws); ``elbo``
      and ``elbo_stderr`` (``−objective_mc`` and its standard error) where the problem's cost is a negative bound
      (``objective_is_negative_bound``: the amortized VAEs), None otherwise.

    Example:
      >>> rows = trace("bernoulli", "relax", estimators=["score_function", "relax"],
      ...              settings=TraceSettings(steps=200, every=100))
      >>> [(r["step"], r["estimator"].split(":")[0]) for r in rows][:2]
      [(0, 'score_function'), (0, 'relax')]
    """
    engine_settings.ensure_configured()  # before anything starts JAX's backend (XLA's flags are among the settings)
    settings = TraceSettings() if settings is None else settings
    problem = resolve_problem(problem)
    driver = resolve_estimator(estimator)
    measured = [resolve_estimator(e) for e in (estimators if estimators else [driver])]
    labels = [spec_of(e) for e in measured]
    twice = next((label for i, label in enumerate(labels) if label in labels[:i]), None)
    if twice is not None:  # it would be measured twice at every checkpoint, under one label
        raise VarbenchError(f"estimators lists {twice!r} twice; list each once")
    seed = check_count("seed", seed, 0)
    if seed + 1 + settings.steps > MAX_SEED:  # checkpoint t is measured with seed + 1 + t
        raise VarbenchError(f"a trace measures checkpoint t with seed + 1 + t, so seed + steps must be below "
                            f"{MAX_SEED}; got seed={seed}, steps={settings.steps}")
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    executor = ExecutorChoice() if executor is None else ExecutorChoice.checked(
        executor.kind, executor.workers, executor.scheduler, executor.plugins)  # built directly, perhaps unchecked
    start = prepare_params(problem, params, np.float32)
    for e in [driver, *measured]:
        e.check_applies(problem)
        check_contract([kernel_subject(problem, e, start)])  # a broken driver is named before it drives anything
    folder = None if save_params is None else writable_folder(save_params)
    groups = param_groups(problem)

    # One state per distinct estimator spec; the driver's is slot 0.
    specs = [spec_of(driver)] + [s for s in labels if s != spec_of(driver)]  # labels are distinct (checked above)
    learners = [driver] + [next(e for e in measured if spec_of(e) == s) for s in specs[1:]]
    slot = {s: i for i, s in enumerate(specs)}
    # The optimisation first (each step needs the one before); each checkpoint's measurements need only its params
    # and states, so they are independent tasks for the executor.
    reached = {c.step: c for c in _optimise(problem, learners, start, settings, seed, folder,
                                            ema_names(problem, groups))}
    tasks = [MeasureTask(c.step, Subject(problem, e, c.params, c.states[slot[spec_of(e)]]), settings.num_samples,
                         seed + 1 + c.step, method)
             for c in reached.values() for e in measured]
    results = _measure_all(tasks, executor)
    negative_bound = problem.objective_is_negative_bound
    return [_record(reached[task.step], driver, res, groups, negative_bound) for task, res in zip(tasks, results)]


def _optimise(problem: Any, learners: Sequence[Any], start: Mapping[str, np.ndarray], settings: TraceSettings,
              seed: int, folder: str | None, tracked: Sequence[str]) -> Iterator[Checkpoint]:
    """Adam on the params, following ``learners[0]``, with the moving averages of its estimate over the ``tracked``
    params; yields each :class:`Checkpoint` after writing its params into ``folder`` (first, so that a
    measurement that fails does not lose the point)."""
    theta = {k: jnp.asarray(v) for k, v in start.items()}
    key, key_init = jax.random.split(jax.random.key(seed))
    states = [e.init(problem, theta, jax.random.fold_in(key_init, i)) for i, e in enumerate(learners)]
    opt_state = optax.adam(settings.lr).init(theta)  # Adam's state does not depend on the rate, a traced value
    rates = (np.float32(settings.lr), np.float32(settings.ema_decay))  # traced: another rate compiles nothing
    ema, key_objective = init_ema(theta, tracked), objective_key(seed)
    for t in range(settings.steps + 1):
        if t % settings.every == 0 or t == settings.steps:
            point = {k: np.asarray(v) for k, v in theta.items()}
            if folder is not None:
                save_checkpoint(folder, t, point)
            objective = (objective_mc(problem, point, settings.objective_samples, jax.random.fold_in(key_objective, t))
                         if settings.objective_samples else (math.nan, math.nan))
            yield Checkpoint(t, point, states, ema_variance(ema), objective)
        if t < settings.steps:
            theta, opt_state, states, ema = _train_step(problem, learners, rates, (theta, opt_state, states, ema),
                                                        jax.random.fold_in(key, t))


def _measure_all(tasks: Sequence[MeasureTask], executor: ExecutorChoice) -> list[Result]:
    """Every task's result, in order, computed where ``executor`` says."""
    results: list[Any] = [None] * len(tasks)
    with executor.start() as pool:
        names = [f"trace-step{task.step}-{i}" for i, task in enumerate(tasks)]
        for outcome in pool.map(measure_task, tasks, names=names):
            if outcome.error is not None:
                raise outcome.error
            results[outcome.index] = outcome.value
    return results


def measure_task(task: MeasureTask) -> Result:
    """One measurement of a trace (an executor task): :func:`varbench.measure` of the task's subject.

    Args:
      task: the subject at a checkpoint (its state frozen), the estimates, the seed and the method.

    Returns:
      The measurement.
    """
    subject = task.subject
    return measure(subject.problem, subject.estimator, params=subject.params, num_samples=task.num_samples,
                   seed=task.seed, method=task.method, state=subject.state)


@compile_tier.jit
def _train_step(problem, learners, rates, carry, key):
    """One optimisation step: each stateful learner updates at ``theta``, then Adam(lr) follows the driver's estimate
    (``learners[0]``), which also enters the moving averages (``rates = (lr, decay)``; ``carry = (theta, Adam's
    state, learner states, averages)``), on the device: no host round trip per step. Problem, estimators and rates
    are arguments, not closed over, so a second trace with the same structures (another seed, rate, length or
    starting point) reuses the compiled step."""
    lr, decay = rates
    theta, opt_state, states, ema = carry
    keys = jax.random.split(key, len(learners) + 1)
    states = [e.update(problem, theta, s, k) if e.stateful else s for e, s, k in zip(learners, states, keys)]
    grad = learners[0].estimate(problem, theta, states[0], keys[-1])
    updates, opt_state = optax.adam(lr).update(grad, opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state, states, ema_update(ema, grad, decay)


def param_groups(problem: Any) -> dict[str, list[str]] | None:
    """``problem.param_groups()`` made a partition of the params.

    Args:
      problem: a problem object.

    Returns:
      ``{group: [param names]}``, names in no group going to ``"other"`` (the rule of
      :func:`varbench.reports.groups.group_of`); ``None`` when the problem defines no groups.
    """
    method = getattr(problem, "param_groups", None)
    if not callable(method):
        return None
    groups = {g: list(names) for g, names in method().items()}
    grouped = {n for names in groups.values() for n in names}
    other = [n for n in problem.param_shapes() if n not in grouped]
    return {**groups, "other": other} if other else groups


def _record(checkpoint: Checkpoint, driver: Any, res: Result, groups: Mapping[str, Sequence[str]] | None,
            negative_bound: bool) -> dict[str, Any]:
    total, t = res.total_variance, checkpoint.step
    objective, stderr = (_finite(v) for v in checkpoint.objective)
    group_variance = None if groups is None else {
        g: float(sum(np.sum(res.variance[n], dtype=np.float64) for n in names)) for g, names in groups.items()}
    group_ci = None if groups is None else {g: _summed_ci(res, names) for g, names in groups.items()}
    return {
        "step": t, "driver": spec_of(driver), "estimator": res.estimator, "problem": res.problem,
        "objective": res.objective_exact, "params": {k: np.asarray(v).tolist() for k, v in res.params.items()},
        "variance": {k: np.asarray(v).tolist() for k, v in res.variance.items()},
        "grad_mean": {k: np.asarray(v).tolist() for k, v in res.grad_mean.items()},
        "total_variance": total, "log_variance": math.log(total) if total > 0 else float("-inf"),
        "method": res.method, "num_samples": res.num_samples, "seed": res.seed,
        "evaluations_per_estimate": res.evaluations_per_estimate,
        "group_variance": group_variance,
        "group_work_normalized_variance": None if group_variance is None else {
            g: v * res.evaluations_per_estimate for g, v in group_variance.items()},
        "total_variance_ci": _summed_ci(res, list(res.variance_ci)),
        "group_ci_lo": None if group_ci is None else {g: lo for g, (lo, _) in group_ci.items()},
        "group_ci_hi": None if group_ci is None else {g: hi for g, (_, hi) in group_ci.items()},
        # The driver's own trajectory: only its record (the same spec) carries the papers' moving-average figure.
        "paper_ema_variance": _finite(checkpoint.ema_variance) if res.estimator == spec_of(driver) else None,
        "objective_mc": objective, "objective_mc_stderr": stderr,
        "elbo": None if objective is None or not negative_bound else -objective,
        "elbo_stderr": None if objective is None or not negative_bound else stderr,
        # The measurement's own compile and run time (the training steps between checkpoints are not counted).
        "compile_seconds": res.compile_seconds, "run_seconds": res.run_seconds,
    }


def _summed_ci(res: Result, names: Sequence[str]) -> tuple[float | None, float | None]:
    """The interval of the variance summed over ``names``: the sum of their coordinates' 95% bounds, as the check
    battery bounds a total (conservative, whatever their correlation; collapses to the variance in exact mode)."""
    if not names:
        return 0.0, 0.0
    bounds = np.concatenate([np.reshape(np.asarray(res.variance_ci[n], np.float64), (-1, 2)) for n in names])
    return _finite(bounds[:, 0].sum()), _finite(bounds[:, 1].sum())


def _finite(value: Any) -> float | None:
    """``value`` as a float, None where it is NaN or infinite (records are printed as strict JSON)."""
    value = float(value)
    return value if math.isfinite(value) else None

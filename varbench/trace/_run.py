"""Variance along an optimisation: train params with one estimator, measure several at the SAME params.

Measuring each estimator along its own training run mixes estimator noise with parameter drift (a moving average
of squared gradients along training is not a variance). ``trace`` instead optimises the params with one *driver*
estimator and Adam, and every ``every`` steps freezes everything and measures each listed estimator at exactly
those params with :func:`varbench.measure`. Stateful estimators (EMA baselines, REBAR with ``tune=variance``,
RELAX's control-variate network) are trained along the way — one :meth:`update` per optimisation step at the
current params, as in Grathwohl et al. (2018), Algorithm 1 — and measured with their state frozen.

The whole trace is a pure function of ``seed``: optimisation step t uses ``fold_in(split(key(seed))[0], t)`` and the
measurement at step t uses seed ``seed + 1 + t``, so a trace can be recomputed (or resumed) exactly.

Problems that split their params into groups (``param_groups()``: an amortized problem's ``"encoder"`` and
``"decoder"``) also get the variance per group, because in a VAE the encoder's gradient is the noisy one and a total
hides which part of the model an estimator helps.

``save_params=DIR`` writes the params of every checkpoint to ``DIR/step_{t:06d}.npz`` (an ``.npz`` keyed by
parameter name, written atomically) *before* measuring there, so a long trace never loses the points it has reached,
and a checkpoint can be measured again later at any precision. Amortized problems read such a file with their
``params_file`` option (:func:`params_file_spec` builds that spec); other problems have no such option, so pass the
values with ``params=`` / ``--param NAME=VALUE``. Only the params are saved, not the state of stateful estimators
(baselines, control variates): measuring a stateless estimator at a saved point with the checkpoint's seed and
sample count reproduces the trace's record exactly; a stateful one starts from a fresh state (use ``warmup``). In
Python, loop over checkpoints with ``params=dict(np.load(path))`` on one problem: ``params_file`` is a static option,
so every distinct file name compiles a new kernel.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from varbench import executors
from varbench.api import measure
from varbench.catalog import resolve_estimator, resolve_problem, spec_of
from varbench.core.errors import VarbenchError
from varbench.core.params_file import save_params_file
from varbench.core.pytree import options_of
from varbench.engine import compile_tier
from varbench.engine.harness import METHODS
from varbench.engine.params import prepare_params
from varbench.engine.prng import MAX_SEED
from varbench.reports.store import atomic_write
from varbench.spec import format_spec, parse_spec

#: Record fields that hold one value per parameter group (``None`` for problems without ``param_groups()``).


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise VarbenchError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def trace(problem: Any, estimator: Any, *, estimators: Sequence[Any] | None = None,
          params: Mapping[str, Any] | None = None, lr: float = 0.01, steps: int = 1000, every: int = 100,
          samples: int = 10_000, seed: int = 0, method: str = "mc",
          save_params: str | os.PathLike | None = None, executor: str | None = None, workers: int | None = None,
          scheduler: str | None = None, plugins: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Optimise ``problem``'s params with ``estimator`` (Adam) and measure ``estimators`` every ``every`` steps.

    Args:
      problem: a problem spec or object (it needs an exact objective only for the ``objective`` column).
      estimator: the driver, whose estimates update the params: ``params ← Adam(lr)(estimate)``.
      estimators: the estimators measured at each checkpoint (default: the driver). A spec equal to the driver's
        shares its state with it; every stateful one is updated once per step at the current params.
      params: starting params (problem defaults otherwise; scalars broadcast).
      lr: Adam's learning rate for the params.
      steps: optimisation steps; checkpoints at 0, every, 2·every, ... and at ``steps``.
      every: steps between checkpoints.
      samples: estimates per variance measurement (``method="mc"``).
      seed: the trace's only source of randomness.
      method: ``"mc"`` or ``"exact"`` for the measurements.
      save_params: a directory (created if missing); the params of checkpoint t are written to
        :func:`checkpoint_path` ``(save_params, t)`` before they are measured, replacing a file of that name.
      executor, workers, scheduler: where the measurements run (:mod:`varbench.executors`; default ``local``).
        The optimisation runs here, step after step; the measurements at its checkpoints are independent, so with
        ``"dask"`` they run on the cluster's workers. The records are the same whichever runs them.
      plugins: plugin modules the workers import (those named on the command line).

    Returns:
      Tidy records, one per (checkpoint, measured estimator): ``step``, ``driver``, ``estimator``, ``problem``,
      ``objective`` (exact, or None), ``params`` and ``variance``/``grad_mean`` (``{name: list}``),
      ``total_variance``, ``log_variance`` (natural log of the total variance), ``method``, ``num_samples``,
      ``seed`` (of the measurement) and ``evaluations_per_estimate``; and, for problems with ``param_groups()``,
      ``group_variance`` (``{group: summed variance of its coordinates}``, summing to ``total_variance``) and
      ``group_work_normalized_variance`` (the same times ``evaluations_per_estimate``), both ``None`` otherwise;
      ``compile_seconds`` and ``run_seconds`` of the measurement (not of the training steps).

    Example:
      >>> rows = trace("bernoulli", "relax", estimators=["score_function", "relax"], steps=200, every=100)
      >>> [(r["step"], r["estimator"].split(":")[0]) for r in rows][:2]
      [(0, 'score_function'), (0, 'relax')]
    """
    problem = resolve_problem(problem)
    driver = resolve_estimator(estimator)
    measured = [resolve_estimator(e) for e in (estimators if estimators else [driver])]
    steps = _check_positive("steps", steps, allow_zero=True)
    every = _check_positive("every", every)
    samples = _check_positive("samples", samples)
    seed = _check_positive("seed", seed, allow_zero=True)
    if seed + 1 + steps > MAX_SEED:  # checkpoint t is measured with seed + 1 + t
        raise VarbenchError(f"a trace measures checkpoint t with seed + 1 + t, so seed + steps must be below "
                            f"{MAX_SEED}; got seed={seed}, steps={steps}")
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise VarbenchError(f"lr must be a positive number; got {lr!r}")
    kind, workers, scheduler = executors.check_options(executor, workers, scheduler)
    for e in [driver, *measured]:
        e.check_applies(problem)
    folder = None if save_params is None else _writable_folder(save_params)
    groups = param_groups(problem)

    # One state per distinct estimator spec; the driver's is slot 0.
    specs = [spec_of(driver)] + [s for s in dict.fromkeys(spec_of(e) for e in measured) if s != spec_of(driver)]
    learners = [driver] + [next(e for e in measured if spec_of(e) == s) for s in specs[1:]]
    slot = {s: i for i, s in enumerate(specs)}

    theta = {k: jnp.asarray(v) for k, v in prepare_params(problem, params, np.float32).items()}
    key, key_init = jax.random.split(jax.random.key(seed))
    states = [e.init(problem, theta, jax.random.fold_in(key_init, i)) for i, e in enumerate(learners)]
    opt_state = optax.adam(lr).init(theta)  # Adam's state does not depend on the rate, which stays a traced value
    rate = np.float32(lr)

    # The optimisation first (each step needs the one before); each checkpoint's measurements need only its params
    # and states, so they are independent tasks for the executor.
    tasks: list[tuple[int, Any, dict[str, Any]]] = []   # (step, estimator, measure's arguments)
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            point = {k: np.asarray(v) for k, v in theta.items()}
            if folder is not None:  # first, so that a measurement that fails does not lose the point
                save_checkpoint(folder, t, point)
            tasks += [(t, e, dict(problem=problem, estimator=e, params=point, num_samples=samples, seed=seed + 1 + t,
                                  method=method, state=states[slot[spec_of(e)]])) for e in measured]
        if t < steps:
            theta, opt_state, states = _train_step(problem, learners, rate, theta, opt_state, states,
                                                   jax.random.fold_in(key, t))
    results: list[Any] = [None] * len(tasks)
    with executors.make_executor(kind, workers=workers, scheduler=scheduler, plugins=plugins) as pool:
        names = [f"trace-step{t}-{i}" for i, (t, _, _) in enumerate(tasks)]
        for outcome in pool.map(measure_task, [arguments for _, _, arguments in tasks], names=names):
            if outcome.error is not None:
                raise outcome.error
            results[outcome.index] = outcome.value
    return [_record(t, driver, res, groups) for (t, _, _), res in zip(tasks, results)]


def measure_task(arguments: dict[str, Any]) -> Any:
    """One measurement of a trace (an executor task): :func:`varbench.measure` with these keyword arguments."""
    return measure(**arguments)


@compile_tier.jit
def _train_step(problem, learners, lr, theta, opt_state, states, key):
    """One optimisation step: each stateful learner updates at ``theta``, then Adam(lr) follows the driver's estimate
    (``learners[0]``). Problem, estimators and rate are arguments, not closed over, so a second trace with the same
    structures (another seed, rate, length or starting point) reuses the compiled step."""
    keys = jax.random.split(key, len(learners) + 1)
    states = [e.update(problem, theta, s, k) if e.stateful else s for e, s, k in zip(learners, states, keys)]
    grad = learners[0].estimate(problem, theta, states[0], keys[-1])
    updates, opt_state = optax.adam(lr).update(grad, opt_state, theta)
    return optax.apply_updates(theta, updates), opt_state, states


def checkpoint_path(folder: str | os.PathLike, step: int) -> str:
    """Where ``trace(..., save_params=folder)`` writes the params of checkpoint ``step``."""
    return os.path.join(os.fspath(folder), f"step_{int(step):06d}.npz")


def params_file_spec(problem: Any, path: str | os.PathLike) -> str | None:
    """The spec of ``problem`` with its params read from ``path``; ``None`` if it has no ``params_file`` option.

    Example: ``params_file_spec("linear_vae", "run/step_000100.npz")`` →
    ``"linear_vae:data_subset=256,...,params_file=run/step_000100.npz"`` (every option explicit, as in records).
    """
    problem = resolve_problem(problem)
    if "params_file" not in options_of(type(problem)):
        return None
    name, options = parse_spec(spec_of(problem))
    return format_spec(name, {**options, "params_file": os.fspath(path)})


def save_checkpoint(folder: str | os.PathLike, step: int, params: Mapping[str, Any]) -> str:
    """Write ``params`` to :func:`checkpoint_path` atomically; returns the path.

    Written with :func:`varbench.reports.store.atomic_write`, so a killed trace never leaves a truncated file under a
    checkpoint's name, and writing the same step again simply replaces it. The format is
    :func:`varbench.core.params_file.save_params_file`'s (what ``params_file`` loads).
    """
    path = checkpoint_path(folder, step)
    arrays = {k: np.asarray(v) for k, v in params.items()}
    try:
        atomic_write(path, lambda tmp: save_params_file(tmp, arrays), suffix=".tmp.npz")
    except OSError as err:
        raise VarbenchError(f"cannot write params to {path!r}: {err.strerror or err}") from None
    return path


def _writable_folder(path: Any) -> str:
    """``path`` as a created, writable directory, checked before any work so a bad path fails in a second."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise VarbenchError(f"save_params must be a directory path; got {path!r}")
    folder = os.fspath(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise VarbenchError(f"save_params {folder!r} is not a usable directory ({err.strerror or err}); give a "
                            f"directory that exists or can be created") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VarbenchError(f"save_params {folder!r} is not writable; give a writable directory")
    return folder


def param_groups(problem: Any) -> dict[str, list[str]] | None:
    """``problem.param_groups()`` made a partition of the params (names in no group go to ``"other"``, the rule of
    :func:`varbench.reports.groups.group_of`), or ``None`` when the problem defines no groups."""
    method = getattr(problem, "param_groups", None)
    if not callable(method):
        return None
    groups = {g: list(names) for g, names in method().items()}
    grouped = {n for names in groups.values() for n in names}
    other = [n for n in problem.param_shapes() if n not in grouped]
    return {**groups, "other": other} if other else groups


def _record(t: int, driver: Any, res: Any, groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    total = res.total_variance
    group_variance = None if groups is None else {
        g: float(sum(np.sum(res.variance[n], dtype=np.float64) for n in names)) for g, names in groups.items()}
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
        # The measurement's own compile and run time (the training steps between checkpoints are not counted).
        "compile_seconds": res.compile_seconds, "run_seconds": res.run_seconds,
    }

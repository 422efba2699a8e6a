"""Variance along an optimisation: train params with one estimator, measure several at the SAME params.

Measuring each estimator along its own training run mixes estimator noise with parameter drift (a moving average
of squared gradients along training is not a variance). ``trace`` instead optimises the params with one *driver*
estimator and Adam, and every ``every`` steps freezes everything and measures each listed estimator at exactly
those params with :func:`varbench.measure`. Stateful estimators (EMA baselines, REBAR with ``tune=variance``,
RELAX's control-variate network) are trained along the way — one :meth:`update` per optimisation step at the
current params, as in Grathwohl et al. (2018), Algorithm 1 — and measured with their state frozen.

The whole trace is a pure function of ``seed``: optimisation step t uses ``fold_in(split(key(seed))[0], t)`` and the
measurement at step t uses seed ``seed + 1 + t``, so a trace can be recomputed (or resumed) exactly.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from varbench.errors import VarbenchError
from varbench.harness import METHODS, measure
from varbench.params import prepare_params
from varbench.registry import resolve_estimator, resolve_problem, spec_of


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise VarbenchError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def trace(problem: Any, estimator: Any, *, estimators: Sequence[Any] | None = None,
          params: Mapping[str, Any] | None = None, lr: float = 0.01, steps: int = 1000, every: int = 100,
          samples: int = 10_000, seed: int = 0, method: str = "mc") -> list[dict[str, Any]]:
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

    Returns:
      Tidy records, one per (checkpoint, measured estimator): ``step``, ``driver``, ``estimator``, ``problem``,
      ``objective`` (exact, or None), ``params`` and ``variance``/``grad_mean`` (``{name: list}``),
      ``total_variance``, ``log_variance`` (natural log of the total variance), ``method``, ``num_samples``,
      ``seed`` (of the measurement) and ``evaluations_per_estimate``.

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
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise VarbenchError(f"lr must be a positive number; got {lr!r}")
    for e in [driver, *measured]:
        e.check_applies(problem)

    # One state per distinct estimator spec; the driver's is slot 0.
    specs = [spec_of(driver)] + [s for s in dict.fromkeys(spec_of(e) for e in measured) if s != spec_of(driver)]
    learners = [driver] + [next(e for e in measured if spec_of(e) == s) for s in specs[1:]]
    slot = {s: i for i, s in enumerate(specs)}

    theta = {k: jnp.asarray(v) for k, v in prepare_params(problem, params, np.float32).items()}
    key, key_init = jax.random.split(jax.random.key(seed))
    states = [e.init(problem, theta, jax.random.fold_in(key_init, i)) for i, e in enumerate(learners)]
    optimizer = optax.adam(lr)
    opt_state = optimizer.init(theta)

    @jax.jit
    def step(theta, opt_state, states, key):
        keys = jax.random.split(key, len(learners) + 1)
        states = [e.update(problem, theta, s, k) if e.stateful else s for e, s, k in zip(learners, states, keys)]
        grad = driver.estimate(problem, theta, states[0], keys[-1])
        updates, opt_state = optimizer.update(grad, opt_state, theta)
        return optax.apply_updates(theta, updates), opt_state, states

    records: list[dict[str, Any]] = []
    for t in range(steps + 1):
        if t % every == 0 or t == steps:
            point = {k: np.asarray(v) for k, v in theta.items()}
            for e in measured:
                res = measure(problem, e, params=point, num_samples=samples, seed=seed + 1 + t, method=method,
                              state=states[slot[spec_of(e)]])
                records.append(_record(t, driver, res))
        if t < steps:
            theta, opt_state, states = step(theta, opt_state, states, jax.random.fold_in(key, t))
    return records


def _record(t: int, driver: Any, res: Any) -> dict[str, Any]:
    total = res.total_variance
    return {
        "step": t, "driver": spec_of(driver), "estimator": res.estimator, "problem": res.problem,
        "objective": res.objective_exact, "params": {k: np.asarray(v).tolist() for k, v in res.params.items()},
        "variance": {k: np.asarray(v).tolist() for k, v in res.variance.items()},
        "grad_mean": {k: np.asarray(v).tolist() for k, v in res.grad_mean.items()},
        "total_variance": total, "log_variance": math.log(total) if total > 0 else float("-inf"),
        "method": res.method, "num_samples": res.num_samples, "seed": res.seed,
        "evaluations_per_estimate": res.evaluations_per_estimate,
    }

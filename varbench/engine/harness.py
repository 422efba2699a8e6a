"""The engine's entry points: :func:`measure` one estimator on one problem, :func:`measure_batch` many grid points in
one compiled kernel.

Each checks its input, prepares the :class:`~varbench.engine.subject.Subject` measured (params, state), sizes the
chunk a kernel streams (:mod:`._chunks`), runs the compiled Monte Carlo kernel (:mod:`._kernels`) or exact mode
(:mod:`.exact`) and assembles the :class:`~varbench.engine.result.Result` (:mod:`._assemble`). The names other
modules use (chunk sizing, kernels, state, limits) are re-exported here.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.estimator import Estimator, State
from varbench.core.noise import noise_dimension
from varbench.core.problem import Problem
from varbench.engine import _checks, _grid, _kernels, columns, settings, sharding
from varbench.engine._assemble import Run, exact_objective_and_gradient, exact_stats, make_result, mc_stats
from varbench.engine._checks import MAX_SAMPLES, MAX_WARMUP, METHODS, check_contract
from varbench.engine._chunks import ChunkPlan, auto_chunk_size, check_chunk_memory, memory_guard, plan
from varbench.engine._kernels import compiled_kernel, kernel_subject, run_moments
from varbench.engine._state import check_state, prepare_state
from varbench.engine._working_memory import fit_working_memory
from varbench.engine.exact import exact_moments
from varbench.engine.params import prepare_params
from varbench.engine.prng import DEFAULT_PRNG, make_key
from varbench.engine.result import Result
from varbench.engine.subject import Subject

__all__ = ["MAX_SAMPLES", "MAX_WARMUP", "METHODS", "auto_chunk_size", "check_chunk_memory", "check_contract",
           "check_state",
           "clear_cache", "compile_count", "compiled_kernel", "exact_objective_and_gradient", "measure",
           "measure_batch", "prepare_state", "run_moments"]


def compile_count() -> int:
    """Kernels compiled so far in this process.

    Returns:
      The number of Monte Carlo and exact-mode kernels compiled (evicted ones included).
    """
    return _kernels.COMPILED.compiled + _grid.compile_count()


def clear_cache() -> None:
    """Forget compiled kernels (used by tests and benchmarks of compilation)."""
    _kernels.COMPILED.reset()
    _grid.clear_cache()
    sharding.clear_cache()


def _chunks_of(subject: Subject, chunk_size: int | None, points: int = 1) -> ChunkPlan:
    """The chunk a kernel streams ``subject``'s estimates in (:func:`varbench.engine._chunks.plan`)."""
    noise = noise_dimension(subject.estimator.noise(subject.problem, subject.params))
    chosen = plan(noise, columns.count(subject.params), chunk_size, points)
    return chosen if chunk_size is not None else fit_working_memory(chosen, subject, points)


def measure(problem: Problem, estimator: Estimator, *, params: Mapping[str, Any] | None = None,
            num_samples: int | None = None, seed: int = 0, method: str = "mc", chunk_size: int | None = None,
            warmup: int = 0, state: State | None = None, prng: str = DEFAULT_PRNG,
            exact_budget: int | None = None) -> Result:
    """Measure the bias, variance and cost of one gradient estimator on one problem.

    Args:
      problem: the :class:`varbench.Problem` (:func:`varbench.measure` also takes a spec string such as
        ``"gaussian:cost=square,k=0"``).
      estimator: the :class:`varbench.Estimator` (or, through :func:`varbench.measure`, a spec string such as
        ``"score_function:baseline=mean,samples=4"``).
      params: the point θ at which gradients are measured, ``{name: value}``; scalars broadcast to the
        parameter's shape; missing names take the problem's defaults.
      num_samples: number of independent estimates (``method="mc"``).
      seed: the PRNG seed; keys are split from it, never reused.
      method: ``"mc"`` (Monte Carlo, streaming) or ``"exact"`` (quadrature over the estimator's noise).
      chunk_size: estimates per vmapped chunk; by default chosen from the problem's size
        (:func:`auto_chunk_size`), and lowered when one estimate's intermediates are large
        (:mod:`varbench.engine._working_memory`).
      warmup: updates of a stateful estimator's state (running baselines, learned control variates) at
        ``params`` before measuring; the state is then frozen, so the variance is that of a fixed estimator.
      state: an explicit state to start from instead of the estimator's ``init`` (e.g. a control variate trained
        along an optimisation, see :mod:`varbench.trace`); it must have the structure ``init`` returns, so the
        compiled kernel is reused.
      prng: the random number generator, ``"threefry"`` (default, statistically sound), ``"rbg"`` or
        ``"unsafe_rbg"`` (see :mod:`varbench.engine.prng`).
      exact_budget: ``method="exact"``: most points the adaptive quadrature may evaluate where the Gauss rules
        disagree, before the measurement is refused (None: the engine's full budget, about a minute of a cheap
        cost on two CPU cores); the check battery passes its level's smaller budget and falls back to Monte Carlo.

    Returns:
      A :class:`varbench.Result`.

    Example:
      >>> from varbench.estimators import Pathwise
      >>> from varbench.problems import Gaussian
      >>> res = measure(Gaussian(cost_name="square", k=0.0), Pathwise(), params={"mean": 1.0}, num_samples=10**5)
      >>> round(float(res.variance["mean"][0]))
      4
    """
    settings.ensure_configured()  # before anything starts JAX's backend (the settings include XLA's flags)
    _checks.check_objects([problem], estimator)
    _checks.check_run(method, seed, warmup, prng)
    _checks.check_exact_budget(exact_budget)
    estimator.check_applies(problem)
    # Exact mode works in float64 throughout; Monte Carlo in float32 (the harness's default dtype).
    params_np = prepare_params(problem, params, np.float64 if method == "exact" else np.float32)
    subject = kernel_subject(problem, estimator, params_np).replace(state=state)
    _checks.check_contract([subject])  # a broken estimator is one line naming it, before anything compiles
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    if method == "mc":  # every check before the first kernel runs, so bad input fails fast
        num_samples = _checks.check_samples(num_samples)
        chunks = _chunks_of(subject, chunk_size)
        with memory_guard(chunks):
            subject = subject.replace(state=prepare_state(subject, key_state, int(warmup)))
            moments, compile_seconds, run_seconds = run_moments(subject, key_measure, num_samples, chunks.size,
                                                                scalars=chunks.scalars)
        st, count = mc_stats(moments, estimator, num_samples, Subject(problem, estimator, params_np)), num_samples
    else:
        state = prepare_state(subject, key_state, int(warmup))
        start = time.perf_counter()
        # Overflow inside the quadrature is detected below (non-finite moments), not reported as NumPy warnings.
        with memory_guard(None), np.errstate(all="ignore"):
            moments = exact_moments(Subject(problem, estimator, params_np, state), max_points=exact_budget)
        compile_seconds = moments.compile_seconds
        run_seconds = time.perf_counter() - start - compile_seconds
        st, count = exact_stats(moments, estimator, Subject(problem, estimator, params_np)), moments.num_points
    return make_result(Subject(problem, estimator, params_np), st,
                       Run(seed, method, count, compile_seconds, run_seconds))


def measure_batch(problems: Sequence[Problem], estimator: Estimator, *, params: Sequence[Mapping[str, Any] | None],
                  num_samples: int, seed: int = 0, chunk_size: int | None = None, warmup: int = 0,
                  prng: str = DEFAULT_PRNG) -> list[Result]:
    """Monte Carlo measurements at many grid points in ONE compiled kernel (vmapped over the points).

    Grid points may differ only in values: numeric option leaves (such as ``k``) and params, not in structure
    (static options, shapes). Point ``i`` uses keys folded from ``seed`` and ``i``, so points are independent.

    Args:
      problems: one problem per grid point, all with the same static options.
      estimator: the estimator measured at every point.
      params: per point, ``{name: value}`` or None for the problem's defaults.
      num_samples: independent estimates at each point.
      seed: the PRNG seed.
      chunk_size: estimates per chunk (by default from the problem's size times the number of points).
      warmup: updates of a stateful estimator's state at each point before measuring.
      prng: the random number generator (see :func:`measure`).

    Returns:
      One :class:`varbench.Result` per point; its ``compile_seconds`` and ``run_seconds`` are the batch's totals
      divided by the number of points (so sums over points are the true totals).

    Example:
      >>> from varbench.estimators import Pathwise
      >>> from varbench.problems import Gaussian
      >>> grid = [Gaussian(cost_name="cos", k=k) for k in (0.5, 1.0, 2.0)]
      >>> results = measure_batch(grid, Pathwise(), params=[None] * 3, num_samples=10_000)
      >>> len(results)
      3
    """
    settings.ensure_configured()
    problems = list(problems)
    _checks.check_objects(problems, estimator)
    _checks.check_grid_size(problems, params)
    _checks.check_run("mc", seed, warmup, prng)
    num_samples = _checks.check_samples(num_samples)
    _checks.check_grid_structure(problems)
    for p in problems:
        estimator.check_applies(p)
    params_np = [prepare_params(p, q) for p, q in zip(problems, params)]
    points = [kernel_subject(p, estimator, q) for p, q in zip(problems, params_np)]
    _checks.check_contract(points)
    stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])
    batch = Subject(jax.tree_util.tree_map(stack, *[s.problem for s in points]), points[0].estimator,
                    jax.tree_util.tree_map(stack, *[s.params for s in points]))
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    n = len(problems)
    point_keys = lambda key: jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    warm = lambda pr, pa, k: prepare_state(Subject(pr, batch.estimator, pa, None), k, int(warmup))
    batch = batch.replace(state=jax.vmap(warm)(batch.problem, batch.params, point_keys(key_state)))
    chunks = _chunks_of(points[0], chunk_size, points=n)
    with memory_guard(chunks):
        moments, compile_seconds, run_seconds = run_moments(batch, point_keys(key_measure), num_samples, chunks.size,
                                                            batched=True, scalars=chunks.scalars)
    run = Run(seed, "mc", num_samples, compile_seconds / n, run_seconds / n)
    return [make_result(Subject(problem, estimator, p_np),
                        mc_stats(jax.tree_util.tree_map(lambda x: x[i], moments), estimator, num_samples,
                                 Subject(problem, estimator, p_np)), run)
            for i, (problem, p_np) in enumerate(zip(problems, params_np))]

"""The harness: one compiled kernel per (problem, estimator, shapes) that streams estimates in bounded memory.

The kernel vmaps the estimator over a chunk of keys, reduces the chunk to moments (count, mean, central powers)
and merges them into running moments inside an on-device ``fori_loop`` whose trip count is a runtime argument.
Memory therefore depends on the chunk size, never on the number of samples, and changing params, option values
(pytree leaves), the seed or the sample count reuses the compiled executable.
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from varbench import sharding, stats
from varbench.errors import NonFiniteEstimateError, VarbenchError
from varbench.exact import exact_moments
from varbench.noise import noise_dimension
from varbench.params import prepare_params
from varbench.prng import DEFAULT_PRNG, check_prng, make_key
from varbench.registry import resolve_estimator, resolve_problem, spec_of
from varbench.result import Result

METHODS = ("mc", "exact")
#: Elements (noise + gradient coordinates, per estimate) that one chunk may hold; sets the automatic chunk size.
CHUNK_ELEMENTS = 2 ** 21
MIN_CHUNK, MAX_CHUNK = 256, 2 ** 16

_COMPILED: dict[Any, Any] = {}


def auto_chunk_size(noise_scalars: int, param_scalars: int) -> int:
    """Largest power of two with ``chunk × (noise + params) ≤ CHUNK_ELEMENTS``, within [256, 65536].

    It depends only on the problem's size, never on the number of samples, so the sample count can change
    without recompiling. For dim 100 (100 noise scalars, 200 gradient coordinates) it is 4096.
    """
    per = max(noise_scalars + param_scalars, 1)
    size = 2 ** int(math.floor(math.log2(max(CHUNK_ELEMENTS // per, 1))))
    return int(min(max(size, MIN_CHUNK), MAX_CHUNK))


def _as_leaf_array(x: Any) -> Any:
    """Python and NumPy scalars become fixed-dtype NumPy arrays so kernel signatures (and caches) are stable."""
    if isinstance(x, jax.Array) or isinstance(x, np.ndarray) and x.dtype not in (np.float64, np.int64):
        return x
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a.astype(np.float64 if jax.config.jax_enable_x64 else np.float32)
    if a.dtype.kind in "iu":
        return a.astype(np.int64 if jax.config.jax_enable_x64 else np.int32)
    return a


def _kernel(problem, estimator, params, state, key, num_full, remainder, *, chunk_size: int):
    def estimate(k):
        return estimator.estimate(problem, params, state, k)

    def chunk(i):
        keys = jax.random.split(jax.random.fold_in(key, i), chunk_size)
        values = jax.vmap(estimate)(keys)
        n_valid = jnp.where(i < num_full, chunk_size, remainder)
        valid = jnp.arange(chunk_size) < n_valid
        return jax.tree_util.tree_map(lambda v: stats.chunk_moments(v, valid), values)

    is_moments = lambda x: isinstance(x, stats.Moments)
    init = jax.tree_util.tree_map(stats.empty_moments, params)
    num_chunks = num_full + (remainder > 0).astype(num_full.dtype)

    def body(i, acc):
        return jax.tree_util.tree_map(stats.merge, acc, chunk(i), is_leaf=is_moments)

    return jax.lax.fori_loop(0, num_chunks, body, init)


_jitted_kernel = jax.jit(_kernel, static_argnames=("chunk_size",))


@jax.jit
def _init_state(problem, estimator, params, key):
    return estimator.init(problem, params, key)


@jax.jit
def _warm_up(problem, estimator, params, state, key, steps):
    """``steps`` updates of a stateful estimator at fixed params; ``steps`` is traced (no recompile)."""
    def body(i, s):
        return estimator.update(problem, params, s, jax.random.fold_in(key, i))
    return jax.lax.fori_loop(0, steps, body, state)


def prepare_state(problem, estimator, params, key, warmup: int) -> Any:
    """Initial state of ``estimator`` after ``warmup`` updates at ``params`` (then frozen while measuring)."""
    key_init, key_warmup = jax.random.split(key)
    state = _init_state(problem, estimator, params, key_init)
    if warmup and estimator.stateful:
        state = _warm_up(problem, estimator, params, state, key_warmup, np.int32(warmup))
    return state


def _signature(args: tuple, chunk_size: int) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return (treedef, tuple(jax.typeof(x) for x in leaves), chunk_size, jax.default_backend())


def compiled_kernel(problem, estimator, params, state, key, chunk_size: int) -> tuple[Any, float]:
    """The compiled kernel for these argument structures and the seconds spent compiling it (0 if cached)."""
    args = (problem, estimator, params, state, key, np.int32(0), np.int32(0))
    signature = _signature(args, chunk_size)
    if signature in _COMPILED:
        return _COMPILED[signature], 0.0
    start = time.perf_counter()
    compiled = _jitted_kernel.lower(*args, chunk_size=chunk_size).compile()
    seconds = time.perf_counter() - start
    _COMPILED[signature] = compiled
    return compiled, seconds


def clear_cache() -> None:
    """Forget compiled kernels (used by tests and benchmarks of compilation)."""
    _COMPILED.clear()
    sharding.clear_cache()


def _flat_size(tree: Any) -> int:
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree))


def _check_samples(num_samples: Any) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise VarbenchError(f"num_samples must be a positive integer; got {num_samples!r}")
    if num_samples >= 2 ** 31 * MIN_CHUNK:
        raise VarbenchError(f"num_samples must be below {2 ** 31 * MIN_CHUNK}; got {num_samples}")
    return int(num_samples)


def run_moments(problem, estimator, params, state, key, num_samples: int, chunk_size: int
                ) -> tuple[Any, float, float]:
    """Stream ``num_samples`` estimates; returns (moments pytree on host, compile seconds, run seconds)."""
    num_full, remainder = divmod(num_samples, chunk_size)
    if num_full >= 2 ** 31:
        raise VarbenchError(f"num_samples / chunk_size must be below 2^31; use a larger chunk_size")
    if sharding.num_devices() > 1:  # samples spread over every local device, moments merged exactly
        return sharding.run_moments_sharded(_kernel, problem, estimator, params, state, key, num_samples, chunk_size)
    compiled, compile_seconds = compiled_kernel(problem, estimator, params, state, key, chunk_size)
    start = time.perf_counter()
    out = compiled(problem, estimator, params, state, key, np.int32(num_full), np.int32(remainder))
    out = jax.device_get(jax.block_until_ready(out))
    return out, compile_seconds, time.perf_counter() - start


def measure(problem: Any, estimator: Any, *, params: Mapping[str, Any] | None = None,
            num_samples: int | None = None, seed: int = 0, method: str = "mc",
            chunk_size: int | None = None, warmup: int = 0, prng: str = DEFAULT_PRNG) -> Result:
    """Measure the bias, variance and cost of one gradient estimator on one problem.

    Args:
      problem: a spec string such as ``"gaussian:cost=square,k=0"`` or a :class:`problems.Problem`.
      estimator: a spec string such as ``"score_function:baseline=mean,samples=4"`` or an
        :class:`estimators.Estimator`.
      params: the point θ at which gradients are measured, ``{name: value}``; scalars broadcast to the
        parameter's shape; missing names take the problem's defaults.
      num_samples: number of independent estimates (``method="mc"``).
      seed: the PRNG seed; keys are split from it, never reused.
      method: ``"mc"`` (Monte Carlo, streaming) or ``"exact"`` (quadrature over the estimator's noise).
      chunk_size: estimates per vmapped chunk; by default chosen from the problem's size
        (:func:`auto_chunk_size`).
      warmup: updates of a stateful estimator's state (running baselines, learned control variates) at
        ``params`` before measuring; the state is then frozen, so the variance is that of a fixed estimator.
      prng: the random number generator, ``"threefry"`` (default, statistically sound), ``"rbg"`` or
        ``"unsafe_rbg"`` (see :mod:`varbench.prng`).

    Returns:
      A :class:`varbench.Result`.

    Example:
      >>> res = measure("gaussian:cost=square,k=0", "pathwise", params={"mean": 1.0}, num_samples=10**5)
      >>> round(float(res.variance["mean"][0]))
      4
    """
    problem = resolve_problem(problem)
    estimator = resolve_estimator(estimator)
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise VarbenchError(f"seed must be a non-negative integer; got {seed!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= warmup < 2 ** 31:
        raise VarbenchError(f"warmup must be a non-negative integer number of steps; got {warmup!r}")
    check_prng(prng)
    estimator.check_applies(problem)
    # Exact mode works in float64 throughout; Monte Carlo in float32 (the harness's default dtype).
    params_np = prepare_params(problem, params, np.float64 if method == "exact" else np.float32)
    problem_arg = jax.tree_util.tree_map(_as_leaf_array, problem)
    estimator_arg = jax.tree_util.tree_map(_as_leaf_array, estimator)
    params_arg = {k: jnp.asarray(v) for k, v in params_np.items()}
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    state = prepare_state(problem_arg, estimator_arg, params_arg, key_state, int(warmup))

    if method == "mc":
        num_samples = _check_samples(num_samples)
        if chunk_size is None:
            noise = noise_dimension(estimator.noise(problem_arg, params_arg))
            chunk_size = auto_chunk_size(noise, _flat_size(params_np))
        elif isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size <= 0:
            raise VarbenchError(f"chunk_size must be a positive integer; got {chunk_size!r}")
        moments, compile_seconds, run_seconds = run_moments(
            problem_arg, estimator_arg, params_arg, state, key_measure, num_samples, int(chunk_size))
        is_moments = lambda x: isinstance(x, stats.Moments)
        bad = {k: int(np.sum(m.nonfinite)) for k, m in moments.items()}
        if any(bad.values()):
            worst = max(bad, key=bad.get)
            raise NonFiniteEstimateError(
                f"estimator {spec_of(estimator)!r} produced NaN/inf in {bad[worst]} of {num_samples} estimates of "
                f"{worst!r} at these params; valid params keep the problem's costs finite")
        summaries = jax.tree_util.tree_map(stats.summarize, moments, is_leaf=is_moments)
        overflow = [k for k, s in summaries.items() if not (np.all(np.isfinite(s.mean))
                                                            and np.all(np.isfinite(s.variance)))]
        if overflow:
            raise NonFiniteEstimateError(
                f"estimator {spec_of(estimator)!r}: the moments of {overflow[0]!r} overflowed {moments[overflow[0]].mean.dtype} "
                "(estimates too large at these params); valid params keep the estimates' squares finite")
        grad_mean = {k: s.mean for k, s in summaries.items()}
        grad_se = {k: s.se for k, s in summaries.items()}
        variance = {k: s.variance for k, s in summaries.items()}
        variance_ci = {k: np.stack([s.variance_lo, s.variance_hi], -1) for k, s in summaries.items()}
        count = num_samples
    else:
        start = time.perf_counter()
        exact = exact_moments(problem, estimator, params_np, state)
        run_seconds, compile_seconds = time.perf_counter() - start, 0.0
        grad_mean, variance = exact.mean, exact.variance
        grad_se = {k: np.zeros_like(v) for k, v in variance.items()}
        variance_ci = {k: np.stack([v, v], -1) for k, v in variance.items()}
        count = exact.num_points

    grad_exact = objective_exact = bias = bias_z = mse = None
    if problem.has_exact_objective:
        objective_exact, grad_exact = exact_objective_and_gradient(problem, params_np)
        bias = {k: grad_mean[k] - grad_exact[k] for k in grad_mean}
        mse = {k: variance[k] + bias[k] ** 2 for k in grad_mean}
        if method == "mc":
            with np.errstate(divide="ignore", invalid="ignore"):
                bias_z = {k: np.where(grad_se[k] > 0, bias[k] / grad_se[k], np.where(bias[k] == 0, 0.0, np.inf))
                          * 1.0 for k in grad_mean}
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = {k: np.abs(grad_mean[k]) / np.sqrt(variance[k]) for k in grad_mean}
    # Report per-parameter fields in the problem's parameter order (pytrees come back with sorted keys).
    order = list(params_np)
    grad_mean, grad_se, variance, variance_ci, snr = (
        {k: d[k] for k in order} for d in (grad_mean, grad_se, variance, variance_ci, snr))
    grad_exact, bias, bias_z, mse = ({k: d[k] for k in order} if d is not None else None
                                     for d in (grad_exact, bias, bias_z, mse))

    return Result(
        problem=spec_of(problem), estimator=spec_of(estimator), params=params_np, num_samples=int(count),
        seed=int(seed), method=method, evaluations_per_estimate=int(estimator.evaluations_per_estimate(problem)),
        grad_mean=grad_mean, grad_se=grad_se, variance=variance, variance_ci=variance_ci,
        total_variance=float(sum(np.sum(v) for v in variance.values())), grad_exact=grad_exact,
        objective_exact=objective_exact, bias=bias, bias_z=bias_z, snr=snr, mse=mse,
        compile_seconds=float(compile_seconds), run_seconds=float(run_seconds),
        samples_per_second=float(count / run_seconds) if run_seconds > 0 else float("inf"),
        backend=jax.default_backend(), dtype=str(next(iter(params_np.values())).dtype if method == "mc" else "float64"),
        version=_version())


def _to_float64(x: Any) -> Any:
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype.kind == "f" else x


@jax.jit
def _objective_value_and_grad(problem: Any, params: Any) -> tuple[jax.Array, Any]:
    return jax.value_and_grad(problem.objective_exact)(params)


def exact_objective_and_gradient(problem: Any, params: Mapping[str, np.ndarray]) -> tuple[float, dict]:
    """The closed-form objective and its autodiff gradient, computed in float64."""
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        problem64 = jax.tree_util.tree_map(_to_float64, problem)
        value, grad = _objective_value_and_grad(problem64, p64)
        return float(value), {k: np.asarray(v, np.float64) for k, v in grad.items()}


def _version() -> str:
    from varbench import __version__
    return __version__

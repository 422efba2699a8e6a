"""The harness: one compiled kernel per (problem, estimator, shapes) that streams estimates in bounded memory.

The kernel draws a chunk's noise in one call, vmaps the estimator over it and adds the chunk to running power sums
of the shifted, scaled estimates (:class:`varbench.engine.stats.PowerSums`) inside an on-device ``fori_loop``
whose trip count is a runtime argument; central moments are formed once, in float64, on the host.
Memory therefore depends on the chunk size, never on the number of samples, and changing params, option values
(pytree leaves), the seed or the sample count reuses the compiled executable.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NonFiniteEstimateError, OutOfMemoryError, VarbenchError
from varbench.core.estimator import Estimator, batched_noise
from varbench.core.naming import spec_of
from varbench.core.noise import noise_dimension, sample_noise
from varbench.core.problem import Problem
from varbench.engine import columns, compile_cache, compile_tier, exact, sharding, stats
from varbench.engine.exact import exact_moments, to_float64
from varbench.engine.kernel_cache import KernelCache
from varbench.engine.params import host_memory_bytes, prepare_params
from varbench.engine.prng import DEFAULT_PRNG, check_prng, check_seed, make_key
from varbench.engine.result import Result

METHODS = ("mc", "exact")
#: Elements (noise + gradient coordinates, per estimate) that one chunk may hold; sets the automatic chunk size.
CHUNK_ELEMENTS = 2 ** 21
MIN_CHUNK, MAX_CHUNK = 256, 2 ** 16
#: The same on an accelerator, where every chunk is a loop iteration with a fixed launch and synchronisation cost
#: (on an H100, dim 100: 2.6e7 estimates/s at the CPU's chunk of 4096, 2.3e8 at 65536, 2.8e8 at 262144; see
#: benchmarks/RESULTS.md) and memory is plentiful: 2^26 float32 elements are 256 MiB.
ACCELERATOR_CHUNK_ELEMENTS, ACCELERATOR_MAX_CHUNK = 2 ** 26, 2 ** 20
#: Largest chunk size accepted from a caller (the chunk's keys are indexed by 32-bit integers).
MAX_CHUNK_SIZE = 2 ** 31 - 1
#: Most estimates one measurement streams (chunks are counted by 32-bit integers, of at least MIN_CHUNK each).
MAX_SAMPLES = 2 ** 31 * MIN_CHUNK - 1
#: Most warm-up updates of a stateful estimator (a 32-bit loop count).
MAX_WARMUP = 2 ** 31 - 1

_COMPILED = KernelCache()
# On by default for every entry point (CLI, Python API, tests): a new process reuses kernels compiled before.
compile_cache.ensure_enabled()


def auto_chunk_size(noise_scalars: int, param_scalars: int, backend: str | None = None) -> int:
    """Largest power of two with ``chunk × (noise + params) ≤ CHUNK_ELEMENTS``, within [256, 65536] on CPU;
    ``ACCELERATOR_CHUNK_ELEMENTS`` within [256, 2^20] on a GPU or TPU (``backend``: JAX's default backend).

    It depends only on the problem's size and the backend, never on the number of samples, so the sample count
    can change without recompiling. For dim 100 (100 noise scalars, 200 gradient coordinates) it is 4096 on CPU.
    The noise stream depends on the chunk size: pass ``chunk_size`` explicitly to draw the same estimates on a
    CPU and a GPU.
    """
    on_cpu = (backend or jax.default_backend()) == "cpu"
    elements, largest = (CHUNK_ELEMENTS, MAX_CHUNK) if on_cpu else (ACCELERATOR_CHUNK_ELEMENTS, ACCELERATOR_MAX_CHUNK)
    per = max(noise_scalars + param_scalars, 1)
    size = 2 ** int(math.floor(math.log2(max(elements // per, 1))))
    return int(min(max(size, MIN_CHUNK), largest))


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


def _chunk_estimator(problem, estimator, params, state, chunk_size: int):
    """A function ``key -> estimates of one chunk`` (every leaf gets a leading axis of ``chunk_size``).

    The chunk's noise is drawn in one call from one key (one bulk draw per noise block, as
    ``jax.random.normal(key, (chunk, d))`` does), not one key split per estimate: the per-estimate splits cost as
    much as the draws themselves at small dims. An estimator that overrides ``estimate`` (drawing its own noise)
    keeps one key per estimate.
    """
    if type(estimator).estimate is not Estimator.estimate:
        one = lambda k: estimator.estimate(problem, params, state, k)
        return lambda key: jax.vmap(one)(jax.random.split(key, chunk_size))
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    spec = batched_noise(estimator.noise(problem, params), chunk_size)
    from_noise = jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, state, n))
    return lambda key: from_noise(sample_noise(spec, key, dtype))


def _kernel(problem, estimator, params, state, key, num_full, remainder, *, chunk_size: int):
    """Power sums of ``num_full`` full chunks and one of ``remainder`` estimates, one PowerSums per params leaf.

    The estimate's leaves are laid side by side as one ``(chunk, coordinates)`` array (transposed when there are
    few coordinates: :func:`varbench.engine.columns.samples_axis`) and accumulated together:
    one reduction, one non-finite check and one pilot per chunk instead of one per leaf (a problem with six
    parameter arrays compiled six copies of the accumulation; fewer, larger fusions compile faster and run
    faster). An estimate with a non-finite coordinate in any leaf is excluded from every leaf, as one gradient.
    """
    draw = _chunk_estimator(problem, estimator, params, state, chunk_size)
    num_chunks = num_full + (remainder > 0).astype(num_full.dtype)
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves)

    fallback = jax.default_backend() == "cpu"  # see stats.accumulate: masks are cheap on accelerators
    coordinates = columns.count(params)
    axis = columns.samples_axis(coordinates, jax.default_backend())

    def body(i, acc):
        flat = columns.as_columns(draw(jax.random.fold_in(key, i)), chunk_size, dtype, axis)
        valid = jnp.arange(chunk_size) < jnp.where(i < num_full, chunk_size, remainder)
        return stats.accumulate(acc, flat, valid, i == 0, i < num_full, fallback=fallback, axis=axis)

    sums = jax.lax.fori_loop(0, num_chunks, body, stats.empty_power_sums(jnp.zeros(coordinates, dtype)))
    return jax.tree_util.tree_map(
        lambda shift, scale, hi, lo: stats.PowerSums(shift, scale, hi, lo, sums.nonfinite),
        *(columns.split_columns(field, params) for field in (sums.shift, sums.scale, sums.hi, sums.lo)))


_jitted_kernel = jax.jit(_kernel, static_argnames=("chunk_size",))


def _batched_kernel(problems, estimator, params, states, keys, num_full, remainder, *, chunk_size: int):
    """:func:`_kernel` vmapped over grid points that differ only in values (option leaves, params, keys)."""
    def one(problem, p, state, key):
        return _kernel(problem, estimator, p, state, key, num_full, remainder, chunk_size=chunk_size)
    return jax.vmap(one)(problems, params, states, keys)


_jitted_batched_kernel = jax.jit(_batched_kernel, static_argnames=("chunk_size",))


@compile_tier.jit
def _init_state(problem, estimator, params, key):
    return estimator.init(problem, params, key)


@compile_tier.jit
def _warm_up(problem, estimator, params, state, key, steps):
    """``steps`` updates of a stateful estimator at fixed params; ``steps`` is traced (no recompile)."""
    def body(i, s):
        return estimator.update(problem, params, s, jax.random.fold_in(key, i))
    return jax.lax.fori_loop(0, steps, body, state)


def prepare_state(problem, estimator, params, key, warmup: int, state: Any = None) -> Any:
    """State of ``estimator`` (``state``, or a fresh ``init``) after ``warmup`` updates at ``params`` (then frozen
    while measuring)."""
    key_init, key_warmup = jax.random.split(key)
    if state is None:
        state = _init_state(problem, estimator, params, key_init)
    else:
        state = check_state(problem, estimator, params, state)
    if warmup and estimator.stateful:
        state = _warm_up(problem, estimator, params, state, key_warmup, np.int32(warmup))
    return state


def check_state(problem, estimator, params, state: Any) -> Any:
    """A caller's ``state`` as arrays shaped like ``estimator.init``'s, or a one-line error.

    The state must have the structure, shapes and kinds of numbers that ``init`` returns (so the kernel compiled
    for it is reused); a stateless estimator's is the empty ``()``, so a real state given to it (which it would
    silently ignore) is refused.
    """
    expected = jax.eval_shape(estimator.init, problem, params, jax.random.key(0))
    want, got = jax.tree_util.tree_structure(expected), jax.tree_util.tree_structure(state)
    shape_of = lambda x: tuple(np.shape(x))
    if want != got and not estimator.stateful:
        raise VarbenchError(f"estimator {estimator.name!r} is stateless and takes no state; pass state=None "
                            "(a state is for stateful estimators such as relax or nvil)")
    if want != got:
        layout = jax.tree_util.tree_map(shape_of, expected)
        raise VarbenchError(f"state of estimator {estimator.name!r} must have the structure its init returns "
                            f"(shapes {_short(layout)}); got {_short(state)}")

    def leaf(path, e, x):
        same_dtype = getattr(x, "dtype", None) == e.dtype  # also admits typed PRNG keys, which have no NumPy kind
        if shape_of(x) != e.shape or not (same_dtype or np.asarray(x).dtype.kind in "biuf"):
            raise VarbenchError(f"state of estimator {estimator.name!r}: leaf {jax.tree_util.keystr(path)} "
                                f"must be a real array of shape {e.shape}; got {_short(x)}")
        return jnp.asarray(x, e.dtype)
    return jax.tree_util.tree_map_with_path(leaf, expected, state)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _device_memory_bytes() -> tuple[int, str] | None:
    """Memory of the first local device (its allocator limit) or, on CPU, of the host; None if unknown."""
    device = jax.local_devices()[0]
    try:
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:  # noqa: BLE001 - some backends do not report memory; the run-time check remains
        limit = None
    if limit:
        return int(limit), f"{device.platform.upper()} device"
    host = host_memory_bytes()
    return (host, "host") if host is not None else None


def check_chunk_memory(chunk_size: int, per_estimate: int) -> None:
    """Refuse a chunk whose noise and estimates alone (``per_estimate`` bytes each, a lower bound of the kernel's
    memory) exceed the device's memory.

    Without this the kernel fails only when XLA allocates (RESOURCE_EXHAUSTED), or on CPU the host starts
    swapping; the message says how large a chunk fits.
    """
    memory = _device_memory_bytes()
    if memory is not None and chunk_size * per_estimate > memory[0]:
        raise OutOfMemoryError(_memory_advice(chunk_size, per_estimate, memory))


def _memory_advice(chunk_size: int, per_estimate: int, memory: tuple[int, str] | None) -> str:
    gib = 2.0 ** 30
    need = f"at least {chunk_size * per_estimate / gib:.3g} GiB ({per_estimate} bytes of noise and gradient each)"
    if memory is None:
        return f"out of memory: a chunk of {chunk_size} estimates needs {need}; lower chunk_size (--chunk-size)"
    available, where = memory
    # Half the memory (XLA needs room for temporaries too), and at most half the chunk that just failed.
    fits = min(available // (2 * per_estimate), chunk_size // 2)
    lower = (f"lower chunk_size (--chunk-size) to {fits} or less" if fits >= 1 else
             "even one estimate does not fit: lower the problem's size (such as dim, data_subset or latent)")
    return f"out of memory: a chunk of {chunk_size} estimates needs {need}, the {where} has {available / gib:.3g} " \
           f"GiB; {lower}"


@contextlib.contextmanager
def _memory_guard(chunk_size: int | None, per_estimate: int = 0):
    """Turn an allocation that fails while compiling or running a kernel into one line saying what to lower."""
    try:
        yield
    except (MemoryError, jax.errors.JaxRuntimeError) as err:
        if isinstance(err, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" not in str(err):
            raise
        memory = _device_memory_bytes()
        if chunk_size is None:  # exact mode evaluates its quadrature grid in fixed batches
            raise OutOfMemoryError(f"out of memory in method=exact on the {memory[1] if memory else 'device'}; use "
                                   "method=mc, or a smaller problem") from None
        raise OutOfMemoryError(_memory_advice(chunk_size, per_estimate, memory)) from None


def _signature(jitted: Any, args: tuple, chunk_size: int) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(args)
    return (id(jitted), treedef, tuple(jax.typeof(x) for x in leaves), chunk_size, jax.default_backend())


def _compile(jitted: Any, args: tuple, chunk_size: int, work: int) -> tuple[Any, float]:
    """The kernel compiled for a run of ``work`` scalar evaluations (its tier: :mod:`varbench.engine.compile_tier`)
    and the seconds spent compiling it (0 if cached)."""
    return compile_tier.compile_cached(_COMPILED, _signature(jitted, args, chunk_size),
                                       lambda: jitted.lower(*args, chunk_size=chunk_size), work)


def compiled_kernel(problem, estimator, params, state, key, chunk_size: int,
                    work: int = compile_tier.OPTIMIZE_FROM) -> tuple[Any, float]:
    """The compiled kernel for these argument structures and a run of ``work`` scalar evaluations (by default one
    long enough for the fully optimized kernel), and the seconds spent compiling it (0 if cached)."""
    return _compile(_jitted_kernel, (problem, estimator, params, state, key, np.int32(0), np.int32(0)), chunk_size,
                    work)


def compile_count() -> int:
    """Number of kernels compiled so far in this process (Monte Carlo kernels and exact-mode kernels)."""
    return _COMPILED.compiled + exact.compile_count()


def clear_cache() -> None:
    """Forget compiled kernels (used by tests and benchmarks of compilation)."""
    _COMPILED.reset()
    exact.clear_cache()
    sharding.clear_cache()


def _check_samples(num_samples: Any) -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise VarbenchError(f"num_samples must be a positive integer; got {num_samples!r}")
    if num_samples > MAX_SAMPLES:
        raise VarbenchError(f"num_samples must be at most {MAX_SAMPLES}; got {num_samples}")
    return int(num_samples)


def run_moments(problem, estimator, params, state, key, num_samples: int, chunk_size: int, *,
                batched: bool = False, scalars: int = 1) -> tuple[Any, float, float]:
    """Stream ``num_samples`` estimates; returns (moments pytree on host, compile seconds, run seconds).
    ``scalars`` (noise scalars + gradient coordinates of one estimate) sizes the run for its compile tier.

    With ``batched=True`` every argument but ``estimator`` carries a leading grid axis and one kernel runs all
    grid points (the moments then carry that axis too).
    """
    num_full, remainder = divmod(num_samples, chunk_size)
    if num_full >= 2 ** 31:
        raise VarbenchError("num_samples / chunk_size must be below 2^31; use a larger chunk_size")
    if not batched and sharding.num_devices() > 1:  # samples spread over every local device, merged exactly
        return sharding.run_moments_sharded(_kernel, problem, estimator, params, state, key, num_samples, chunk_size,
                                            work=num_samples * scalars)
    args = (problem, estimator, params, state, key, np.int32(num_full), np.int32(remainder))
    points = int(np.shape(key)[0]) if batched else 1  # a batched kernel runs num_samples at every grid point
    compiled, compile_seconds = _compile(_jitted_batched_kernel if batched else _jitted_kernel,
                                         (problem, estimator, params, state, key, np.int32(0), np.int32(0)),
                                         chunk_size, num_samples * points * scalars)
    start = time.perf_counter()
    out = jax.device_get(jax.block_until_ready(compiled(*args)))
    seconds = time.perf_counter() - start
    to_moments = stats.to_moments
    if batched:  # one set of power sums per grid point, on a leading axis
        to_moments = lambda ps: _stack_moments([stats.to_moments(stats.PowerSums(*(f[i] for f in ps)))
                                                for i in range(np.shape(ps.nonfinite)[0])])
    return jax.tree_util.tree_map(to_moments, out, is_leaf=lambda x: isinstance(x, stats.PowerSums)), \
        compile_seconds, seconds


def _stack_moments(parts: list) -> stats.Moments:
    return stats.Moments(*(np.stack(f) for f in zip(*parts)))


def _check_common(method: str, seed: Any, warmup: Any) -> None:
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    check_seed(seed)
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or not 0 <= warmup <= MAX_WARMUP:
        raise VarbenchError(f"warmup must be a non-negative integer number of steps; got {warmup!r}")


def _check_objects(problem: Any, estimator: Any) -> None:
    if not isinstance(problem, Problem) or not isinstance(estimator, Estimator):
        raise VarbenchError("the engine measures varbench.Problem and varbench.Estimator objects; got "
                            f"{type(problem).__name__} and {type(estimator).__name__} (varbench.measure also takes "
                            "spec strings)")


def _check_chunk_size(chunk_size: Any) -> None:
    if (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer))
            or not 0 < chunk_size <= MAX_CHUNK_SIZE):
        raise VarbenchError(f"chunk_size must be a positive integer up to {MAX_CHUNK_SIZE}; got {chunk_size!r}")


def _as_kernel_args(problem: Any, estimator: Any, params_np: Mapping[str, np.ndarray]) -> tuple[Any, Any, dict]:
    return (jax.tree_util.tree_map(_as_leaf_array, problem), jax.tree_util.tree_map(_as_leaf_array, estimator),
            {k: jnp.asarray(v) for k, v in params_np.items()})


class _Stats(NamedTuple):
    grad_mean: dict
    grad_se: dict
    variance: dict
    variance_ci: dict


def _mc_stats(moments: Mapping[str, stats.Moments], estimator: Any, num_samples: int) -> _Stats:
    """Per-parameter statistics from streamed moments; non-finite estimates or overflowing moments are errors."""
    bad = {k: int(np.sum(m.nonfinite)) for k, m in moments.items()}
    if any(bad.values()):
        worst = max(bad, key=bad.get)
        raise NonFiniteEstimateError(
            f"estimator {spec_of(estimator)!r} produced NaN/inf in {bad[worst]} of {num_samples} estimates of "
            f"{worst!r} at these params; valid params keep the problem's costs finite")
    summaries = {k: stats.summarize(m) for k, m in moments.items()}
    # The power sums are scaled to stay far from float32's range; if one overflowed anyway (estimates spanning
    # ~1e9 times their first chunk's spread), the variance interval (which needs the fourth moment) would be blank.
    overflow = [k for k, sm in summaries.items()
                if not all(np.all(np.isfinite(x)) for x in (sm.mean, sm.variance, sm.variance_lo, sm.variance_hi))]
    if overflow:
        raise NonFiniteEstimateError(
            f"estimator {spec_of(estimator)!r}: the moments of {overflow[0]!r} overflowed float32 (estimates too "
            "large or too heavy-tailed at these params); valid params keep the estimates' fourth powers finite")
    return _Stats({k: sm.mean for k, sm in summaries.items()}, {k: sm.se for k, sm in summaries.items()},
                  {k: sm.variance for k, sm in summaries.items()},
                  {k: np.stack([sm.variance_lo, sm.variance_hi], -1) for k, sm in summaries.items()})


def _check_exact_finite(moments: Any, estimator: Any) -> None:
    """Exact mode's moments must be finite, as Monte Carlo mode's are (:func:`_mc_stats`): an estimate whose value
    or square overflows float64 somewhere on the quadrature grid has no reportable mean or variance."""
    for what, tree in (("mean", moments.mean), ("variance", moments.variance)):
        bad = [k for k, v in tree.items() if not np.all(np.isfinite(v))]
        if bad:
            raise NonFiniteEstimateError(
                f"estimator {spec_of(estimator)!r}: the exact {what} of its estimate of {bad[0]!r} is not finite in "
                "float64 (estimates overflow at these params); valid params keep the estimates' squares finite")


def _make_result(problem: Any, estimator: Any, params_np: dict, seed: int, method: str, count: int,
                 st: _Stats, compile_seconds: float, run_seconds: float) -> Result:
    """Assemble a :class:`Result`: exact answers, bias, z-scores, SNR and MSE from the per-parameter stats."""
    grad_mean, grad_se, variance, variance_ci = st
    grad_exact = objective_exact = bias = bias_z = mse = None
    if problem.has_exact_objective:
        objective_exact, grad_exact = exact_objective_and_gradient(problem, params_np)
        if not (np.isfinite(objective_exact) and all(np.all(np.isfinite(g)) for g in grad_exact.values())):
            raise NonFiniteEstimateError(
                f"the exact objective or gradient of problem {spec_of(problem)!r} is not finite in float64 at these "
                "params; valid params keep the problem's costs finite")
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
        backend=jax.default_backend(), dtype=str(next(iter(params_np.values())).dtype),
        version=_version())


def measure(problem: Any, estimator: Any, *, params: Mapping[str, Any] | None = None,
            num_samples: int | None = None, seed: int = 0, method: str = "mc",
            chunk_size: int | None = None, warmup: int = 0, state: Any = None, prng: str = DEFAULT_PRNG) -> Result:
    """Measure the bias, variance and cost of one gradient estimator on one problem.

    Args:
      problem: a spec string such as ``"gaussian:cost=square,k=0"`` or a :class:`varbench.problems.Problem`.
      estimator: a spec string such as ``"score_function:baseline=mean,samples=4"`` or an
        :class:`varbench.estimators.Estimator`.
      params: the point θ at which gradients are measured, ``{name: value}``; scalars broadcast to the
        parameter's shape; missing names take the problem's defaults.
      num_samples: number of independent estimates (``method="mc"``).
      seed: the PRNG seed; keys are split from it, never reused.
      method: ``"mc"`` (Monte Carlo, streaming) or ``"exact"`` (quadrature over the estimator's noise).
      chunk_size: estimates per vmapped chunk; by default chosen from the problem's size
        (:func:`auto_chunk_size`).
      warmup: updates of a stateful estimator's state (running baselines, learned control variates) at
        ``params`` before measuring; the state is then frozen, so the variance is that of a fixed estimator.
      state: an explicit state to start from instead of the estimator's ``init`` (e.g. a control variate trained
        along an optimisation, see :mod:`varbench.trace`); it must have the structure ``init`` returns, so the
        compiled kernel is reused.
      prng: the random number generator, ``"threefry"`` (default, statistically sound), ``"rbg"`` or
        ``"unsafe_rbg"`` (see :mod:`varbench.engine.prng`).

    Returns:
      A :class:`varbench.Result`.

    Example:
      >>> from varbench.estimators import Pathwise
      >>> from varbench.problems import Gaussian
      >>> res = measure(Gaussian(cost_name="square", k=0.0), Pathwise(), params={"mean": 1.0}, num_samples=10**5)
      >>> round(float(res.variance["mean"][0]))
      4
    """
    _check_objects(problem, estimator)
    _check_common(method, seed, warmup)
    check_prng(prng)
    estimator.check_applies(problem)
    # Exact mode works in float64 throughout; Monte Carlo in float32 (the harness's default dtype).
    params_np = prepare_params(problem, params, np.float64 if method == "exact" else np.float32)
    problem_arg, estimator_arg, params_arg = _as_kernel_args(problem, estimator, params_np)
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    if method == "mc":  # every check before the first kernel runs, so bad input fails fast
        num_samples = _check_samples(num_samples)
        noise = noise_dimension(estimator.noise(problem_arg, params_arg))
        coordinates = columns.count(params_np)
        if chunk_size is None:
            chunk_size = auto_chunk_size(noise, coordinates)
        _check_chunk_size(chunk_size)
        scalars = noise + coordinates  # noise and gradient of one estimate
        per_estimate = 4 * scalars  # in float32
        check_chunk_memory(int(chunk_size), per_estimate)
        with _memory_guard(int(chunk_size), per_estimate):
            state = prepare_state(problem_arg, estimator_arg, params_arg, key_state, int(warmup), state)
            moments, compile_seconds, run_seconds = run_moments(
                problem_arg, estimator_arg, params_arg, state, key_measure, num_samples, int(chunk_size),
                scalars=scalars)
        st, count = _mc_stats(moments, estimator, num_samples), num_samples
    else:
        state = prepare_state(problem_arg, estimator_arg, params_arg, key_state, int(warmup), state)
        start = time.perf_counter()
        # Overflow inside the quadrature is detected below (non-finite moments), not reported as NumPy warnings.
        with _memory_guard(None), np.errstate(all="ignore"):
            moments = exact_moments(problem, estimator, params_np, state)
        compile_seconds = moments.compile_seconds
        run_seconds = time.perf_counter() - start - compile_seconds
        _check_exact_finite(moments, estimator)
        st = _Stats(moments.mean, {k: np.zeros_like(v) for k, v in moments.variance.items()}, moments.variance,
                    {k: np.stack([v, v], -1) for k, v in moments.variance.items()})
        count = moments.num_points
    return _make_result(problem, estimator, params_np, seed, method, count, st, compile_seconds, run_seconds)


def measure_batch(problems: Sequence[Any], estimator: Any, *, params: Sequence[Mapping[str, Any] | None],
                  num_samples: int, seed: int = 0, chunk_size: int | None = None, warmup: int = 0,
                  prng: str = DEFAULT_PRNG) -> list[Result]:
    """Monte Carlo measurements at many grid points in ONE compiled kernel (vmapped over the points).

    Grid points may differ only in values: numeric option leaves (such as ``k``) and params, not in structure
    (static options, shapes). Point ``i`` uses keys folded from ``seed`` and ``i``, so points are independent.
    ``compile_seconds`` and ``run_seconds`` of each result are the batch's totals divided by the number of
    points (so sums over points are the true totals).

    Example:
      >>> from varbench.estimators import Pathwise
      >>> from varbench.problems import Gaussian
      >>> grid = [Gaussian(cost_name="cos", k=k) for k in (0.5, 1.0, 2.0)]
      >>> results = measure_batch(grid, Pathwise(), params=[None] * 3, num_samples=10_000)
      >>> len(results)
      3
    """
    problems = list(problems)
    for p in problems:
        _check_objects(p, estimator)
    if not problems or len(params) != len(problems):
        raise VarbenchError("measure_batch needs one params entry (or None) per problem, and at least one point")
    _check_common("mc", seed, warmup)
    check_prng(prng)
    num_samples = _check_samples(num_samples)
    structures = {jax.tree_util.tree_structure(p) for p in problems}
    if len(structures) != 1:
        raise VarbenchError("measure_batch grid points must differ only in option values, not in static options "
                            f"(got {len(structures)} structures); group them by static options first")
    for p in problems:
        estimator.check_applies(p)
    params_np = [prepare_params(p, q) for p, q in zip(problems, params)]
    converted = [_as_kernel_args(p, estimator, q) for p, q in zip(problems, params_np)]
    estimator_arg = converted[0][1]
    stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])
    problem_batch = jax.tree_util.tree_map(stack, *[c[0] for c in converted])
    params_batch = jax.tree_util.tree_map(stack, *[c[2] for c in converted])
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    n = len(problems)
    point_keys = lambda key: jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    states = jax.vmap(lambda pr, pa, k: prepare_state(pr, estimator_arg, pa, k, int(warmup)))(
        problem_batch, params_batch, point_keys(key_state))
    noise = noise_dimension(estimator.noise(converted[0][0], converted[0][2]))
    coordinates = columns.count(params_np[0])
    if chunk_size is None:
        chunk_size = auto_chunk_size(n * noise, n * coordinates)
    _check_chunk_size(chunk_size)
    scalars = noise + coordinates  # noise and gradient of one estimate at one grid point
    per_estimate = 4 * n * scalars  # in float32, at every grid point
    check_chunk_memory(int(chunk_size), per_estimate)
    with _memory_guard(int(chunk_size), per_estimate):
        moments, compile_seconds, run_seconds = run_moments(
            problem_batch, estimator_arg, params_batch, states, point_keys(key_measure), num_samples,
            int(chunk_size), batched=True, scalars=scalars)
    results = []
    for i, (problem, p_np) in enumerate(zip(problems, params_np)):
        point = jax.tree_util.tree_map(lambda x: x[i], moments)
        st = _mc_stats(point, estimator, num_samples)
        results.append(_make_result(problem, estimator, p_np, seed, "mc", num_samples, st, compile_seconds / n,
                                    run_seconds / n))
    return results


@jax.jit
def _objective_value_and_grad(problem: Any, params: Any) -> tuple[jax.Array, Any]:
    return jax.value_and_grad(problem.objective_exact)(params)


def exact_objective_and_gradient(problem: Any, params: Mapping[str, np.ndarray]) -> tuple[float, dict]:
    """The closed-form objective and its autodiff gradient, computed in float64."""
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        problem64 = jax.tree_util.tree_map(to_float64, problem)
        value, grad = _objective_value_and_grad(problem64, p64)
        return float(value), {k: np.asarray(v, np.float64) for k, v in grad.items()}


def _version() -> str:
    from varbench import __version__
    return __version__

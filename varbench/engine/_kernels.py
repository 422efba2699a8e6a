"""The compiled Monte Carlo kernels, their cache, and a run of one.

The kernel draws a chunk's noise in one call, vmaps the estimator over it and adds the chunk to running power sums
of the shifted, scaled estimates (:class:`varbench.engine.stats.PowerSums`) inside an on-device ``fori_loop``
whose trip count is a runtime argument; central moments are formed once, in float64, on the host. Memory therefore
depends on the chunk size, never on the number of samples, and changing params, option values (pytree leaves), the
seed or the sample count reuses the compiled executable. A kernel takes the :class:`Subject` measured as one
argument (a pytree: its leaves are the runtime values, its structure and static options select the executable).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, batched_noise
from varbench.core.noise import sample_noise
from varbench.core.problem import Problem
from varbench.engine import columns, compile_tier, exported_kernels, sharding, stats
from varbench.engine.kernel_cache import KernelCache
from varbench.engine.subject import Subject

COMPILED = KernelCache()


def as_leaf_array(x: Any) -> Any:
    """Python and NumPy scalars as fixed-dtype NumPy arrays, so kernel signatures (and caches) are stable.

    Args:
      x: a pytree leaf of a problem or an estimator.

    Returns:
      ``x`` itself if it is a JAX array or a NumPy array of a 32-bit (or non-numeric) dtype; else a NumPy array in
      float32 / int32 (float64 / int64 with 64-bit types on).
    """
    if isinstance(x, jax.Array) or isinstance(x, np.ndarray) and x.dtype not in (np.float64, np.int64):
        return x
    a = np.asarray(x)
    if a.dtype.kind == "f":
        return a.astype(np.float64 if jax.config.jax_enable_x64 else np.float32)
    if a.dtype.kind in "iu":
        return a.astype(np.int64 if jax.config.jax_enable_x64 else np.int32)
    return a


def kernel_subject(problem: Problem, estimator: Estimator, params: Mapping[str, np.ndarray]) -> Subject:
    """The :class:`Subject` a kernel is called with: the option leaves as fixed-dtype arrays
    (:func:`as_leaf_array`), the params as device arrays, no state yet.

    Args:
      problem: the problem measured.
      estimator: the estimator measured.
      params: ``{name: array}`` as :func:`varbench.engine.params.prepare_params` returns.

    Returns:
      The kernel's subject (``state=()``; prepare it with :func:`varbench.engine.harness.prepare_state`).
    """
    return Subject(jax.tree_util.tree_map(as_leaf_array, problem), jax.tree_util.tree_map(as_leaf_array, estimator),
                   {k: jnp.asarray(v) for k, v in params.items()})


def chunk_estimator(subject: Subject, chunk_size: int, samples_last: bool = False, materialize_noise: bool = False
                    ) -> Callable[[jax.Array], Any]:
    """A function ``key -> estimates of one chunk`` (every leaf gets a leading axis of ``chunk_size``).

    The chunk's noise is drawn in one call from one key (one bulk draw per noise block, as
    ``jax.random.normal(key, (chunk, d))`` does), not one key split per estimate: the per-estimate splits cost as
    much as the draws themselves at small dims. An estimator that overrides ``estimate`` (drawing its own noise)
    keeps one key per estimate.

    ``samples_last`` vmaps over the LAST axis of the noise (moved there after the draw: the same values) and puts
    the chunk axis last on every leaf of the estimates, for the ``(coordinates, chunk)`` layout
    (:func:`varbench.engine.columns.samples_axis`): the estimator's own reductions (a cost summed over the
    coordinates) then run along contiguous memory and the estimates need no transpose. Measured on 2 CPU cores,
    same values: 1.0–1.3× (gaussian dim 1 score function 1.29×, lgssm score function 1.14×; benchmarks/RESULTS.md).

    ``materialize_noise`` writes the chunk's noise out once (``lax.optimization_barrier``) before the estimator
    reads it. Left to itself, XLA's GPU back end split the Monte Carlo kernel's normal draw into a fusion with three
    chunk-sized outputs (the uniform value, the log term and one branch of the inverse error function) that the
    estimates' fusion read back (an H200, JAX 0.11.2): one array is a third of that memory traffic. Measured in the
    kernel's loop: -5 % to +6 % (benchmarks/RESULTS.md), within the runs' spread.

    Args:
      subject: what is measured (traced values inside a kernel).
      chunk_size: estimates per chunk.
      samples_last: put the chunk axis last instead of first (on the noise and the estimates).
      materialize_noise: write the drawn noise out before the estimator reads it (on accelerators).

    Returns:
      The function drawing a chunk of estimates from one key.
    """
    problem, estimator, params, state = subject
    axis = -1 if samples_last else 0
    if type(estimator).estimate is not Estimator.estimate:
        one = lambda k: estimator.estimate(problem, params, state, k)
        return lambda key: jax.vmap(one, out_axes=axis)(jax.random.split(key, chunk_size))
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    spec = batched_noise(estimator.noise(problem, params), chunk_size)
    from_noise = jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, state, n), in_axes=axis,
                          out_axes=axis)
    written = jax.lax.optimization_barrier if materialize_noise else (lambda noise: noise)
    if not samples_last:
        return lambda key: from_noise(written(sample_noise(spec, key, dtype)))
    return lambda key: from_noise(jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, -1),
                                                         written(sample_noise(spec, key, dtype))))


def streams_on_host() -> bool:
    """Whether the kernels run on the CPU, where a ``lax.cond`` costs nothing: the first-chunk pilot then stays
    inside the loop under a cond (one traced copy of the estimator; adding the first chunk before the loop traces
    two) and a chunk is summed unmasked, with a masked pass only for a non-finite chunk
    (``stats.accumulate(fallback=True)``), its four power sums taken over 32-sample blocks in one pass first
    (``stats.SUM_BLOCK``: 1.09-1.19x the kernel's rate). On an
    accelerator every cond makes the device wait for its predicate on the host, so the first chunk is added before
    the loop, each chunk is summed once, masked, and the drawn noise is written out once before the estimator reads
    it (``chunk_estimator(materialize_noise=True)``)."""
    return jax.default_backend() == "cpu"


def _kernel(subject: Subject, key: jax.Array, num_full: jax.Array, remainder: jax.Array, *, chunk_size: int) -> Any:
    """Power sums of ``num_full`` full chunks and one of ``remainder`` estimates, one PowerSums per params leaf.

    The estimate's leaves are laid side by side as one ``(chunk, coordinates)`` array (transposed when there are
    few coordinates: :func:`varbench.engine.columns.samples_axis`) and accumulated together:
    one reduction, one non-finite check and one pilot per chunk instead of one per leaf (a problem with six
    parameter arrays compiled six copies of the accumulation; fewer, larger fusions compile faster and run
    faster). An estimate with a non-finite coordinate in any leaf is excluded from every leaf, as one gradient.
    """
    params = subject.params
    num_chunks = num_full + (remainder > 0).astype(num_full.dtype)
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves)

    on_host = streams_on_host()
    coordinates = columns.count(params)
    axis = columns.samples_axis(coordinates, jax.default_backend())
    draw = chunk_estimator(subject, chunk_size, samples_last=axis == -1, materialize_noise=not on_host)

    def add_chunk(i: jax.Array, acc: stats.PowerSums, first: Any) -> stats.PowerSums:
        flat = columns.as_columns(draw(jax.random.fold_in(key, i)), chunk_size, dtype, axis, samples_last=axis == -1)
        valid = jnp.arange(chunk_size) < jnp.where(i < num_full, chunk_size, remainder)
        return stats.accumulate(acc, flat, valid, first, i < num_full, fallback=on_host, axis=axis,
                                block=stats.SUM_BLOCK if on_host else 0)

    empty = stats.empty_power_sums(jnp.zeros(coordinates, dtype))
    if on_host:  # the pilot under a cond on the loop index: one copy of the estimator to compile
        sums = jax.lax.fori_loop(0, num_chunks, lambda i, acc: add_chunk(i, acc, i == 0), empty)
    else:  # the first chunk added before the loop (its pilot chosen when tracing): no wait for the host per chunk
        sums = jax.lax.fori_loop(1, num_chunks, lambda i, acc: add_chunk(i, acc, False),
                                 add_chunk(jnp.int32(0), empty, True))
    return jax.tree_util.tree_map(
        lambda shift, scale, hi, lo: stats.PowerSums(shift, scale, hi, lo, sums.nonfinite),
        *(columns.split_columns(field, params) for field in (sums.shift, sums.scale, sums.hi, sums.lo)))


_jitted_kernel = jax.jit(_kernel, static_argnames=("chunk_size",))


def _batched_kernel(subjects: Subject, keys: jax.Array, num_full: jax.Array, remainder: jax.Array, *,
                    chunk_size: int) -> Any:
    """:func:`_kernel` vmapped over grid points that differ only in values (option leaves, params, keys): every
    field of ``subjects`` but the estimator carries a leading grid axis."""
    def one(problem: Problem, params: Any, state: Any, key: jax.Array) -> Any:
        return _kernel(Subject(problem, subjects.estimator, params, state), key, num_full, remainder,
                       chunk_size=chunk_size)
    return jax.vmap(one)(subjects.problem, subjects.params, subjects.state, keys)


_jitted_batched_kernel = jax.jit(_batched_kernel, static_argnames=("chunk_size",))


#: The kernels by name, for :mod:`varbench.engine.exported_kernels`.
_KERNELS = {"mc_kernel": _jitted_kernel, "mc_batched_kernel": _jitted_batched_kernel}


def _compile(name: str, args: tuple, chunk_size: int, work: int) -> tuple[Any, float]:
    """The kernel ``name`` (of :data:`_KERNELS`) compiled for a run of ``work`` scalar evaluations (its tier:
    :mod:`varbench.engine.compile_tier`) and the seconds spent compiling it (0 if cached). Lowered from its kept
    exported form where there is one (:mod:`varbench.engine.exported_kernels`), else traced."""
    # the result: one PowerSums per params leaf (grid axes only change shapes), known without tracing
    out_tree = jax.tree_util.tree_structure(jax.tree_util.tree_map(lambda _: stats.PowerSums(*[0] * 5),
                                                                   args[0].params))
    return exported_kernels.compile_cached(COMPILED, name, _KERNELS[name], args, {"chunk_size": chunk_size}, out_tree,
                                           work)


def compiled_kernel(subject: Subject, key: jax.Array, chunk_size: int,
                    work: int = compile_tier.OPTIMIZE_FROM) -> tuple[Any, float]:
    """The compiled Monte Carlo kernel for these argument structures.

    Args:
      subject: what is measured, as :func:`kernel_subject` prepares it (with its state).
      key: the measurement's PRNG key.
      chunk_size: estimates per chunk.
      work: scalar evaluations of the run, which pick its compile tier (by default one long enough for the fully
        optimized kernel).

    Returns:
      ``(executable, compile seconds)``; the seconds are 0 if the executable was cached. The executable takes
      ``(subject, key, num_full, remainder)`` (int32 chunk counts) and returns power sums per params leaf.
    """
    return _compile("mc_kernel", (subject, key, np.int32(0), np.int32(0)), chunk_size, work)


def run_moments(subject: Subject, key: jax.Array, num_samples: int, chunk_size: int, *, batched: bool = False,
                scalars: int = 1) -> tuple[Any, float, float]:
    """Stream ``num_samples`` estimates through the compiled kernel (over every local device when there are several).

    Args:
      subject: what is measured, as :func:`kernel_subject` prepares it (with its state). With ``batched=True``
        every field but the estimator carries a leading grid axis, as does ``key``, and one kernel runs all grid
        points.
      key: the measurement's PRNG key (one per grid point when batched).
      num_samples: estimates streamed (at every grid point).
      chunk_size: estimates per chunk.
      batched: whether ``subject`` and ``key`` carry a grid axis.
      scalars: noise scalars + gradient coordinates of one estimate; sizes the run for its compile tier.

    Returns:
      ``(moments, compile seconds, run seconds)``: a pytree like the params of
      :class:`varbench.engine.stats.Moments` on the host (with the grid axis when batched).
    """
    num_full, remainder = divmod(num_samples, chunk_size)
    if num_full >= 2 ** 31:
        raise VarbenchError("num_samples / chunk_size must be below 2^31; use a larger chunk_size")
    if not batched and sharding.num_devices() > 1:  # samples spread over every local device, merged exactly
        return sharding.run_moments_sharded(_kernel, subject, key, num_samples, chunk_size,
                                            work=num_samples * scalars)
    points = int(np.shape(key)[0]) if batched else 1  # a batched kernel runs num_samples at every grid point
    compiled, compile_seconds = _compile("mc_batched_kernel" if batched else "mc_kernel",
                                         (subject, key, np.int32(0), np.int32(0)), chunk_size,
                                         num_samples * points * scalars)
    start = time.perf_counter()
    out = jax.device_get(jax.block_until_ready(compiled(subject, key, np.int32(num_full), np.int32(remainder))))
    seconds = time.perf_counter() - start
    to_moments = _stacked_moments if batched else stats.to_moments
    return jax.tree_util.tree_map(to_moments, out, is_leaf=lambda x: isinstance(x, stats.PowerSums)), \
        compile_seconds, seconds


def _stacked_moments(sums: stats.PowerSums) -> stats.Moments:
    """Moments of power sums that carry a leading grid axis, one set per grid point, stacked on that axis."""
    parts = [stats.to_moments(stats.PowerSums(*(f[i] for f in sums))) for i in range(np.shape(sums.nonfinite)[0])]
    return stats.Moments(*(np.stack(f) for f in zip(*parts)))

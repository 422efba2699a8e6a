"""Spread Monte Carlo samples over every local device and merge their moments exactly.

With one device the harness runs its kernel directly. With several, :func:`run_moments_sharded` builds a
one-axis :class:`jax.sharding.Mesh` over ``jax.local_devices()`` and ``shard_map``s the same streaming kernel over
it: device ``d`` gets its own key (split from the measurement key, so streams never overlap) and its share of the
samples (counts differ by at most one), streams them in chunks exactly as on one device, and returns its moments.
The per-device power sums become float64 moments on the host, merged with the exact pairwise update
:func:`varbench.engine.stats.merge`.
Memory per device is still one chunk; the sample count, seed and params stay runtime arguments, so a new value of
any of them reuses the compiled executable.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from varbench.engine import compile_tier, kernel_cache, stats
from varbench.engine.subject import Subject

AXIS = "samples"
_COMPILED = kernel_cache.KernelCache()


def num_devices() -> int:
    """Devices the harness spreads samples over: every local device of the default backend.

    Returns:
      Their number.
    """
    return jax.local_device_count()


def split_samples(num_samples: int, devices: int, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each device's share of the samples, split as evenly as possible (counts differ by at most one).

    Args:
      num_samples: estimates in all.
      devices: devices sharing them.
      chunk_size: estimates per chunk.

    Returns:
      ``(full chunks, remainder)``, int32 arrays of shape ``(devices,)``.
    """
    share = np.full(devices, num_samples // devices, np.int64)
    share[: num_samples % devices] += 1
    num_full, remainder = np.divmod(share, chunk_size)
    return num_full.astype(np.int32), remainder.astype(np.int32)


def _sharded(kernel: Callable, mesh: Mesh, chunk_size: int) -> Callable:
    replicated, split = PartitionSpec(), PartitionSpec(AXIS)

    def per_device(subject: Subject, keys: jax.Array, num_full: jax.Array, remainder: jax.Array) -> Any:
        moments = kernel(subject, keys[0], num_full[0], remainder[0], chunk_size=chunk_size)
        return jax.tree_util.tree_map(lambda x: x[None], moments)  # a leading device axis to concatenate on

    # check_vma=False: the kernel's loop carry starts replicated and becomes per-device; that is intended.
    return jax.jit(jax.shard_map(per_device, mesh=mesh, out_specs=split, check_vma=False,
                                 in_specs=(replicated, split, split, split)))


def merge_devices(moments: Any) -> Any:
    """Exactly merge moments (or the kernel's power sums) stacked on a leading device axis, in float64 on the host.

    Args:
      moments: a pytree of :class:`~varbench.engine.stats.Moments` or ``PowerSums`` whose fields carry a leading
        device axis.

    Returns:
      The same pytree of merged :class:`~varbench.engine.stats.Moments`, without the device axis.
    """
    is_moments = lambda x: isinstance(x, (stats.Moments, stats.PowerSums))

    def merge_leaf(m: stats.Moments | stats.PowerSums) -> stats.Moments:
        parts = [type(m)(*(np.asarray(f)[d] for f in m)) for d in range(np.shape(m.nonfinite)[0])]
        if isinstance(m, stats.PowerSums):
            parts = [stats.to_moments(p) for p in parts]
        return functools.reduce(stats.merge, parts)

    return jax.tree_util.tree_map(merge_leaf, moments, is_leaf=is_moments)


def run_moments_sharded(kernel: Callable, subject: Subject, key: jax.Array, num_samples: int, chunk_size: int,
                        work: int | None = None) -> tuple[Any, float, float]:
    """Stream ``num_samples`` estimates over all local devices, each device its share, and merge their moments.

    Args:
      kernel: the Monte Carlo kernel, ``(subject, key, num_full, remainder, *, chunk_size) -> power sums``.
      subject: what is measured (replicated on every device).
      key: the measurement's PRNG key, split into one per device.
      num_samples: estimates streamed in all.
      chunk_size: estimates per chunk on each device.
      work: the run's scalar evaluations, for its compile tier (default ``num_samples``).

    Returns:
      ``(merged moments on the host, compile seconds, run seconds)``, as ``harness.run_moments`` returns them.
    """
    devices = jax.local_devices()
    mesh = Mesh(np.array(devices), (AXIS,))
    keys = jax.device_put(jax.random.split(key, len(devices)), NamedSharding(mesh, PartitionSpec(AXIS)))
    num_full, remainder = split_samples(num_samples, len(devices), chunk_size)
    args = (subject, keys, num_full, remainder)
    leaves, treedef = jax.tree_util.tree_flatten(args)
    signature = (treedef, tuple(jax.typeof(x) for x in leaves), chunk_size, tuple(devices))
    compiled, compile_seconds = compile_tier.compile_cached(
        _COMPILED, signature, lambda: _sharded(kernel, mesh, chunk_size).lower(*args),
        num_samples if work is None else work)
    start = time.perf_counter()
    out = jax.device_get(jax.block_until_ready(compiled(*args)))
    return merge_devices(out), compile_seconds, time.perf_counter() - start


def clear_cache() -> None:
    """Forget compiled sharded kernels."""
    _COMPILED.reset()

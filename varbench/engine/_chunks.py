"""How many estimates a compiled kernel draws at once, and whether that many fit in memory.

A kernel streams its estimates in chunks: the chunk's noise is drawn, the estimator vmapped over it and the chunk
added to running power sums, so memory holds one chunk whatever the number of samples. :func:`plan` sizes the chunk
(:func:`auto_chunk_size` unless the caller chose) and refuses one that cannot fit before anything compiles;
:func:`memory_guard` turns an allocation that fails anyway into one line saying what to lower.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, NamedTuple

import jax

from varbench.core.errors import OutOfMemoryError, VarbenchError
from varbench.core.options import is_integer
from varbench.engine.params import host_memory_bytes

#: Elements (noise + gradient coordinates, per estimate) that one chunk may hold; sets the automatic chunk size.
CHUNK_ELEMENTS = 2 ** 21
MIN_CHUNK, MAX_CHUNK = 256, 2 ** 16
#: The same on an accelerator, where every chunk is a loop iteration with a fixed launch and synchronisation cost
#: (on an H100, dim 100: 2.6e7 estimates/s at the CPU's chunk of 4096, 2.3e8 at 65536, 2.8e8 at 262144; on an H200,
#: 3.5e8 at 131072 and 3.9e8 at 524288; see benchmarks/RESULTS.md) and memory is plentiful: 2^28 float32 elements
#: are 1 GiB.
ACCELERATOR_CHUNK_ELEMENTS, ACCELERATOR_MAX_CHUNK = 2 ** 28, 2 ** 20
#: Largest chunk size accepted from a caller (the chunk's keys are indexed by 32-bit integers).
MAX_CHUNK_SIZE = 2 ** 31 - 1
#: Bytes of one noise or gradient scalar while streaming (the kernels run in float32).
SCALAR_BYTES = 4


class ChunkPlan(NamedTuple):
    """The chunk a Monte Carlo kernel streams, and what one estimate costs.

    Attributes:
      size: estimates per chunk.
      scalars: noise scalars + gradient coordinates of one estimate at one grid point (sizes the run for its
        compile tier).
      per_estimate: bytes of noise and gradient one estimate holds, over every grid point of a batch.
    """

    size: int
    scalars: int
    per_estimate: int


def auto_chunk_size(noise_scalars: int, param_scalars: int, backend: str | None = None) -> int:
    """The chunk size used when the caller gives none.

    The largest power of two with ``chunk × (noise + params) ≤ CHUNK_ELEMENTS``, within [256, 65536] on CPU;
    ``ACCELERATOR_CHUNK_ELEMENTS`` within [256, 2^20] on a GPU or TPU. It depends only on the problem's size and
    the backend, never on the number of samples, so the sample count can change without recompiling. For dim 100
    (100 noise scalars, 200 gradient coordinates) it is 4096 on CPU. The noise stream depends on the chunk size:
    pass ``chunk_size`` explicitly to draw the same estimates on a CPU and a GPU.

    Args:
      noise_scalars: noise scalars one estimate consumes (summed over the grid points of a batch).
      param_scalars: gradient coordinates of one estimate (summed likewise).
      backend: JAX's backend name; by default JAX's default backend.

    Returns:
      The number of estimates per chunk.
    """
    on_cpu = (backend or jax.default_backend()) == "cpu"
    elements, largest = (CHUNK_ELEMENTS, MAX_CHUNK) if on_cpu else (ACCELERATOR_CHUNK_ELEMENTS, ACCELERATOR_MAX_CHUNK)
    per = max(noise_scalars + param_scalars, 1)
    size = 2 ** int(math.floor(math.log2(max(elements // per, 1))))
    return int(min(max(size, MIN_CHUNK), largest))


def plan(noise: int, coordinates: int, chunk_size: int | None, points: int = 1) -> ChunkPlan:
    """The chunk for estimates of ``noise`` noise scalars and ``coordinates`` gradient coordinates at each of
    ``points`` grid points: ``chunk_size`` (checked) or :func:`auto_chunk_size`'s, refused with a one-line
    :class:`OutOfMemoryError` when its noise and estimates alone exceed the device's memory.

    Args:
      noise: noise scalars of one estimate at one grid point.
      coordinates: gradient coordinates of one estimate.
      chunk_size: the caller's chunk size, or None for the automatic one.
      points: grid points run side by side by one kernel (``measure_batch``).

    Returns:
      The :class:`ChunkPlan`.
    """
    if chunk_size is None:
        chunk_size = auto_chunk_size(points * noise, points * coordinates)
    check_chunk_size(chunk_size)
    scalars = noise + coordinates  # noise and gradient of one estimate at one grid point
    chosen = ChunkPlan(int(chunk_size), scalars, SCALAR_BYTES * points * scalars)
    check_chunk_memory(chosen.size, chosen.per_estimate)
    return chosen


def check_chunk_size(chunk_size: Any) -> None:
    """Refuse a ``chunk_size`` that is not an integer in [1, :data:`MAX_CHUNK_SIZE`] with a one-line error.

    Args:
      chunk_size: the caller's chunk size.
    """
    if not is_integer(chunk_size) or not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise VarbenchError(f"chunk_size must be a positive integer up to {MAX_CHUNK_SIZE}; got {chunk_size!r}")


def device_memory_bytes() -> tuple[int, str] | None:
    """Memory of the first local device (its allocator limit) or, on CPU, of the host.

    Returns:
      ``(bytes, where)`` such as ``(2**34, "host")``, or None if unknown.
    """
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
    """Refuse a chunk whose noise and estimates alone exceed the device's memory.

    Without this the kernel fails only when XLA allocates (RESOURCE_EXHAUSTED), or on CPU the host starts
    swapping; the message says how large a chunk fits.

    Args:
      chunk_size: estimates per chunk.
      per_estimate: bytes of noise and gradient per estimate (a lower bound of the kernel's memory).

    Raises:
      OutOfMemoryError: the chunk cannot fit.
    """
    memory = device_memory_bytes()
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
def memory_guard(chunks: ChunkPlan | None) -> Iterator[None]:
    """Turn an allocation that fails while compiling or running a kernel into one line saying what to lower.

    Args:
      chunks: the Monte Carlo kernel's chunk, or None for exact mode (which evaluates its grid in fixed batches).
    """
    try:
        yield
    except (MemoryError, jax.errors.JaxRuntimeError) as err:
        if isinstance(err, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" not in str(err):
            raise
        memory = device_memory_bytes()
        if chunks is None:
            raise OutOfMemoryError(f"out of memory in method=exact on the {memory[1] if memory else 'device'}; use "
                                   "method=mc, or a smaller problem") from None
        raise OutOfMemoryError(_memory_advice(chunks.size, chunks.per_estimate, memory)) from None

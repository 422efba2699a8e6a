"""How much memory one estimate works in, so the automatic chunk of a large estimator fits in memory.

The automatic chunk (:func:`varbench.engine._chunks.auto_chunk_size`) counts the noise and the gradient of one
estimate and never goes below 256 estimates. An estimator can hold far more than that while it runs: RODEO on a
200-latent binary VAE with batch 100 decodes 200 neighbouring configurations of every data point, a (200, 100, 784)
array of logits, about 63 MB per estimate, so a chunk of 256 asked XLA for more than 60 GB. The estimate's jaxpr
names every intermediate array; the largest of them, times :data:`WORKING_COPIES` (an operation's inputs and output
live at once, and XLA keeps a few of them), bounds what one estimate needs, and the chunk is lowered until that many
estimates fit in :data:`WORKING_FRACTION` of the device's memory. Small problems are never affected: the check only
runs when the chunk is already at its floor.
"""

from __future__ import annotations

from typing import Any, Iterator

import jax
import jax.extend.core
import numpy as np

from varbench.engine._checks import one_estimate
from varbench.engine._chunks import MIN_CHUNK, ChunkPlan, device_memory_bytes
from varbench.engine.subject import Subject

#: Arrays as large as the largest intermediate assumed alive at once while one estimate runs.
WORKING_COPIES = 4
#: Share of the device's (or host's) memory that one chunk's working arrays may take.
WORKING_FRACTION = 0.25


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    """The jaxprs inside an equation's parameter (a loop's body, a branch, a call)."""
    if isinstance(value, jax.extend.core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, jax.extend.core.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _sub_jaxprs(item)


def _nbytes(aval: Any) -> int:
    """Bytes of an abstract array; 0 for tokens and PRNG keys (small, and not NumPy dtypes)."""
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None or jax.dtypes.issubdtype(dtype, jax.dtypes.extended):
        return 0
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def largest_intermediate(jaxpr: Any) -> int:
    """Bytes of the largest array any equation of ``jaxpr`` (or of the jaxprs nested in it) produces.

    Args:
      jaxpr: a ``jax.extend.core.Jaxpr``.

    Returns:
      The bytes (0 for a jaxpr without array outputs).
    """
    largest = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            largest = max(largest, _nbytes(var.aval))
        for value in eqn.params.values():
            for inner in _sub_jaxprs(value):
                largest = max(largest, largest_intermediate(inner))
    return largest


def working_bytes(subject: Subject) -> int:
    """Bytes one estimate of ``subject`` is assumed to work in: :data:`WORKING_COPIES` × its largest intermediate.

    Args:
      subject: what is measured, as :func:`varbench.engine._kernels.kernel_subject` prepares it.

    Returns:
      The bytes (traced abstractly: nothing runs).
    """
    closed = jax.make_jaxpr(one_estimate)(subject.replace(state=()), jax.random.key(0))
    return WORKING_COPIES * largest_intermediate(closed.jaxpr)


def fit_working_memory(chosen: ChunkPlan, subject: Subject, points: int = 1) -> ChunkPlan:
    """The automatic chunk ``chosen``, lowered (to a power of two, at least 1) when its estimates' working arrays
    would take more than :data:`WORKING_FRACTION` of the device's memory.

    Args:
      chosen: the automatic chunk (:func:`varbench.engine._chunks.plan` without a caller's size).
      subject: what is measured.
      points: grid points run side by side by one kernel.

    Returns:
      ``chosen``, or a copy with a smaller ``size``.
    """
    memory = device_memory_bytes()
    if chosen.size > MIN_CHUNK or memory is None:  # only estimates too large for the element count's rule
        return chosen
    need = points * working_bytes(subject)
    fit = max(int(memory[0] * WORKING_FRACTION) // max(need, 1), 1)
    return chosen._replace(size=min(chosen.size, 1 << (fit.bit_length() - 1)))

"""Small numerical helpers shared by problems and estimators."""

from __future__ import annotations

import math
from typing import Any

import jax


def logmeanexp(a: jax.Array, axis: int = -1) -> jax.Array:
    """``log mean exp(a)`` along ``axis``, stably: the log of an importance-weighted average."""
    return jax.nn.logsumexp(a, axis=axis) - math.log(a.shape[axis])


def after(done: Any, then: Any) -> Any:
    """``then``, made to wait for ``done`` to be computed (an explicit data dependency).

    jaxlib's CPU LAPACK kernels spread a batched call over XLA's intra-op thread pool and block until it is done.
    When XLA runs two independent such calls at once (the V and Q fits of a critic), each holds one pool thread
    while waiting for work queued behind the other: on a 2-core machine both threads waited forever, and the
    default suite hung at the first learned critic it fitted, intermittently (a stress loop of ``init`` calls hung
    within ~500). Chaining the fits through this dependency keeps one LAPACK call in flight at a time.
    """
    return jax.lax.optimization_barrier((done, then))[1]

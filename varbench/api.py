"""The Python entry points that take spec strings: :func:`measure`, :func:`measure_batch` and
:func:`reference_gradient`. Specs are resolved once here (:mod:`varbench.catalog`); the engine
(:mod:`varbench.engine.harness`) does the work on objects."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from varbench import catalog
from varbench.core.errors import VarbenchError
from varbench.engine import harness
from varbench.engine.prng import DEFAULT_PRNG
from varbench.engine.result import Result


def measure(problem: Any, estimator: Any, *, params: Mapping[str, Any] | None = None,
            num_samples: int | None = None, seed: int = 0, method: str = "mc", chunk_size: int | None = None,
            warmup: int = 0, state: Any = None, prng: str = DEFAULT_PRNG) -> Result:
    """Measure the bias, variance and cost of one gradient estimator on one problem.

    ``problem`` and ``estimator`` are spec strings (``"gaussian:cost=square,k=0"``,
    ``"score_function:baseline=mean,samples=4"``) or objects; every other argument is that of
    :func:`varbench.engine.harness.measure`, which documents them.

    Example:
      >>> import varbench
      >>> res = varbench.measure("gaussian:cost=square,k=0", "pathwise", params={"mean": 1.0}, num_samples=10**5)
      >>> round(float(res.variance["mean"][0]))
      4
    """
    return harness.measure(catalog.resolve_problem(problem), catalog.resolve_estimator(estimator), params=params,
                           num_samples=num_samples, seed=seed, method=method, chunk_size=chunk_size,
                           warmup=warmup, state=state, prng=prng)


def measure_batch(problems: Sequence[Any], estimator: Any, *, params: Sequence[Mapping[str, Any] | None],
                  num_samples: int, seed: int = 0, chunk_size: int | None = None, warmup: int = 0,
                  prng: str = DEFAULT_PRNG) -> list[Result]:
    """:func:`varbench.engine.harness.measure_batch` with spec strings allowed: many grid points, one kernel."""
    return harness.measure_batch([catalog.resolve_problem(p) for p in problems], catalog.resolve_estimator(estimator),
                                 params=params, num_samples=num_samples, seed=seed, chunk_size=chunk_size,
                                 warmup=warmup, prng=prng)


def reference_gradient(problem: Any, params: Mapping[str, Any] | None = None, num_samples: int = 100_000,
                       seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A high-precision pathwise estimate of ∇F and its standard error, ``(mean, se)`` keyed by name, for problems
    without a closed form (``gaussian_vae``).

    Every estimate uses the whole data subset (``batch_size = data_subset``: the same objective, no minibatch
    noise); the standard error is the harness's Monte Carlo one.
    """
    problem = catalog.resolve_problem(problem)
    if not problem.reparameterizable:
        raise VarbenchError(f"problem {problem.name!r} is not reparameterizable; it has an exact gradient instead")
    if hasattr(problem, "data_subset") and hasattr(problem, "batch_size"):
        problem = dataclasses.replace(problem, batch_size=problem.data_subset)
    res = measure(problem, "pathwise", params=params, num_samples=num_samples, seed=seed)
    return res.grad_mean, res.grad_se

"""The Python entry points that take spec strings: :func:`measure`, :func:`measure_batch` and
:func:`reference_gradient`. Specs are resolved once here (:mod:`varbench.catalog`); the engine
(:mod:`varbench.engine.harness`) does the work on objects."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from varbench import catalog
from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, State
from varbench.core.problem import Problem
from varbench.engine import harness, settings
from varbench.engine.prng import DEFAULT_PRNG
from varbench.engine.result import Result


def measure(problem: str | Problem, estimator: str | Estimator, *, params: Mapping[str, Any] | None = None,
            num_samples: int | None = None, seed: int = 0, method: str = "mc", chunk_size: int | None = None,
            warmup: int = 0, state: State | None = None, prng: str = DEFAULT_PRNG,
            exact_budget: int | None = None) -> Result:
    """Measure the bias, variance and cost of one gradient estimator on one problem.

    Args:
      problem: a spec string (``"gaussian:cost=square,k=0"``) or a :class:`varbench.Problem`.
      estimator: a spec string (``"score_function:baseline=mean,samples=4"``) or a :class:`varbench.Estimator`.
      params: ``{name: value}``, the point at which gradients are measured (scalars broadcast; missing names take
        the problem's defaults).
      num_samples: independent estimates (``method="mc"``).
      seed: the PRNG seed.
      method: ``"mc"`` (Monte Carlo) or ``"exact"`` (quadrature over the estimator's noise).
      chunk_size: estimates per vmapped chunk (default: from the problem's size).
      warmup: updates of a stateful estimator's state before measuring.
      state: a state to start from instead of the estimator's ``init``.
      prng: ``"threefry"`` (default), ``"rbg"`` or ``"unsafe_rbg"``.
      exact_budget: ``method="exact"``: most adaptive-quadrature points before the measurement is refused.

    Returns:
      A :class:`varbench.Result` (:func:`varbench.engine.harness.measure` details every argument).

    Example:
      >>> import varbench
      >>> res = varbench.measure("gaussian:cost=square,k=0", "pathwise", params={"mean": 1.0}, num_samples=10**5)
      >>> round(float(res.variance["mean"][0]))
      4
    """
    settings.ensure_configured()  # before resolving specs, which may start JAX's backend
    return harness.measure(catalog.resolve_problem(problem), catalog.resolve_estimator(estimator), params=params,
                           num_samples=num_samples, seed=seed, method=method, chunk_size=chunk_size,
                           warmup=warmup, state=state, prng=prng, exact_budget=exact_budget)


def measure_batch(problems: Sequence[str | Problem], estimator: str | Estimator, *,
                  params: Sequence[Mapping[str, Any] | None], num_samples: int, seed: int = 0,
                  chunk_size: int | None = None, warmup: int = 0, prng: str = DEFAULT_PRNG) -> list[Result]:
    """Monte Carlo measurements at many grid points in one compiled kernel, spec strings allowed.

    Args:
      problems: per grid point, a spec string or a problem; all with the same static options.
      estimator: a spec string or an estimator.
      params: per grid point, ``{name: value}`` or None for the problem's defaults.
      num_samples: independent estimates at each point.
      seed: the PRNG seed.
      chunk_size: estimates per chunk (default: from the problem's size and the number of points).
      warmup: updates of a stateful estimator's state at each point before measuring.
      prng: the random number generator.

    Returns:
      One :class:`varbench.Result` per point (:func:`varbench.engine.harness.measure_batch`).
    """
    settings.ensure_configured()
    return harness.measure_batch([catalog.resolve_problem(p) for p in problems], catalog.resolve_estimator(estimator),
                                 params=params, num_samples=num_samples, seed=seed, chunk_size=chunk_size,
                                 warmup=warmup, prng=prng)


def reference_gradient(problem: str | Problem, params: Mapping[str, Any] | None = None, num_samples: int = 100_000,
                       seed: int = 0, *, estimator: str | Estimator | None = None
                       ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A high-precision estimate of ∇F and its standard error, for problems without a closed form: the mean of
    ``num_samples`` estimates of an unbiased estimator.

    Two branches. Without ``estimator`` the problem must be reparameterizable (``gaussian_vae``) and pathwise
    estimates are averaged. With ``estimator`` (a trusted unbiased estimator that applies to the problem, e.g.
    ``"disarm"`` or ``"rloo:samples=8"``) its estimates are averaged: the reference for discrete latents where
    enumeration is out of reach (``sbn:data=mnist,latent=200``: 2^200 configurations). At that model's default
    point (256 data points, full batch) ``disarm`` reaches a median per-coordinate standard error of about
    ``0.0061 / sqrt(num_samples)`` against a median ``|∇F_i|`` of 0.0066: 1.1e-4, under 1% of it, with 3000 estimates
    (about 4 minutes on 2 CPU cores; ``benchmarks/discrete_vae_bias.py``, ``benchmarks/RESULTS.md``).

    Either way random minibatches are replaced by the whole data subset (``batch_size = data_subset``: the same
    objective, no minibatch noise); the mean and standard error are the harness's streaming ones (compensated sums,
    central moments in float64), so :func:`varbench.agreement.compare_gradients` can test an estimator against them.

    Args:
      problem: a spec string or a problem (reparameterizable unless ``estimator`` is given).
      params: ``{name: value}``, the point (default: the problem's defaults).
      num_samples: estimates averaged.
      seed: the PRNG seed.
      estimator: the unbiased estimator averaged (None: pathwise).

    Returns:
      ``(mean, se)``, each ``{name: array shaped like the parameter}``.

    Raises:
      VarbenchError: no ``estimator`` and the problem is not reparameterizable, or the estimator does not apply.
    """
    settings.ensure_configured()
    problem = catalog.resolve_problem(problem)
    if estimator is None:
        if not problem.reparameterizable:
            raise VarbenchError(f"problem {problem.name!r} is not reparameterizable: give estimator= an unbiased "
                                "estimator that applies to it (e.g. 'disarm' or 'rloo')")
        estimator = "pathwise"
    if hasattr(problem, "data_subset") and hasattr(problem, "batch_size") and not getattr(problem, "full_batch", True):
        # Random minibatches only add noise to the same objective; a fixed minibatch (sbn:batch=fixed) IS the
        # objective, and it is already full batch.
        problem = dataclasses.replace(problem, batch_size=problem.data_subset)
    res = measure(problem, estimator, params=params, num_samples=num_samples, seed=seed)
    return res.grad_mean, res.grad_se

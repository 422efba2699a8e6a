"""Estimators that average ``samples`` i.i.d. single-sample estimates: the per-sample protocol they share.

An estimate of such an estimator is the mean of K = ``samples`` single-sample estimates, each from one sample's
noise. :class:`~varbench.estimators.control_variates.DeltaControlVariate` wraps estimators that state this
structure (``single_noise``, ``single_estimate``; K samples cost K times one): it needs each sample's term.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from varbench.core.estimator import State, batched_noise
from varbench.core.problem import Params, Problem


class AveragedSamples:
    """Mixin for an estimator with a ``samples`` option whose estimate averages K draws of the problem's latent
    noise (the pathwise and score-function estimators). Put it before :class:`~varbench.core.estimator.Estimator`
    among the bases."""

    samples: int

    def evaluations_per_estimate(self, problem: Problem) -> int:
        """One cost evaluation per sample."""
        return self.samples

    def single_noise(self, problem: Problem, params: Params) -> Any:
        """The noise of one sample: the problem's latent noise."""
        return problem.latent_noise(params)

    def noise(self, problem: Problem, params: Params) -> Any:
        """K samples' noise (a leading axis K on every leaf)."""
        return batched_noise(self.single_noise(problem, params), self.samples)

    def single_estimate(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        """The estimate from ONE sample's noise (no leading axis): the estimator with ``samples=1`` on it.

        Args:
          problem: the problem (or a surrogate of it, such as the delta control variate's Taylor expansion).
          params: the parameters, a dict of arrays.
          state: the estimator's state.
          noise: one sample's noise, shaped as :meth:`single_noise` says.

        Returns:
          The estimate, shaped like ``params``.
        """
        one = jax.tree_util.tree_map(lambda x: x[None], noise)  # the noise of samples=1
        return dataclasses.replace(self, samples=1).estimate_from_noise(problem, params, state, one)

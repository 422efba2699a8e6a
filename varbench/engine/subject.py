"""The thing a measurement is about: a problem, an estimator, the params at which the gradient is estimated, and the
estimator's state.

These four travel together through the engine (kernels, exact mode, sharding, Result assembly) and the application
layer above it (suite cells, the check battery, trace); one value keeps them together. A :class:`Subject` is a
NamedTuple, hence a pytree: it can be passed to ``jax.jit``-compiled functions as it is (the problem and the
estimator are pytree dataclasses whose static options are part of the structure).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from varbench.core.estimator import Estimator, State
from varbench.core.problem import Params, Problem


class Subject(NamedTuple):
    """What is measured.

    Attributes:
      problem: the problem (integrand and sampling distribution).
      estimator: the gradient estimator.
      params: the point at which gradients are estimated, ``{name: array}`` shaped as ``problem.init_params()``.
      state: the estimator's state (``()`` for a stateless estimator).
    """

    problem: Problem
    estimator: Estimator
    params: Params
    state: State = ()

    def replace(self, **changes: Any) -> Subject:
        """A copy with some fields changed (``subject.replace(state=new_state)``).

        Args:
          **changes: new values of fields, by name.

        Returns:
          The new :class:`Subject`.
        """
        return self._replace(**changes)

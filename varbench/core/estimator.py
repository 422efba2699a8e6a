"""The Estimator interface: ONE gradient estimate from ``(problem, params, state, key)``.

Estimators are unbatched, like rlax's functions; the harness vmaps them over keys. Each estimator states the
noise one estimate consumes (:meth:`Estimator.noise`) and computes the estimate as a deterministic function of it
(:meth:`Estimator.estimate_from_noise`), so Monte Carlo and exact (quadrature) modes evaluate the same function.
Stateful estimators carry a pytree ``state`` with optax-style ``init``/``update``; stateless ones use ``()``.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax

from varbench.core.noise import is_noise, sample_noise
from varbench.core.problem import Params, Problem

State = Any


class Estimator(abc.ABC):
    """Base class of gradient estimators. Subclasses are decorated with ``@pytree_dataclass``.

    Subclasses define ``name`` and the three abstract methods: how many cost evaluations one estimate uses, the
    noise it consumes, and the estimate as a deterministic function of that noise (so Monte Carlo and exact
    mode evaluate the same function). ``check_applies`` states which problems it needs (use
    :func:`varbench.core.capabilities.require`); stateful estimators override ``init`` and ``update``.
    """

    name: ClassVar[str] = "estimator"
    #: what an estimator is called in messages ("option 'samples' of estimator 'pathwise' ...")
    role: ClassVar[str] = "estimator"
    summary: ClassVar[str] = ""
    #: ``E[estimate] = ∇F`` holds exactly (checked by the project's statistical tests)
    unbiased: ClassVar[bool] = True
    #: the estimator carries state updated by :meth:`update`
    stateful: ClassVar[bool] = False

    def check_applies(self, problem: Problem) -> None:
        """Raise :class:`varbench.core.errors.NotApplicableError` if this estimator does not apply to ``problem``."""

    @abc.abstractmethod
    def evaluations_per_estimate(self, problem: Problem) -> int:
        """Cost (integrand) evaluations one estimate uses, for work-normalized comparisons."""
        raise NotImplementedError

    @abc.abstractmethod
    def noise(self, problem: Problem, params: Params) -> Any:
        """Pytree of :class:`varbench.core.noise.Noise` consumed by one estimate."""
        raise NotImplementedError

    @abc.abstractmethod
    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        """The estimate, shaped like ``params``, as a deterministic function of ``noise``."""
        raise NotImplementedError

    def estimate(self, problem: Problem, params: Params, state: State, key: jax.Array) -> Params:
        """One gradient estimate of ``∇_θ E_q[f]`` using fresh noise drawn from ``key``."""
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        noise = sample_noise(self.noise(problem, params), key, dtype)
        return self.estimate_from_noise(problem, params, state, noise)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        return ()

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        return state

    def validate(self) -> None:
        """Check option combinations; raise :class:`varbench.core.errors.VarbenchError` naming the valid choices."""


def batched_noise(spec: Any, batch: int) -> Any:
    """``batch`` independent copies of ``spec``: every noise leaf gets a leading axis of size ``batch``."""
    return jax.tree_util.tree_map(lambda n: n.repeated(batch), spec, is_leaf=is_noise)

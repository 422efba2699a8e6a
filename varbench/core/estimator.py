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

from varbench.core.errors import NotApplicableError
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
        """Refuse a problem this estimator cannot handle (by default every problem is accepted).

        Args:
          problem: the problem to measure on.

        Raises:
          NotApplicableError: one line saying what the estimator needs (see
            :func:`varbench.core.capabilities.require`).
        """

    @abc.abstractmethod
    def evaluations_per_estimate(self, problem: Problem) -> int:
        """Cost (integrand) evaluations one estimate uses, for work-normalized comparisons.

        Args:
          problem: the problem measured.

        Returns:
          The number of evaluations of ``problem.cost`` (or of its per-unit costs) in one estimate.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def noise(self, problem: Problem, params: Params) -> Any:
        """The random numbers one estimate consumes.

        Args:
          problem: the problem measured.
          params: ``{name: array}`` shaped as ``problem.param_shapes()``.

        Returns:
          A pytree of :class:`varbench.core.noise.NoiseLeaf`.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        """The estimate as a deterministic function of the noise (Monte Carlo and exact mode both call it).

        Args:
          problem: the problem measured.
          params: ``{name: array}`` shaped as ``problem.param_shapes()``.
          state: the estimator's state (``()`` if stateless).
          noise: values shaped like the pytree of :meth:`noise`.

        Returns:
          The gradient estimate, ``{name: array}`` shaped like ``params``.
        """
        raise NotImplementedError

    def estimate(self, problem: Problem, params: Params, state: State, key: jax.Array) -> Params:
        """One gradient estimate of ``∇_θ E_q[f]`` using fresh noise drawn from ``key``.

        Args:
          problem: the problem measured.
          params: ``{name: array}`` shaped as ``problem.param_shapes()``.
          state: the estimator's state (``()`` if stateless).
          key: a JAX PRNG key.

        Returns:
          The gradient estimate, ``{name: array}`` shaped like ``params``.
        """
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        noise = sample_noise(self.noise(problem, params), key, dtype)
        return self.estimate_from_noise(problem, params, state, noise)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        """The state before any update (optax-style); stateless estimators keep ``()``.

        Args:
          problem: the problem measured.
          params: ``{name: array}`` shaped as ``problem.param_shapes()``.
          key: a JAX PRNG key.

        Returns:
          A pytree of arrays.
        """
        return ()

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        """One update of the state (a learned baseline or critic), run during warm-up.

        Args:
          problem: the problem measured.
          params: ``{name: array}`` shaped as ``problem.param_shapes()``.
          state: the current state, as :meth:`init` makes it.
          key: a JAX PRNG key.

        Returns:
          The next state, with the structure of ``state``.
        """
        return state

    def validate(self) -> None:
        """Check option combinations (each option alone is checked by its ``option()`` rules first).

        Raises:
          VarbenchError: one line naming the options and the valid choices.
        """


class KeyedEstimator(Estimator):
    """Base class of an estimator that draws its own noise from a PRNG key, as optax's ``monte_carlo`` functions and
    most research code do: implement :meth:`estimate` (and ``name``, :meth:`evaluations_per_estimate`).

    Such an estimator is measured by Monte Carlo only, one key per estimate: exact mode integrates over the noise an
    estimate declares (:meth:`noise` with :meth:`estimate_from_noise`), which code that draws for itself does not
    declare, so exact mode refuses it (NotApplicableError) and ``varbench check`` tests its bias statistically.
    :meth:`noise` sizes the harness's chunks only; its default, one latent draw of the problem, fits an estimate that
    draws one latent sample; override it to describe what one estimate draws when that is much more.
    """

    @abc.abstractmethod
    def estimate(self, problem: Problem, params: Params, state: State, key: jax.Array) -> Params:
        """One gradient estimate, drawing its noise from ``key`` (see :meth:`Estimator.estimate`)."""
        raise NotImplementedError

    def noise(self, problem: Problem, params: Params) -> Any:
        """The noise one estimate draws, for sizing chunks only (default: one latent draw of the problem)."""
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        """Not available: the estimate draws its own noise (:meth:`estimate`)."""
        raise NotApplicableError(f"estimator {self.name!r} draws its own noise from a PRNG key; exact mode needs "
                                 "the noise contract (noise + estimate_from_noise): use method=mc")


def batched_noise(spec: Any, batch: int) -> Any:
    """Noise for ``batch`` independent estimates.

    Args:
      spec: a pytree of :class:`varbench.core.noise.NoiseLeaf`.
      batch: the number of copies.

    Returns:
      ``spec`` with a leading axis of size ``batch`` on every noise leaf.
    """
    return jax.tree_util.tree_map(lambda n: n.repeated(batch), spec, is_leaf=is_noise)

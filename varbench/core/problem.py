"""The Problem interface: what to differentiate, as pure functions of arrays.

A problem defines an objective ``F(θ) = E_{x ~ q_θ}[f_θ(x)]``. Its parameters θ are a ``dict`` of named arrays.
Every problem is a frozen pytree dataclass (see :mod:`varbench.core.pytree`): numeric options are leaves, so a sweep
over them runs in one compiled kernel; structural options (a cost's name, a dimension) are static.

Sampling is expressed through *noise*: :meth:`Problem.latent_noise` states the standard random numbers one latent
draw needs and :meth:`Problem.latent` maps them to the latent ``x``. For reparameterizable problems this map is
differentiable in θ (the pathwise estimator differentiates through it); for the others it is only a sampler.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Mapping

import jax
import numpy as np

Params = dict[str, jax.Array]


class Problem(abc.ABC):
    """Base class of reference problems. Subclasses are decorated with ``@pytree_dataclass``.

    Subclasses must define the abstract methods below (a class that leaves one out is refused when it is
    registered) and a class attribute ``name``; the flags state the structure that estimators rely on (see
    :mod:`varbench.core.capabilities`).
    """

    name: ClassVar[str] = "problem"
    #: what a problem is called in messages ("option 'k' of problem 'gaussian' ...")
    role: ClassVar[str] = "problem"
    #: one-line summary for ``varbench list``
    summary: ClassVar[str] = ""
    #: latents are discrete
    discrete: ClassVar[bool] = False
    #: ``latent(params, noise)`` is differentiable in params (pathwise gradients apply)
    reparameterizable: ClassVar[bool] = False
    #: latents are a sequence with per-step rewards
    sequential: ClassVar[bool] = False
    #: the variational distribution is amortized over a data set
    amortized: ClassVar[bool] = False
    #: ``x = mean + exp(log_scale) * eps`` with independent coordinates, params ``mean``/``log_scale``, and a cost
    #: that does not depend on params (measure-valued gradients apply)
    location_scale: ClassVar[bool] = False
    #: ``objective_exact`` is available
    has_exact_objective: ClassVar[bool] = False
    #: ``cost(params, x)`` depends on params directly (False: score-function estimators add no ∇_θ f_θ(x) term)
    cost_depends_on_params: ClassVar[bool] = True
    #: the cost is a negative evidence bound (a VAE's), so traces report ``elbo = −E[cost]``
    objective_is_negative_bound: ClassVar[bool] = False
    #: params whose default sits at a special value (a 0 or ±1, or all coordinates equal) on purpose, each with the
    #: documented reason; every other default is generic (:mod:`varbench.core.generic`), because a defect can hide
    #: at a special value (a dropped chain-rule factor exp(log_scale) is invisible at log_scale = 0)
    special_defaults: ClassVar[Mapping[str, str]] = {}

    @abc.abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter.

        Returns:
          ``{name: shape}``, the keys of :meth:`default_params` (``{"mean": (dim,), "log_scale": (dim,)}``).
        """
        raise NotImplementedError

    @abc.abstractmethod
    def default_params(self) -> dict[str, np.ndarray]:
        """The point at which gradients are measured unless the caller gives params: generic (seeded draws away
        from 0, ±1 and equal coordinates, see :mod:`varbench.core.generic`) except the params named in
        :attr:`special_defaults`.

        Returns:
          ``{name: array}`` with the shapes of :meth:`param_shapes` (float32 NumPy arrays).
        """
        raise NotImplementedError

    @abc.abstractmethod
    def latent_noise(self, params: Params) -> Any:
        """The standard random numbers one latent draw needs.

        Args:
          params: ``{name: array}`` shaped as :meth:`param_shapes` (discrete noise may depend on them).

        Returns:
          A pytree of :class:`varbench.core.noise.NoiseLeaf` (``Noise("normal", (dim,))``).
        """
        raise NotImplementedError

    @abc.abstractmethod
    def latent(self, params: Params, noise: Any) -> jax.Array:
        """The latent ``x`` as a function of params and noise (differentiable in params if reparameterizable).

        Args:
          params: ``{name: array}`` shaped as :meth:`param_shapes`.
          noise: values shaped like the pytree of :meth:`latent_noise`.

        Returns:
          One latent draw ``x`` (its shape is the problem's).
        """
        raise NotImplementedError

    @abc.abstractmethod
    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        """The log-density of the variational distribution.

        Args:
          params: ``{name: array}`` shaped as :meth:`param_shapes`.
          x: one latent, as :meth:`latent` returns it.

        Returns:
          ``log q_θ(x)``, a scalar.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        """The integrand ``f_θ(x)``, whose expectation under ``q_θ`` is the objective (a scalar).

        Args:
          params: ``{name: array}`` shaped as :meth:`param_shapes`; the cost may depend on them.
          x: one latent, as :meth:`latent` returns it (estimators that relax discrete latents, such as REBAR,
            also pass relaxed values).

        Returns:
          The cost, a scalar.
        """
        raise NotImplementedError

    def objective_exact(self, params: Params) -> jax.Array:
        """The objective in closed form (problems with ``has_exact_objective``); its gradient comes from autodiff.

        Args:
          params: ``{name: array}`` shaped as :meth:`param_shapes`.

        Returns:
          ``E_q[f]``, a scalar.
        """
        raise NotImplementedError(f"problem {self.name!r} has no exact objective")

    def validate(self) -> None:
        """Check option combinations (each option alone is checked by its ``option()`` rules first).

        Raises:
          VarbenchError: one line naming the options and the valid choices.
        """

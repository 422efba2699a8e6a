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
from typing import Any, ClassVar

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

    @abc.abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    @abc.abstractmethod
    def default_params(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @abc.abstractmethod
    def latent_noise(self, params: Params) -> Any:
        """Pytree of :class:`varbench.core.noise.Noise` needed for one latent draw."""
        raise NotImplementedError

    @abc.abstractmethod
    def latent(self, params: Params, noise: Any) -> jax.Array:
        """The latent ``x`` as a function of params and noise."""
        raise NotImplementedError

    @abc.abstractmethod
    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        """``log q_θ(x)`` (a scalar)."""
        raise NotImplementedError

    @abc.abstractmethod
    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        """The integrand ``f_θ(x)`` (a scalar)."""
        raise NotImplementedError

    def objective_exact(self, params: Params) -> jax.Array:
        """``E_q[f]`` in closed form; its gradient comes from autodiff."""
        raise NotImplementedError(f"problem {self.name!r} has no exact objective")

    def validate(self) -> None:
        """Check option combinations; raise :class:`varbench.core.errors.VarbenchError` with the valid choices."""

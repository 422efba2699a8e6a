"""Independent Bernoulli latents with a quadratic cost: the toy problem of REBAR and RELAX."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.discrete import IndependentLogits

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Bernoulli as BernoulliNoise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem


def _as_float_tuple(value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(float(v) for v in items)


@register_problem
@pytree_dataclass
class Bernoulli(IndependentLogits, Problem):
    """``F(φ) = E_{b_i ~ Bernoulli(σ(φ_i))} [Σ_i (b_i − t_i)²]`` with independent coordinates.

    The toy of Tucker et al. (2017), "REBAR: Low-variance, unbiased gradient estimates for discrete latent
    variable models", NeurIPS, §6.1, and Grathwohl et al. (2018), "Backpropagation through the Void", ICLR, §6.1
    (t = 0.499: the two outcomes cost 0.251 and 0.249, so the gradient is tiny next to REINFORCE's noise).

    Assumptions: discrete latent b ∈ {0, 1}^dim, not reparameterizable; the cost extends to relaxed b ∈ [0, 1]
    (used by REBAR, RELAX, Gumbel-softmax and straight-through). Exact objective
    ``Σ_i p_i (1 − t_i)² + (1 − p_i) t_i²`` with ``p = σ(φ)``; gradient by autodiff. One cost evaluation is one
    evaluation of ``Σ_i (b_i − t_i)²``.

    Default params: a generic point, logits 0.15 to 0.45 away from 0 with seeded signs (seed 0, see
    :mod:`varbench.core.generic`; 0.341 for dim = 1). The papers' logit 0 is special (DisARM's variance is exactly
    0 there): pass ``params={"logits": 0.0}`` to measure it, as the default suite's logit sweeps do.
    """

    name = "bernoulli"
    summary = "b_i ~ Bernoulli(sigmoid(logits_i)), cost sum_i (b_i - target_i)^2 (REBAR/RELAX toy)"
    discrete = True
    has_exact_objective = True
    #: the relaxation that REBAR/RELAX/Gumbel-softmax use: "binary" (logistic) or "categorical" (Gumbel)
    relaxation: ClassVar[str] = "binary"

    target: tuple = option((0.499,), "t: one number, or a list of dim numbers", static=False, kind=list,
                           convert=_as_float_tuple)
    dim: int = option(1, "number of independent Bernoulli latents", kind=int, minimum=1)

    def validate(self) -> None:
        if np.size(self.target) not in (1, self.dim):
            raise VarbenchError(f"option 'target' of problem 'bernoulli' must be one number or a list of dim={self.dim} "
                                f"numbers; got {np.size(self.target)}")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"logits": (self.dim,)}

    def default_params(self) -> dict[str, np.ndarray]:
        return generic_defaults({"logits": np.zeros(self.dim)}, DEFAULT_SEED, dtype=np.float32)

    def target_array(self, dtype: Any) -> jax.Array:
        """The targets t as an array of shape ``(dim,)`` (one given number is repeated over the coordinates).

        Args:
          dtype: the dtype of the result.

        Returns:
          t, shape ``(dim,)``.
        """
        return jnp.broadcast_to(jnp.ravel(jnp.asarray(self.target, dtype)), (self.dim,))

    def latent_noise(self, params: Params) -> BernoulliNoise:
        return BernoulliNoise(jax.nn.sigmoid(params["logits"]))

    def latent(self, params: Params, noise: jax.Array) -> jax.Array:
        return noise

    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        logits = params["logits"]
        return jnp.sum(x * jax.nn.log_sigmoid(logits) + (1 - x) * jax.nn.log_sigmoid(-logits))

    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        return jnp.sum((x - self.target_array(x.dtype)) ** 2)

    def objective_exact(self, params: Params) -> jax.Array:
        p = jax.nn.sigmoid(params["logits"])
        t = self.target_array(p.dtype)
        return jnp.sum(p * (1 - t) ** 2 + (1 - p) * t ** 2)

"""Independent one-hot categorical latents with a tabulated linear cost."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from varbench.problems.discrete import IndependentLogits

from varbench.core.errors import VarbenchError
from varbench.core.generic import DEFAULT_SEED, generic_defaults
from varbench.core.noise import Categorical as CategoricalNoise
from varbench.core.options import is_finite_real
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_problem


def _optional_float_tuple(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(is_finite_real(v) for v in items):
        raise VarbenchError(f"option 'costs' of problem 'categorical' must be a flat list of numbers; got {value!r}")
    return tuple(float(v) for v in items)


def default_cost_table(dim: int, classes: int) -> np.ndarray:
    """``c[d, k] = ((k + 1/2)/K − m_d)²`` with ``m_d = (d + 1)/(dim + 1)``: variable d prefers a different class."""
    centres = (np.arange(classes) + 0.5) / classes
    preferred = (np.arange(dim) + 1.0) / (dim + 1.0)
    return (centres[None, :] - preferred[:, None]) ** 2


@register_problem
@pytree_dataclass
class Categorical(IndependentLogits, Problem):
    """``F(φ) = E[Σ_d c[d, ·] · z_d]``, ``z_d ~ OneHotCategorical(softmax(φ_d))`` independently for d < dim.

    A categorical generalisation of the REBAR/RELAX toy (Tucker et al. 2017, §6.1; Grathwohl et al. 2018, §6.1)
    for estimators with categorical versions (Gumbel-softmax: Jang, Gu & Poole 2017, Maddison, Mnih & Teh 2017;
    REBAR/RELAX with the conditional Gumbel reparameterization of Tucker et al. 2017, App. C).

    The cost table ``c`` (dim × classes) is the option ``costs`` (row-major flat list, or one row of ``classes``
    numbers shared by every variable); by default :func:`default_cost_table`. The cost ``Σ_d c_d · z_d`` is linear
    in z, so it extends to relaxed one-hot vectors on the simplex.

    Assumptions: discrete latent, not reparameterizable. Exact objective ``Σ_d softmax(φ_d) · c_d``; gradient by
    autodiff. One cost evaluation is one evaluation of ``Σ_d c_d · z_d``.

    Default params: a generic point, each logit 0.15 to 0.45 away from 0 with a seeded sign (seed 0, see
    :mod:`varbench.core.generic`), so the classes are not equally likely; uniform logits are ``params={"logits": 0.0}``.
    """

    name = "categorical"
    summary = "one-hot z_d ~ Categorical(softmax(logits_d)), cost sum_d c(d, argmax z_d) from a table"
    discrete = True
    has_exact_objective = True
    relaxation: ClassVar[str] = "categorical"

    dim: int = option(1, "number of independent categorical variables", kind=int, minimum=1)
    classes: int = option(3, "K, classes per variable", kind=int, minimum=2)
    costs: Any = option(None, "cost table c(d,k), row-major list of dim*K (or K) numbers; default "
                              "((k+1/2)/K - (d+1)/(dim+1))^2", static=False, convert=_optional_float_tuple)

    def validate(self) -> None:
        if self.costs is not None and len(self.costs) not in (self.classes, self.dim * self.classes):
            raise VarbenchError(f"option 'costs' of problem 'categorical' needs classes={self.classes} or "
                                f"dim*classes={self.dim * self.classes} numbers; got {len(self.costs)}")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"logits": (self.dim, self.classes)}

    def default_params(self) -> dict[str, np.ndarray]:
        return generic_defaults({"logits": np.zeros((self.dim, self.classes))}, DEFAULT_SEED, dtype=np.float32)

    def cost_table(self, dtype: Any) -> jax.Array:
        """The cost table c, shape ``(dim, classes)``: the option ``costs`` (one row shared, or all rows row-major), or
        :func:`default_cost_table`.

        Args:
          dtype: the dtype of the result.

        Returns:
          c, shape ``(dim, classes)``.
        """
        if self.costs is None:
            return jnp.asarray(default_cost_table(self.dim, self.classes), dtype)
        table = jnp.ravel(jnp.asarray(self.costs, dtype))
        return jnp.broadcast_to(table.reshape(-1, self.classes), (self.dim, self.classes))

    def latent_noise(self, params: Params) -> CategoricalNoise:
        return CategoricalNoise(params["logits"])

    def latent(self, params: Params, noise: jax.Array) -> jax.Array:
        return noise

    def log_prob(self, params: Params, x: jax.Array) -> jax.Array:
        return jnp.sum(x * jax.nn.log_softmax(params["logits"], axis=-1))

    def cost(self, params: Params, x: jax.Array) -> jax.Array:
        return jnp.sum(self.cost_table(x.dtype) * x)

    def objective_exact(self, params: Params) -> jax.Array:
        probs = jax.nn.softmax(params["logits"], axis=-1)
        return jnp.sum(probs * self.cost_table(probs.dtype))

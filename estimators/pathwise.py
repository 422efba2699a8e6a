"""The pathwise (reparameterization) estimator."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators.base import Estimator, batched_noise
from problems.base import Params, Problem
from varbench.errors import NotApplicableError
from varbench.pytree import option, pytree_dataclass
from varbench.registry import register_estimator


@register_estimator
@pytree_dataclass
class Pathwise(Estimator):
    """Pathwise gradient ``(1/K) Σ_k ∇_θ f_θ(g_θ(ε_k))`` with ``x = g_θ(ε)``, ε from a fixed distribution.

    References: Kingma & Welling (2014), "Auto-Encoding Variational Bayes"; Rezende, Mohamed & Wierstra (2014);
    Mohamed et al. (2020), JMLR, §5, eq. (36). Seed 000 ("the reparameterization trick").

    Applies to reparameterizable problems with a differentiable cost (continuous latents). Uses K evaluations
    of the cost and its gradient per estimate.
    """

    name = "pathwise"
    summary = "reparameterization trick (Kingma & Welling 2014; Mohamed et al. 2020 s5)"

    samples: int = option(1, "K cost-gradient evaluations per estimate, averaged", kind=int, minimum=1)

    def check_applies(self, problem: Problem) -> None:
        if not problem.reparameterizable:
            raise NotApplicableError(f"estimator 'pathwise' needs a reparameterizable problem; {problem.name!r} "
                                     "is not (use score_function or a discrete-latent estimator)")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params):
        return batched_noise(problem.latent_noise(params), self.samples)

    def estimate_from_noise(self, problem: Problem, params: Params, state, noise) -> Params:
        def objective(p: Params) -> jax.Array:
            xs = jax.vmap(problem.latent, in_axes=(None, 0))(p, noise)
            return jnp.mean(jax.vmap(problem.cost, in_axes=(None, 0))(p, xs))

        return jax.grad(objective)(params)

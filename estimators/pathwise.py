"""The pathwise (reparameterization) estimator."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from varbench.estimators.sampling import AveragedSamples

from varbench.core.capabilities import (
    ANALYTIC_KL,
    HAS_ENTROPY,
    REPARAMETERIZABLE,
    require,
)
from varbench.core.estimator import Estimator, State
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

ENTROPY = ("analytic", "sampled")


@register_estimator
@pytree_dataclass
class Pathwise(AveragedSamples, Estimator):
    """Pathwise gradient ``(1/K) Σ_k ∇_θ f_θ(g_θ(ε_k))`` with ``x = g_θ(ε)``, ε from a fixed distribution.

    References: Kingma & Welling (2014), "Auto-Encoding Variational Bayes"; Rezende, Mohamed & Wierstra (2014);
    Mohamed et al. (2020), JMLR, §5, eq. (36). Levine's CS285 lecture on variational inference ("the reparameterization trick").

    Applies to reparameterizable problems with a differentiable cost (continuous latents). Uses K evaluations
    of the cost and its gradient per estimate.

    ``entropy`` matters only for problems whose cost is ``log p(y, z) − log q_θ(z)`` (ELBOs, e.g. ``lgssm``;
    flag ``has_entropy``): ``analytic`` (default) differentiates ``log p(y, g_θ(ε)) + H(q_θ)`` with the entropy
    in closed form (Kingma & Welling 2014, eq. 10; Roeder, Wu & Duvenaud 2017 discuss the difference), while
    ``sampled`` differentiates the sampled ``−log q_θ(g_θ(ε))`` too. Both are unbiased. For a location-scale q
    such as lgssm's they coincide estimate for estimate (``log q_θ(g_θ(ε)) = −Σ_t log s_t − |ε|²/2 + const``).
    For other problems the cost has no entropy term: ``analytic`` is then a no-op and ``sampled`` is refused
    (NotApplicableError).

    ``kl=analytic`` (amortized problems with particles=1 only; see ``varbench.problems.amortized``): differentiate the
    ELBO's second form in Levine's CS285 lecture on variational inference, ``E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))`` with the KL in closed form, instead
    of the one-sample estimate of ``log p(z) − log q(z|x)`` (``kl=sampled``, the default).

    ``pathwise:control_variate=delta`` (Gaussian location-scale problems) wraps it in
    :class:`~varbench.estimators.control_variates.DeltaControlVariate`, which subtracts the pathwise gradient of the
    cost's Taylor expansion at the mean minus its closed-form expectation (Miller et al. 2017, "Reducing
    Reparameterization Gradient Variance").
    """

    name = "pathwise"
    summary = "reparameterization trick (Kingma & Welling 2014; Mohamed et al. 2020 s5)"

    samples: int = option(1, "K cost-gradient evaluations per estimate, averaged", kind=int, minimum=1)
    entropy: str = option("analytic", "ELBO problems: entropy of q analytic (closed form) or sampled (-log q at "
                          "the sample); no-op elsewhere", choices=ENTROPY, kind=str)
    kl: str = option("sampled", "amortized problems: KL to the prior sampled (in the cost) or analytic",
                     choices=("sampled", "analytic"), kind=str)

    def check_applies(self, problem: Problem) -> None:
        require(problem, REPARAMETERIZABLE, "estimator 'pathwise'", "use score_function or a discrete-latent estimator")
        if self.entropy == "sampled":
            require(problem, HAS_ENTROPY, "pathwise:entropy=sampled", "use entropy=analytic, a no-op there")
        if self.kl == "analytic":
            require(problem, ANALYTIC_KL, "pathwise:kl=analytic", "use kl=sampled")

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        analytic = self.entropy == "analytic" and HAS_ENTROPY.satisfied_by(problem)

        def objective(p: Params) -> jax.Array:
            xs = jax.vmap(problem.latent, in_axes=(None, 0))(p, noise)
            if analytic:
                return jnp.mean(jax.vmap(problem.model_log_prob, in_axes=(None, 0))(p, xs)) + problem.entropy(p)
            cost = problem.cost_analytic_kl if self.kl == "analytic" else problem.cost
            return jnp.mean(jax.vmap(cost, in_axes=(None, 0))(p, xs))

        return jax.grad(objective)(params)

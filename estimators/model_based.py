"""Model-based pathwise gradients: differentiate real trajectories through a (possibly wrong) dynamics model."""

from __future__ import annotations

from typing import Any

import math

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.capabilities import KNOWN_DYNAMICS, require
from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.noise import sample_noise
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

MODELS = ("perturbed", "fitted")
#: Seed of the fixed directions in which ``model=perturbed`` moves A and B (NumPy, so they never change).
PERTURBATION_SEED = 0


def perturbed_model(a: np.ndarray, b: np.ndarray, relative_error: float | jax.Array) -> tuple[jax.Array, jax.Array]:
    """``Â = A + e‖A‖_F U_A``, ``B̂ = B + e‖B‖_F U_B`` with fixed random unit-Frobenius directions U."""
    rng = np.random.default_rng(PERTURBATION_SEED)
    u_a, u_b = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    u_a, u_b = u_a / np.linalg.norm(u_a), u_b / np.linalg.norm(u_b)
    e = jnp.asarray(relative_error)
    return a + e * np.linalg.norm(a) * u_a, b + e * np.linalg.norm(b) * u_b


def fitted_model(problem: Problem, params: Params, key: jax.Array, num_transitions: int
                 ) -> tuple[jax.Array, jax.Array]:
    """Least-squares ``[Â B̂]`` from ``num_transitions`` real transitions (s_t, a_t) -> s_{t+1} under the policy.

    The transitions come from ⌈N / T⌉ fresh trajectories (the first N of them are used); the policy's action
    noise makes (s_t, a_t) full rank. Maximum-likelihood dynamics fitting as in Gupta's model-based RL lecture
    ("maximum likelihood models"); run once in ``init``, not per estimate.
    """
    params = jax.lax.stop_gradient(params)
    dtype = params["offset"].dtype
    trajectories = math.ceil(num_transitions / problem.num_steps)
    noise = sample_noise(batched_noise(problem.latent_noise(params), trajectories), key, dtype)
    z = jax.vmap(problem.latent, in_axes=(None, 0))(params, noise)
    s, a, s_next = jax.vmap(problem.transitions)(z)
    n = s.shape[-1]
    inputs = jnp.concatenate([s, a], -1).reshape(-1, n + a.shape[-1])[:num_transitions]
    weights = jnp.linalg.lstsq(inputs, s_next.reshape(-1, n)[:num_transitions])[0]
    return weights[:n].T, weights[n:].T


@register_estimator
@pytree_dataclass
class ModelPathwise(Estimator):
    """Pathwise gradient through a dynamics MODEL of real trajectories (stochastic value gradients, SVG(∞)).

    The environment samples the trajectory from the true plant; the gradient flows through a model (Â, B̂):
    each next state is ``Â s_t + B̂ a_t + ξ_t`` with the noise ξ_t inferred from the real transition, so values
    are exact and only the Jacobians ∂s_{t+1}/∂(s_t, a_t) come from the model. Reference: Heess, Wayne, Silver,
    Lillicrap, Tassa & Erez (2015), "Learning Continuous Control Policies by Stochastic Value Gradients",
    §4 (SVG(∞), noise inferred from real data); Gupta's model-based RL lecture ("policy optimization with
    models": backpropagation through a learned model, model bias and compounding error).

    Model: ``perturbed`` moves A and B by ``model_error`` (relative Frobenius norm) along fixed random
    directions; ``fitted`` fits them by least squares on ``fit_transitions`` real transitions in ``init``.
    The entropy term is differentiated in closed form. Unbiased at ``model_error=0`` (it is then exactly the
    pathwise estimator); otherwise BIASED, and the bias compounds with the horizon through products of wrong
    Jacobians (measured). Applies to problems with known linear dynamics (``lqr``). K trajectories (cost
    evaluations) per estimate; ``fitted`` also uses ⌈fit_transitions / T⌉ rollouts once in ``init``.
    """

    name = "model_pathwise"
    summary = "pathwise gradient through a perturbed or fitted dynamics model (SVG(inf), Heess et al. 2015)"
    unbiased = False

    model: str = option("perturbed", "dynamics model: perturbed (A, B moved by model_error) or fitted (least "
                        "squares on fit_transitions transitions)", choices=MODELS, kind=str)
    model_error: float = option(0.0, "model=perturbed: relative Frobenius error of the model's A and B",
                                static=False, kind=float, minimum=0.0)
    fit_transitions: int = option(100, "model=fitted: real transitions used once to fit A and B", kind=int,
                                  minimum=1)
    samples: int = option(1, "K trajectories per estimate, averaged", kind=int, minimum=1)

    def check_applies(self, problem: Problem) -> None:
        require(problem, KNOWN_DYNAMICS, "estimator 'model_pathwise'", "use pathwise or a sequential estimator")
        a, b = problem.dynamics()
        unknowns = a.shape[0] + b.shape[1]
        if self.model == "fitted" and self.fit_transitions < unknowns:
            raise VarbenchError(f"model_pathwise:model=fitted needs fit_transitions >= state_dim + action_dim = "
                                f"{unknowns}; got {self.fit_transitions}")

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return self.samples

    def noise(self, problem: Problem, params: Params) -> Any:
        return batched_noise(problem.latent_noise(params), self.samples)

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        if self.model == "fitted":
            a_model, b_model = fitted_model(problem, params, key, self.fit_transitions)
        else:
            a_model, b_model = perturbed_model(*problem.dynamics(), self.model_error)
        dtype = params["offset"].dtype
        return {"A": jnp.asarray(a_model, dtype), "B": jnp.asarray(b_model, dtype)}

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        a_model, b_model = jax.lax.stop_gradient(state["A"]), jax.lax.stop_gradient(state["B"])

        def objective(p: Params) -> jax.Array:
            xs = jax.vmap(problem.latent_through_model, in_axes=(None, 0, None, None))(p, noise, a_model, b_model)
            return jnp.mean(jax.vmap(problem.model_log_prob, in_axes=(None, 0))(p, xs)) + problem.entropy(p)

        return jax.grad(objective)(params)

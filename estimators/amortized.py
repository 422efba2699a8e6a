"""Estimators that use the structure of amortized problems (``varbench.problems.amortized``): STL, DReG, VIMCO, NVIL.

They read the per-data-point, per-particle log weights ``log w_bk = log p_θ(x_b, z_bk) − log q_φ(z_bk | x_b)`` that
amortized problems expose (see :mod:`varbench.problems.amortized`); the problem's objective is ``−mean_b log (1/K) Σ_k w_bk``
(the negative ELBO for K = 1). Each estimate uses ONE latent draw of the problem (a minibatch with K latents per
data point), i.e. one cost evaluation.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from varbench.core.capabilities import AMORTIZED, REPARAMETERIZABLE, require
from varbench.core.errors import NotApplicableError
from varbench.core.estimator import Estimator, State
from varbench.core.noise import sample_noise
from varbench.core.numerics import logmeanexp
from varbench.core.problem import Params, Problem
from varbench.core.pytree import option, pytree_dataclass
from varbench.core.registry import register_estimator

stop = jax.lax.stop_gradient


def require_amortized(name: str, problem: Problem, *, reparameterizable: bool = False,
                      particles: str = "any") -> None:
    """Raise NotApplicableError unless ``problem`` is amortized (and reparameterizable / has K = 1 or K ≥ 2)."""
    require(problem, AMORTIZED, f"estimator {name!r}", "use score_function or pathwise")
    if reparameterizable:
        require(problem, REPARAMETERIZABLE, f"estimator {name!r}", "use score_function, nvil or vimco")
    if particles == "one" and problem.particles != 1:
        raise NotApplicableError(f"estimator {name!r} estimates the ELBO's gradient and needs particles=1; got "
                                 f"particles={problem.particles} (use dreg or vimco for the K-sample bound)")
    if particles == "many" and problem.particles < 2:
        raise NotApplicableError(f"estimator {name!r} is for the K-sample bound and needs particles >= 2 on the "
                                 f"problem; got particles={problem.particles} (use stl, nvil or score_function)")


def pick(grads: Params, names: list[str]) -> Params:
    """``grads`` restricted to ``names``, zeros elsewhere."""
    return {k: v if k in names else jnp.zeros_like(v) for k, v in grads.items()}


class OneDraw(Estimator):
    """One latent draw of the problem per estimate, on the amortized problems its class attributes admit."""

    #: needs a reparameterizable problem
    reparameterizable = False
    #: the problem's particles: ``"one"`` (the ELBO), ``"many"`` (the K-sample bound) or ``"any"``
    particles = "any"

    def check_applies(self, problem: Problem) -> None:
        require_amortized(self.name, problem, reparameterizable=self.reparameterizable, particles=self.particles)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 1

    def noise(self, problem: Problem, params: Params) -> Any:
        return problem.latent_noise(params)


@register_estimator
@pytree_dataclass
class StickingTheLanding(OneDraw):
    """"Sticking the landing": the pathwise ELBO gradient without the score term of log q.

    Roeder, Wu & Duvenaud (2017), "Sticking the Landing: Simple, Lower-Variance Gradient Estimators for
    Variational Inference", NeurIPS, eq. (8): ``∇ [log p_θ(x, z_φ(ε)) − log q_{stop(φ)}(z_φ(ε) | x)]``. The dropped
    term ``∇_φ log q_φ(z|x)`` at fixed z has mean zero, so the estimator is unbiased for the ELBO (K = 1); its
    variance vanishes when q equals the posterior. Assumes continuous, reparameterizable latents; one cost
    evaluation (one minibatch draw) per estimate.
    """

    name = "stl"
    summary = "sticking the landing: pathwise ELBO gradient with log q's score term dropped (Roeder et al. 2017)"

    reparameterizable = True
    particles = "one"

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        frozen = stop(params)

        def objective(p: Params) -> jax.Array:
            return -jnp.mean(problem.log_weights(p, problem.latent(p, noise), q_params=frozen))

        return jax.grad(objective)(params)


@register_estimator
@pytree_dataclass
class DReG(OneDraw):
    """Doubly-reparameterized gradient of the K-sample (IWAE) bound.

    Tucker, Lawson, Gu & Maddison (2019), "Doubly Reparameterized Gradient Estimators for Monte Carlo
    Objectives", ICLR, eq. (5)/(7): encoder gradient ``Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ`` (log q's parameters held
    fixed, w̃ the normalized weights); decoder gradient ``Σ_k w̃_k ∇_θ log p_θ(x, z_k)`` (the usual IWAE one).
    Unbiased for the IWAE bound's gradient. Needs a reparameterizable amortized problem with ``particles`` ≥ 2;
    one cost evaluation (one minibatch draw of K latents per point) per estimate.
    """

    name = "dreg"
    summary = "doubly-reparameterized IWAE gradient (Tucker et al. 2019); needs problem particles >= 2"

    reparameterizable = True
    particles = "many"

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        frozen, x = stop(params), stop(problem.latent(params, noise))

        def encoder_surrogate(p: Params) -> jax.Array:
            log_w = problem.log_weights(p, problem.latent(p, noise), q_params=frozen)
            weights = stop(jax.nn.softmax(log_w, -1))
            return -jnp.mean(jnp.sum(weights ** 2 * log_w, -1))

        def decoder_objective(p: Params) -> jax.Array:
            return -jnp.mean(logmeanexp(problem.log_weights(p, x), -1))

        groups = problem.param_groups()
        enc = pick(jax.grad(encoder_surrogate)(params), groups["encoder"])
        dec = pick(jax.grad(decoder_objective)(params), groups["decoder"])
        return jax.tree_util.tree_map(jnp.add, enc, dec)


def leave_one_out_bounds(log_w: jax.Array) -> jax.Array:
    """``L̂_{-k}``: the K-sample bound with log w_k replaced by the mean of the others' log weights, shape (B, K)."""
    k = log_w.shape[-1]
    others_mean = (jnp.sum(log_w, -1, keepdims=True) - log_w) / (k - 1)
    # Row j of the (K, K) substitution: sample j replaced by its leave-one-out geometric mean.
    eye = jnp.eye(k, dtype=bool)
    replaced = jnp.where(eye, others_mean[..., :, None], log_w[..., None, :])
    return logmeanexp(replaced, -1)


@register_estimator
@pytree_dataclass
class VIMCO(OneDraw):
    """VIMCO: score-function gradient of the K-sample bound with per-sample leave-one-out learning signals.

    Mnih & Rezende (2016), "Variational Inference for Monte Carlo Objectives", ICML, eqs. (8)–(10): the
    signal of sample k is ``L̂ − L̂_{-k}`` where ``L̂_{-k}`` replaces log w_k by the mean of the other log weights;
    plus the direct term ``Σ_k w̃_k ∇ log w_k`` at fixed z. Unbiased (the baseline of sample k does not depend
    on z_k). Applies to any amortized problem (discrete or continuous latents) with ``particles`` ≥ 2; one cost
    evaluation (one minibatch draw of K latents per point) per estimate.
    """

    name = "vimco"
    summary = "VIMCO leave-one-out score function for the K-sample bound (Mnih & Rezende 2016); particles >= 2"

    particles = "many"

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        x = stop(problem.latent(params, noise))
        log_w = stop(problem.log_weights(params, x))
        signal = logmeanexp(log_w, -1)[:, None] - leave_one_out_bounds(log_w)

        def surrogate(p: Params) -> jax.Array:
            log_q = problem.log_q_terms(p, x["data"], x["z"])
            bound = logmeanexp(problem.log_weights(p, x), -1)
            return -jnp.mean(jnp.sum(signal * log_q, -1) + bound)

        return jax.grad(surrogate)(params)


@register_estimator
@pytree_dataclass
class NVIL(OneDraw):
    """NVIL: per-data-point score-function signals centred by a learned input-dependent baseline.

    Mnih & Gregor (2014), "Neural Variational Inference and Learning in Belief Networks", ICML, §3: the encoder
    gradient ``mean_b (l_b − C_ψ(x_b)) ∇_φ log q_φ(z_b | x_b)`` with the local learning signal
    ``l_b = log p(x_b, z_b) − log q(z_b | x_b)`` of data point b only (other points' signals have zero-mean
    products with this score), plus the direct term at fixed z. Here ``C_ψ(x) = ψ·[x, 1]`` is linear in the
    input and is fitted in :meth:`update` by least squares (ridge 1e-3) on fresh draws — the minimiser of NVIL's
    objective ``E[(l − C_ψ(x))²]`` — accumulated over the warm-up updates; with no warm-up it is 0. NVIL's
    variance normalization is omitted (it rescales the gradient). Unbiased for fixed ψ. Applies to amortized
    problems with ``particles=1``; one cost evaluation per estimate (updates use one more draw each).
    """

    name = "nvil"
    summary = "NVIL: local learning signals with a fitted input-dependent baseline (Mnih & Gregor 2014)"
    stateful = True

    ridge: float = option(1e-3, "ridge added to the least-squares normal equations (relative to their scale)",
                          static=False, kind=float, minimum=0.0)

    particles = "one"

    def init(self, problem: Problem, params: Params, key: jax.Array) -> State:
        d = problem.dataset().shape[1] + 1
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        return {"xtx": jnp.zeros((d, d), dtype), "xty": jnp.zeros((d,), dtype)}

    def _draw(self, problem: Problem, params: Params, noise) -> tuple[jax.Array, jax.Array, dict]:
        x = stop(problem.latent(params, noise))
        signal = stop(problem.log_weights(params, x)[:, 0])
        features = jnp.concatenate([x["data"], jnp.ones_like(x["data"][:, :1])], -1)
        return features, signal, x

    def update(self, problem: Problem, params: Params, state: State, key: jax.Array) -> State:
        noise = sample_noise(self.noise(problem, params), key, jax.tree_util.tree_leaves(params)[0].dtype)
        features, signal, _ = self._draw(problem, params, noise)
        return {"xtx": state["xtx"] + features.T @ features, "xty": state["xty"] + features.T @ signal}

    def baseline_weights(self, state: State) -> jax.Array:
        """NVIL's baseline coefficients ψ of ``C_ψ(x) = ψ·[x, 1]`` (Mnih & Gregor 2014, §3), by ridge least squares.

        Solves ``(XᵀX + (ridge · tr(XᵀX)/d + 1e-12) I) ψ = Xᵀl`` from the sums :meth:`update` accumulated; with no
        updates the sums are zero and so is ψ.

        Args:
          state: ``{"xtx": (d, d), "xty": (d,)}``, d = data dimension + 1 (the features ``[x, 1]``).

        Returns:
          ψ, shape ``(d,)``.
        """
        xtx = state["xtx"]
        d = xtx.shape[0]
        scale = jnp.trace(xtx) / d
        return jnp.linalg.solve(xtx + (self.ridge * scale + 1e-12) * jnp.eye(d, dtype=xtx.dtype), state["xty"])

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        features, signal, x = self._draw(problem, params, noise)
        centred = stop(signal - features @ self.baseline_weights(state))

        def surrogate(p: Params) -> jax.Array:
            log_q = problem.log_q_terms(p, x["data"], x["z"])[:, 0]
            return -jnp.mean(centred * log_q) + problem.cost(p, x)

        return jax.grad(surrogate)(params)

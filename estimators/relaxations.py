"""Continuous relaxations of Bernoulli and categorical latents, shared by the discrete-latent estimators.

A discrete problem declares ``relaxation = "binary"`` (b ~ Bernoulli(σ(φ)), params ``logits`` of shape (dim,))
or ``"categorical"`` (one-hot z_d ~ Categorical(softmax(φ_d)), ``logits`` of shape (dim, K)), and a cost that
extends to relaxed latents (the unit cube, or the simplex). Sampling is written through uniforms u so that

* binary: ``z = φ + logit(u)`` is logistic with ``b = H(z) ~ Bernoulli(σ(φ))`` (Maddison et al. 2017);
* categorical: ``z = log softmax(φ) − log(−log u)`` is Gumbel with ``argmax z ~ Categorical`` (Gumbel-max);

and REBAR/RELAX's conditional sample ``z̃ ~ p(z | b)`` uses a second uniform v (Tucker et al. 2017, App. C;
Grathwohl et al. 2018, App. C). ``z̃`` is differentiable in φ with b held fixed.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from estimators.base import Estimator
from problems.base import Params, Problem
from varbench.errors import NotApplicableError
from varbench.noise import Noise

RELAXATIONS = ("binary", "categorical")


def relaxation_of(problem: Problem, estimator: str, *, binary_only: bool = False) -> str:
    """The problem's relaxation kind, or a one-line :class:`NotApplicableError` naming what applies."""
    kind = getattr(problem, "relaxation", None)
    if kind not in RELAXATIONS:
        raise NotApplicableError(f"estimator {estimator!r} needs a Bernoulli or categorical latent (problems "
                                 f"bernoulli, categorical); {problem.name!r} has none (use score_function)")
    if binary_only and kind != "binary":
        raise NotApplicableError(f"estimator {estimator!r} is defined for binary latents only (problem bernoulli); "
                                 f"for {problem.name!r} use rloo, rebar, relax or score_function")
    return kind


def uniform_noise(problem: Problem, params: Params, *, jumps: bool = True) -> Noise:
    """Uniforms of a relaxed sample's shape; binary ones declare where estimates jump: ``u = σ(∓φ)``, the
    thresholds of ``H(φ + logit u)`` and of the antithetic pair (so exact mode integrates piecewise)."""
    logits = params["logits"]
    if problem.relaxation == "binary" and jumps:
        return Noise("uniform", logits.shape, breakpoints=jax.nn.sigmoid(jnp.stack([-logits, logits], -1)))
    return Noise("uniform", logits.shape)


def _open_interval(u: jax.Array) -> jax.Array:
    """Uniforms moved off 0 (which ``jax.random.uniform`` can return), where log u is −inf."""
    return jnp.maximum(u, jnp.finfo(u.dtype).tiny)


def relaxed_sample(problem: Problem, logits: jax.Array, u: jax.Array) -> jax.Array:
    """Logistic (binary) or Gumbel (categorical) variable z whose hard threshold/argmax is the latent."""
    u = _open_interval(u)
    if problem.relaxation == "binary":
        return logits + jnp.log(u) - jnp.log1p(-u)
    return jax.nn.log_softmax(logits, axis=-1) - jnp.log(-jnp.log(u))


def hard(problem: Problem, z: jax.Array) -> jax.Array:
    """The discrete latent H(z) (0/1) or one_hot(argmax z)."""
    if problem.relaxation == "binary":
        return (z > 0).astype(z.dtype)
    return jax.nn.one_hot(jnp.argmax(z, axis=-1), z.shape[-1], dtype=z.dtype)


def conditional_sample(problem: Problem, logits: jax.Array, b: jax.Array, v: jax.Array) -> jax.Array:
    """``z̃ ~ p(z | H(z) = b)`` from uniforms v, differentiable in ``logits`` for fixed b."""
    v = _open_interval(v)
    if problem.relaxation == "binary":
        theta = jax.nn.sigmoid(logits)
        # u | b=1 ~ U(1−θ, 1) and u | b=0 ~ U(0, 1−θ); 1 − u is written without cancellation.
        u = jnp.where(b > 0, 1 - theta * (1 - v), v * (1 - theta))
        one_minus_u = jnp.where(b > 0, theta * (1 - v), 1 - v * (1 - theta))
        return logits + jnp.log(u) - jnp.log(one_minus_u)
    log_theta = jax.nn.log_softmax(logits, axis=-1)
    gumbel_b = -jnp.log(-jnp.sum(b * jnp.log(v), axis=-1, keepdims=True))  # the top Gumbel, at class b
    others = -jnp.log(-jnp.log(v) * jnp.exp(-log_theta) - jnp.sum(b * jnp.log(v), axis=-1, keepdims=True))
    return jnp.where(b > 0, gumbel_b, others)


def soften(problem: Problem, z: jax.Array, temperature: Any) -> jax.Array:
    """The relaxed latent σ(z/λ) (binary) or softmax(z/λ) (categorical)."""
    if problem.relaxation == "binary":
        return jax.nn.sigmoid(z / temperature)
    return jax.nn.softmax(z / temperature, axis=-1)


def probabilities(problem: Problem, logits: jax.Array) -> jax.Array:
    """E[b]: σ(φ) or softmax(φ)."""
    return jax.nn.sigmoid(logits) if problem.relaxation == "binary" else jax.nn.softmax(logits, axis=-1)


def control_variate_estimate(problem: Problem, params: Params, noise: Any,
                             control: Callable[[jax.Array], jax.Array]) -> Params:
    """The REBAR/RELAX estimate ``[f(b) − c(z̃)] ∇log p(b) + ∇c(z) − ∇c(z̃)`` for a control variate c.

    Grathwohl et al. (2018), eq. (8) (discrete case); REBAR is ``c(z) = η f(σ_λ(z))`` (Tucker et al. 2017,
    eq. (6)). ``noise`` holds the uniforms ``u`` (for z) and ``v`` (for z̃); every ∇ is a total derivative in
    the logits through the reparameterizations, so the estimate is unbiased for any c.
    """
    u, v = noise["u"], noise["v"]
    z = relaxed_sample(problem, params["logits"], u)
    b = jax.lax.stop_gradient(hard(problem, z))
    f_b = problem.cost(params, b)
    grad_c_z = jax.grad(lambda p: control(relaxed_sample(problem, p["logits"], u)))(params)
    c_zt, grad_c_zt = jax.value_and_grad(lambda p: control(conditional_sample(problem, p["logits"], b, v)))(params)
    score = jax.grad(lambda p: problem.log_prob(p, b))(params)
    coefficient = jax.lax.stop_gradient(f_b) - c_zt
    return jax.tree_util.tree_map(lambda s, a, c: coefficient * s + a - c, score, grad_c_z, grad_c_zt)


def antithetic_pair(logits: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two Bernoulli(σ(φ)) samples from one uniform: ``b = 1[u < σ(φ)]`` and ``b̃ = 1[1 − u < σ(φ)]``."""
    p = jax.nn.sigmoid(logits)
    return (u < p).astype(u.dtype), (1 - u < p).astype(u.dtype)


class AntitheticBinary(Estimator):
    """Shared interface of ARM and DisARM: binary latents, one uniform per latent, 2 cost evaluations."""

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name, binary_only=True)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 2

    def noise(self, problem: Problem, params: Params) -> Noise:
        return uniform_noise(problem, params)


class ConditionalRelaxation(Estimator):
    """Shared interface of REBAR and RELAX: uniforms u (for z) and v (for z̃ | b); f(b) and two relaxed costs."""

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 3

    def noise(self, problem: Problem, params: Params) -> dict:
        return {"u": uniform_noise(problem, params), "v": uniform_noise(problem, params, jumps=False)}

    @staticmethod
    def relaxed_cost(problem: Problem, params: Params, control: dict, z: jax.Array) -> jax.Array:
        """REBAR's control variate ``η f(σ_λ(z))`` with ``control = {"log_temperature", "eta", ...}``."""
        return control["eta"] * problem.cost(params, soften(problem, z, jnp.exp(control["log_temperature"])))

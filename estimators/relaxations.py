"""Continuous relaxations of Bernoulli and categorical latents, shared by the discrete-latent estimators.

A discrete problem declares ``relaxation = "binary"`` (b ~ Bernoulli(σ(φ))) or ``"categorical"`` (one-hot b ~
Categorical(softmax(φ)) over the last axis) and the hooks of :mod:`varbench.problems.discrete`: the logits φ as a function
of the params and a *context* (an amortized problem's minibatch), and per-unit costs that extend to relaxed
latents (the unit cube, or the simplex). Estimates are formed for the logits, per cost unit, then pulled back to
the params through ``jax.vjp`` of the logits and added to the direct gradient (the cost's own dependence on the
params at fixed latents). Sampling is written through uniforms u so that

* binary: ``z = φ + logit(u)`` is logistic with ``b = H(z) ~ Bernoulli(σ(φ))`` (Maddison et al. 2017);
* categorical: ``z = log softmax(φ) − log(−log u)`` is Gumbel with ``argmax z ~ Categorical`` (Gumbel-max);

and REBAR/RELAX's conditional sample ``z̃ ~ p(z | b)`` uses a second uniform v (Tucker et al. 2017, App. C;
Grathwohl et al. 2018, App. C). ``z̃`` is differentiable in φ with b held fixed.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from varbench.core.capabilities import BINARY, DISCRETE, require
from varbench.core.estimator import Estimator, State
from varbench.core.noise import Bernoulli, Categorical, Noise, is_noise, sample_noise
from varbench.core.problem import Params, Problem

RELAXATIONS = ("binary", "categorical")


def relaxation_of(problem: Problem, estimator: str, *, binary_only: bool = False) -> str:
    """The problem's relaxation kind, or a one-line :class:`NotApplicableError` naming what applies."""
    require(problem, DISCRETE, f"estimator {estimator!r}", "use score_function")
    if binary_only:
        require(problem, BINARY, f"estimator {estimator!r} (defined for binary latents only)",
                "use rloo, rebar, relax or score_function")
    return problem.relaxation


def fixed_context(problem: Problem) -> bool:
    """The logits depend on the params alone (no minibatch noise), so noise can be declared from their values."""
    return not jax.tree_util.tree_leaves(problem.context_noise(), is_leaf=is_noise)


def logits_shape(problem: Problem, params: Params) -> tuple[int, ...]:
    """The shape of ``problem.latent_logits`` (without drawing a context)."""
    context = problem.context_noise()
    return jax.eval_shape(lambda key: problem.latent_logits(params, sample_noise(context, key)),
                          jax.random.key(0)).shape


def logit_noise(problem: Problem, params: Params, *, jumps: bool = True) -> dict:
    """``{"context": the problem's context noise, "u": uniforms shaped like the logits}``.

    With a fixed context, binary uniforms declare where estimates jump: ``u = σ(∓φ)``, the thresholds of
    ``H(φ + logit u)`` and of the antithetic pair (so exact mode integrates piecewise). With a random context
    (minibatches) the thresholds move with it, so none are declared; exact mode then refuses to converge.
    """
    context = problem.context_noise()
    if not fixed_context(problem):
        return {"context": context, "u": Noise("uniform", logits_shape(problem, params))}
    logits = problem.latent_logits(params, {})
    if problem.relaxation == "binary" and jumps:
        return {"context": context, "u": Noise("uniform", logits.shape,
                                               breakpoints=jax.nn.sigmoid(jnp.stack([-logits, logits], -1)))}
    return {"context": context, "u": Noise("uniform", logits.shape)}


def latent_noise(problem: Problem, params: Params) -> dict:
    """Noise for one draw of the discrete latents themselves: with a fixed context a ``Bernoulli`` or
    ``Categorical`` block (exact mode enumerates it) under ``"b"``; otherwise uniforms (see :func:`draw_latents`)."""
    if not fixed_context(problem):
        return logit_noise(problem, params, jumps=False)
    logits = problem.latent_logits(params, {})
    block = Bernoulli(jax.nn.sigmoid(logits)) if problem.relaxation == "binary" else Categorical(logits)
    return {"context": problem.context_noise(), "b": block}


def draw_latents(problem: Problem, logits: jax.Array, noise: dict) -> jax.Array:
    """The discrete latents of :func:`latent_noise`: the enumerated block, or ``H(relaxed_sample(φ, u))``."""
    return noise["b"] if "b" in noise else hard(problem, relaxed_sample(problem, logits, noise["u"]))


def logits_and_pullback(problem: Problem, params: Params, context: Any) -> tuple[jax.Array, Callable]:
    """The logits and a map from a gradient for them to a params-shaped gradient (``jax.vjp``)."""
    logits, vjp = jax.vjp(lambda p: problem.latent_logits(p, context), params)
    return logits, lambda g: vjp(g)[0]


def per_unit(values: jax.Array, logits: jax.Array) -> jax.Array:
    """Per-cost-unit values (shape ``logits.shape[:cost_unit_axes]``) broadcast against the logits."""
    return values.reshape(values.shape + (1,) * (logits.ndim - values.ndim))


def direct_gradient(problem: Problem, params: Params, context: Any, *latents: jax.Array) -> Params:
    """The direct gradient (``problem.direct_surrogate``) averaged over latents that are each distributed as q."""
    grads = [jax.grad(problem.direct_surrogate)(params, context, jax.lax.stop_gradient(b)) for b in latents]
    return jax.tree_util.tree_map(lambda *g: sum(g) / len(g), *grads)


def add(a: Params, b: Params) -> Params:
    """The sum of two params-shaped pytrees, leaf by leaf."""
    return jax.tree_util.tree_map(jnp.add, a, b)


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


def score_of_logits(problem: Problem, logits: jax.Array, b: jax.Array) -> jax.Array:
    """``∇_φ log p(b; φ)`` per latent: ``b − σ(φ)`` or ``b − softmax(φ)`` (b one-hot)."""
    return b - probabilities(problem, logits)


def control_variate_estimate(problem: Problem, params: Params, noise: Any,
                             control: Callable[[jax.Array], jax.Array]) -> Params:
    """The REBAR/RELAX estimate ``[f(b) − c(z̃)] ∇log p(b) + ∇c(z) − ∇c(z̃)`` for a control variate c.

    Grathwohl et al. (2018), eq. (8) (discrete case); REBAR is ``c(z) = η f(σ_λ(z))`` (Tucker et al. 2017,
    eq. (6)). ``noise`` holds the context, the uniforms ``u`` (for z) and ``v`` (for z̃). ``control`` maps relaxed
    samples (shaped like the logits) to one value per cost unit, and unit u's value depends on unit u's latents
    only, so each unit's logits get their own learning signal ``f_u(b) − c_u(z̃)``. The ∇s are total derivatives
    in the logits through the reparameterizations, so the estimate is unbiased for any c; it is pulled back to the
    params and added to the direct gradient at b.
    """
    context, u, v = noise["context"], noise["u"], noise["v"]
    logits, pullback = logits_and_pullback(problem, params, context)
    z = relaxed_sample(problem, logits, u)
    b = jax.lax.stop_gradient(hard(problem, z))
    f_b = jax.lax.stop_gradient(problem.unit_costs(params, context, b))
    grad_c_z = jax.grad(lambda l: jnp.sum(control(relaxed_sample(problem, l, u))))(logits)
    c_zt, c_zt_vjp = jax.vjp(lambda l: control(conditional_sample(problem, l, b, v)), logits)
    (grad_c_zt,) = c_zt_vjp(jnp.ones_like(c_zt))
    g_logits = per_unit(f_b - c_zt, logits) * score_of_logits(problem, logits, b) + grad_c_z - grad_c_zt
    return add(pullback(g_logits), direct_gradient(problem, params, context, b))


def antithetic_pair(logits: jax.Array, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two Bernoulli(σ(φ)) samples from one uniform: ``b = 1[u < σ(φ)]`` and ``b̃ = 1[1 − u < σ(φ)]``."""
    p = jax.nn.sigmoid(logits)
    return (u < p).astype(u.dtype), (1 - u < p).astype(u.dtype)


class AntitheticBinary(Estimator):
    """Shared structure of ARM and DisARM: binary latents, one uniform per latent, 2 cost evaluations.

    Both evaluate each unit's cost at the antithetic pair ``b = 1[u < σ(φ)]``, ``b̃ = 1[1 − u < σ(φ)]``, form a
    gradient for the logits from the difference (:meth:`logit_gradient`), pull it back to the params and add the
    direct gradient averaged over b and b̃ (each distributed as q).
    """

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name, binary_only=True)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 2

    def noise(self, problem: Problem, params: Params) -> dict:
        return logit_noise(problem, params)

    def logit_gradient(self, logits: jax.Array, u: jax.Array, b: jax.Array, b_tilde: jax.Array,
                       difference: jax.Array) -> jax.Array:
        """The estimate for the logits, given ``difference = f(b̃) − f(b)`` broadcast per cost unit."""
        raise NotImplementedError

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        context, u = noise["context"], noise["u"]
        logits, pullback = logits_and_pullback(problem, params, context)
        b, b_tilde = antithetic_pair(logits, u)
        difference = problem.unit_costs(params, context, b_tilde) - problem.unit_costs(params, context, b)
        g_logits = self.logit_gradient(logits, u, b, b_tilde, per_unit(jax.lax.stop_gradient(difference), logits))
        return add(pullback(g_logits), direct_gradient(problem, params, context, b, b_tilde))


class RelaxedPathwise(Estimator):
    """Shared structure of Gumbel-softmax and straight-through (both BIASED): one cost evaluation at a surrogate
    latent that is differentiable in the logits, differentiated in all params through the problem's unit costs."""

    unbiased = False

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 1

    def surrogate_latents(self, problem: Problem, logits: jax.Array, noise: dict) -> jax.Array:
        """The latents the cost is evaluated at, as a differentiable function of the logits."""
        raise NotImplementedError

    def estimate_from_noise(self, problem: Problem, params: Params, state: State, noise: Any) -> Params:
        context = noise["context"]

        def surrogate_cost(p: Params) -> jax.Array:
            latents = self.surrogate_latents(problem, problem.latent_logits(p, context), noise)
            return jnp.sum(problem.unit_costs(p, context, latents))

        return jax.grad(surrogate_cost)(params)


class ConditionalRelaxation(Estimator):
    """Shared interface of REBAR and RELAX: uniforms u (for z) and v (for z̃ | b); f(b) and two relaxed costs."""

    def check_applies(self, problem: Problem) -> None:
        relaxation_of(problem, self.name)

    def evaluations_per_estimate(self, problem: Problem) -> int:
        return 3

    def noise(self, problem: Problem, params: Params) -> dict:
        return {**logit_noise(problem, params), "v": logit_noise(problem, params, jumps=False)["u"]}

    @staticmethod
    def relaxed_cost(problem: Problem, params: Params, context: Any, control: dict, z: jax.Array) -> jax.Array:
        """REBAR's control variate ``η f(σ_λ(z))`` per cost unit, ``control = {"log_temperature", "eta", ...}``."""
        relaxed = soften(problem, z, jnp.exp(control["log_temperature"]))
        return control["eta"] * problem.unit_costs(jax.lax.stop_gradient(params), context, relaxed)

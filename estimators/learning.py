"""Estimators that learn: state-dependent flags and a variance-minimising Adam step for control parameters."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from varbench.core.noise import sample_noise


class OptionFlag:
    """A class flag (``stateful``, ``unbiased``) that depends on an instance's options (e.g. ``baseline=ema``).

    On the class it reads ``on_class`` (what ``varbench list`` shows); on an instance, ``predicate(self)``, which
    is what the harness and ``varbench check`` consult.
    """

    def __init__(self, predicate: Callable[[Any], bool], on_class: bool = False) -> None:
        self.predicate, self.on_class = predicate, on_class

    def __get__(self, obj: Any, owner: type) -> bool:
        return self.on_class if obj is None else bool(self.predicate(obj))


StatefulWhen = OptionFlag  # the name the stateful estimators use


def squared_norm(tree: Any) -> jax.Array:
    """The squared Euclidean norm ``‖g‖²`` of a pytree, summed over all its leaves (a scalar)."""
    return sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree))


def init_learned(control: Any) -> dict:
    """State of a learned control: its parameters and Adam's moments."""
    return {"control": control, "adam": optax.adam(1.0).init(control)}


def variance_step(estimate: Callable[[Any, jax.Array], Any], state: dict, key: jax.Array, *, samples: int,
                  learning_rate: Any) -> dict:
    """One Adam step on the control parameters ψ that minimises the estimator's variance.

    ``estimate(ψ, key)`` is one gradient estimate. Because the estimator is unbiased for every ψ, ``E[g]`` does
    not depend on ψ and ``∇_ψ Var(g) = ∇_ψ E[‖g‖²]``, estimated without bias by the mean of ``‖g‖²`` over
    ``samples`` fresh estimates (Tucker et al. 2017, §3.3; Grathwohl et al. 2018, §3.3 and Algorithm 1).
    """
    keys = jax.random.split(key, samples)

    def loss(control: Any) -> jax.Array:
        return jnp.mean(jax.vmap(lambda k: squared_norm(estimate(control, k)))(keys))

    grads = jax.grad(loss)(state["control"])
    # Adam's update is linear in the learning rate, so one transformation with rate 1 serves every traced rate.
    updates, adam = optax.adam(1.0).update(grads, state["adam"], state["control"])
    control = jax.tree_util.tree_map(lambda c, u: c + learning_rate * u, state["control"], updates)
    return {"control": control, "adam": adam}


def learn_control(estimator: Any, problem: Any, params: Any, state: dict, key: jax.Array) -> dict:
    """:func:`variance_step` for an estimator with ``estimate_with(problem, params, control, noise)`` and options
    ``update_samples`` and ``lr`` (REBAR with ``tune=variance``, RELAX)."""
    dtype = jax.tree_util.tree_leaves(params)[0].dtype

    def estimate(control: Any, k: jax.Array) -> Any:
        noise = sample_noise(estimator.noise(problem, params), k, dtype)
        return estimator.estimate_with(problem, params, control, noise)

    return variance_step(estimate, state, key, samples=estimator.update_samples, learning_rate=estimator.lr)

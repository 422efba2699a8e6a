"""Counting the cost evaluations one estimate really makes, to check ``evaluations_per_estimate``.

A *cost evaluation* is one evaluation of the integrand at one latent draw, through any of the hooks that compute
it: ``cost``, a discrete problem's ``unit_costs``, a sequential problem's ``rewards``, an amortized problem's
``log_weights`` or ``cost_analytic_kl``, or a sequential problem's ``model_log_prob`` (the cost without its
``−log q`` part, which pathwise gradients with an analytic entropy evaluate). Evaluating it again at the same draw
(its value, then its gradient in the params) counts once; calls a hook makes to another hook (``cost`` summing
``rewards``) count once, at the outermost hook; and the direct-gradient surrogate of discrete problems (the
gradient of the cost at latents already drawn and evaluated) is not a new evaluation.

The counter wraps the problem's hooks in a subclass and inserts a ``jax.debug.callback`` at each outermost call.
The callback receives a marker batched like the latent argument, so an estimate that vmaps the cost over K
samples counts K, and one inside a ``scan`` counts each step.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.pytree import pytree_dataclass

#: Hooks that evaluate the integrand at a latent draw (their last argument).
COUNTED_HOOKS = ("cost", "unit_costs", "rewards", "log_weights", "cost_analytic_kl", "model_log_prob")
#: Hooks whose inner calls are not new evaluations.
SILENT_HOOKS = ("direct_surrogate",)

_depth = [0]        # nesting of hook calls while tracing (Python-side; tracing is single-threaded)
_draws: list = []   # the draws (lists of leaf tracers) already counted in this trace: the same draw counts once
_evaluations = [0]  # evaluations counted by the callbacks of the running estimate


_continuous_draws: set = set()  # bytes of the continuous draws counted so far in the running estimate


def _tally(discrete: bool, marker: Any, *draw: Any) -> None:
    """Count the draws of one hook call of a problem whose latents are ``discrete`` or not (``marker`` has the
    batch shape, each leaf of ``draw`` the batch shape and its own).

    A continuous draw met again (the same values: two independent continuous draws coincide with probability 0)
    is the same draw computed twice, as DReG does for its encoder and decoder terms, and counts once; discrete
    draws repeat values by chance, so each is counted (a value and gradient at the same draw were already
    merged while tracing). A draw is discrete only on a problem that declares discrete latents
    (``Problem.discrete``) and then only where its values are integers (a relaxation's continuous draw on such a
    problem, as REBAR's, is continuous): on a continuous problem, values that happen to be integers (a control
    variate's expansion point at ``mean = 1``) are still a continuous draw, so the count does not depend on the
    params.
    """
    count = max(int(np.size(marker)), 1)
    rows = np.concatenate([np.asarray(leaf, np.float64).reshape(count, -1) for leaf in draw], axis=1)
    for row in rows:
        if discrete and np.all(row == np.round(row)):
            _evaluations[0] += 1
        elif row.tobytes() not in _continuous_draws:
            _continuous_draws.add(row.tobytes())
            _evaluations[0] += 1


def _root(x: Any) -> Any:
    """The array a tracer stands for, through vmap's and autodiff's wrappers: two vmaps over the same draws, or
    a value and a gradient at the same draw, then share one root (the same draw is one evaluation)."""
    for _ in range(64):
        inner = getattr(x, "val", None) if isinstance(x, jax.core.Tracer) else None
        if inner is None and isinstance(x, jax.core.Tracer):
            inner = getattr(x, "primal", None)
        if inner is None:
            return x
        x = inner
    return x


def _wrap(method: Any, counted: bool) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        outermost = _depth[0] == 0
        _depth[0] += 1
        try:
            out = method(self, *args, **kwargs)
        finally:
            _depth[0] -= 1
        leaves = jax.tree_util.tree_leaves(args[-1]) if args else []
        roots = [_root(leaf) for leaf in leaves]
        seen = any(len(draw) == len(roots) and all(a is b for a, b in zip(draw, roots)) for draw in _draws)
        if outermost and counted and leaves and not seen:
            _draws.append(roots)
            # A scalar per draw that is batched exactly like the draw (vmap over samples makes it a vector).
            marker = jnp.zeros(()) * sum(jnp.sum(jnp.asarray(leaf, jnp.float32)) for leaf in leaves)
            jax.debug.callback(functools.partial(_tally, bool(type(self).discrete)), marker, *leaves)
        return out
    return wrapper


@functools.lru_cache(maxsize=64)
def _counting_class(cls: type) -> type:
    namespace = {name: _wrap(getattr(cls, name), name in COUNTED_HOOKS)
                 for name in COUNTED_HOOKS + SILENT_HOOKS if callable(getattr(cls, name, None))}
    namespace["name"] = cls.name
    return pytree_dataclass(type(f"Counting{cls.__name__}", (cls,), namespace))


def counting_problem(problem: Any) -> Any:
    """A copy of ``problem`` whose integrand hooks count their evaluations (same options, same results)."""
    sub = _counting_class(type(problem))
    values = {f.name: getattr(problem, f.name) for f in dataclasses.fields(problem) if f.init}
    return sub(**values)


def count_evaluations(problem: Any, estimator: Any, params: Any, state: Any, key: jax.Array) -> int:
    """The number of cost evaluations one ``estimator.estimate`` makes on ``problem`` at ``params``."""
    counted = counting_problem(problem)
    _evaluations[0] = 0
    estimate = jax.jit(lambda pr, pa, st, k: estimator.estimate(pr, pa, st, k))
    try:
        jax.block_until_ready(estimate(counted, params, state, key))
        jax.effects_barrier()
    finally:
        _draws.clear()
        _continuous_draws.clear()
    return _evaluations[0]

"""A stateful estimator's state before measuring: initialized or the caller's (checked), then warmed up.

The state is frozen while measuring, so the variance measured is that of a fixed estimator. ``init`` and the
warm-up loop are one-off helpers, compiled at the short-run tier (:func:`varbench.engine.compile_tier.jit`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import VarbenchError
from varbench.core.estimator import State
from varbench.engine import compile_tier
from varbench.engine.subject import Subject


@compile_tier.jit
def init_state(subject: Subject, key: jax.Array) -> State:
    """The estimator's ``init`` at the subject's problem and params (its ``state`` is ignored), compiled.

    Args:
      subject: what is measured.
      key: PRNG key of the initialization.

    Returns:
      The estimator's fresh state.
    """
    return subject.estimator.init(subject.problem, subject.params, key)


@compile_tier.jit
def _warm_up(subject: Subject, key: jax.Array, steps: jax.Array) -> State:
    """``steps`` updates of a stateful estimator's state at fixed params; ``steps`` is traced (no recompile)."""
    problem, estimator, params, state = subject

    def body(i: jax.Array, s: State) -> State:
        return estimator.update(problem, params, s, jax.random.fold_in(key, i))
    return jax.lax.fori_loop(0, steps, body, state)


def prepare_state(subject: Subject, key: jax.Array, warmup: int) -> State:
    """The estimator's state after ``warmup`` updates at the subject's params (then frozen while measuring).

    Args:
      subject: what is measured; its ``state`` is the one to start from, or None for a fresh ``init``.
      key: PRNG key, split into the initialization's and the warm-up's.
      warmup: updates of a stateful estimator (ignored by a stateless one).

    Returns:
      The state, shaped as the estimator's ``init`` returns it.
    """
    key_init, key_warmup = jax.random.split(key)
    if subject.state is None:
        state = init_state(subject, key_init)
    else:
        state = check_state(subject)
    if warmup and subject.estimator.stateful:
        state = _warm_up(subject.replace(state=state), key_warmup, np.int32(warmup))
    return state


def check_state(subject: Subject) -> State:
    """A caller's state as arrays shaped like the estimator's ``init``'s, or a one-line error.

    The state must have the structure, shapes and kinds of numbers that ``init`` returns (so the kernel compiled
    for it is reused); a stateless estimator's is the empty ``()``, so a real state given to it (which it would
    silently ignore) is refused.

    Args:
      subject: what is measured, with the caller's ``state``.

    Returns:
      The state, its leaves as arrays of ``init``'s dtypes.
    """
    problem, estimator, params, state = subject
    expected = jax.eval_shape(estimator.init, problem, params, jax.random.key(0))
    want, got = jax.tree_util.tree_structure(expected), jax.tree_util.tree_structure(state)
    shape_of = lambda x: tuple(np.shape(x))
    if want != got and not estimator.stateful:
        raise VarbenchError(f"estimator {estimator.name!r} is stateless and takes no state; pass state=None "
                            "(a state is for stateful estimators such as relax or nvil)")
    if want != got:
        layout = jax.tree_util.tree_map(shape_of, expected)
        raise VarbenchError(f"state of estimator {estimator.name!r} must have the structure its init returns "
                            f"(shapes {_short(layout)}); got {_short(state)}")

    def leaf(path: Any, e: jax.ShapeDtypeStruct, x: Any) -> jax.Array:
        same_dtype = getattr(x, "dtype", None) == e.dtype  # also admits typed PRNG keys, which have no NumPy kind
        if shape_of(x) != e.shape or not (same_dtype or np.asarray(x).dtype.kind in "biuf"):
            raise VarbenchError(f"state of estimator {estimator.name!r}: leaf {jax.tree_util.keystr(path)} "
                                f"must be a real array of shape {e.shape}; got {_short(x)}")
        return jnp.asarray(x, e.dtype)
    return jax.tree_util.tree_map_with_path(leaf, expected, state)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."

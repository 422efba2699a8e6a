"""The engine's entry points refuse bad input before the first kernel runs, each with a one-line error."""

from __future__ import annotations

from typing import Any, Sequence

import jax

from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.options import is_integer
from varbench.core.problem import Problem
from varbench.engine._chunks import MIN_CHUNK
from varbench.engine.prng import check_prng, check_seed

METHODS = ("mc", "exact")
#: Most estimates one measurement streams (chunks are counted by 32-bit integers, of at least MIN_CHUNK each).
MAX_SAMPLES = 2 ** 31 * MIN_CHUNK - 1
#: Most warm-up updates of a stateful estimator (a 32-bit loop count).
MAX_WARMUP = 2 ** 31 - 1


def check_samples(num_samples: Any) -> int:
    """``num_samples`` as an int if it is an integer in [1, :data:`MAX_SAMPLES`], else a one-line error.

    Args:
      num_samples: the number of estimates asked for.

    Returns:
      It, as an int.
    """
    if not is_integer(num_samples) or num_samples <= 0:
        raise VarbenchError(f"num_samples must be a positive integer; got {num_samples!r}")
    if num_samples > MAX_SAMPLES:
        raise VarbenchError(f"num_samples must be at most {MAX_SAMPLES}; got {num_samples}")
    return int(num_samples)


def check_run(method: str, seed: Any, warmup: Any, prng: str) -> None:
    """Refuse, with a one-line error, a bad option that every measurement shares.

    Args:
      method: one of :data:`METHODS`.
      seed: an integer in [0, :data:`varbench.engine.prng.MAX_SEED`].
      warmup: an integer number of steps in [0, :data:`MAX_WARMUP`].
      prng: a known generator.
    """
    if method not in METHODS:
        raise VarbenchError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    check_seed(seed)
    if not is_integer(warmup) or not 0 <= warmup <= MAX_WARMUP:
        raise VarbenchError(f"warmup must be a non-negative integer number of steps; got {warmup!r}")
    check_prng(prng)


def check_exact_budget(budget: Any) -> None:
    """Refuse an exact-mode budget that is not None or a positive integer number of quadrature points."""
    if budget is not None and (not is_integer(budget) or budget <= 0):
        raise VarbenchError(f"exact_budget must be None or a positive integer number of quadrature points; got "
                            f"{budget!r}")


def check_objects(problems: Sequence[Any], estimator: Any) -> None:
    """Refuse anything but problem and estimator objects (the engine takes objects; spec strings are resolved above
    it).

    Args:
      problems: each must be a :class:`Problem`.
      estimator: must be an :class:`Estimator`.
    """
    for problem in problems:
        if not isinstance(problem, Problem) or not isinstance(estimator, Estimator):
            raise VarbenchError("the engine measures varbench.Problem and varbench.Estimator objects; got "
                                f"{type(problem).__name__} and {type(estimator).__name__} (varbench.measure also "
                                "takes spec strings)")


def check_grid_size(problems: Sequence[Problem], params: Sequence[Any]) -> None:
    """Refuse a ``measure_batch`` grid without points, or without one params entry per problem.

    Args:
      problems: the grid's problems.
      params: its params entries.
    """
    if not problems or len(params) != len(problems):
        raise VarbenchError("measure_batch needs one params entry (or None) per problem, and at least one point")


def check_grid_structure(problems: Sequence[Problem]) -> None:
    """Refuse ``measure_batch`` grid points that differ in structure (one structure, one compiled kernel).

    Args:
      problems: the grid's problems.
    """
    structures = {jax.tree_util.tree_structure(p) for p in problems}
    if len(structures) != 1:
        raise VarbenchError("measure_batch grid points must differ only in option values, not in static options "
                            f"(got {len(structures)} structures); group them by static options first")

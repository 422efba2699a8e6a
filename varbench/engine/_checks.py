"""The engine's entry points refuse bad input before the first kernel runs, each with a one-line error."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import EstimatorContractError, EstimatorRaisedError, VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.options import is_integer
from varbench.core.problem import Problem
from varbench.engine._chunks import MIN_CHUNK
from varbench.engine.prng import check_prng, check_seed
from varbench.engine.subject import Subject

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


# --- the estimator contract ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def estimator_code(estimator: Estimator, where: str) -> Iterator[None]:
    """Run an estimator's own code: an exception it raises that is not a :class:`VarbenchError` (nor a
    ``MemoryError``) becomes an :class:`EstimatorRaisedError` naming the estimator, the exception's type and its
    message's first line.

    Args:
      estimator: whose code runs inside the block.
      where: what it was doing, for the message (``"while traced"``).

    Raises:
      EstimatorRaisedError: the code raised.
    """
    try:
        yield
    except (VarbenchError, MemoryError):
        raise
    except Exception as err:  # noqa: BLE001 - user code can raise anything; a person gets one line naming it
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        text = text if len(text) <= 300 else text[:297] + "..."
        raise EstimatorRaisedError(f"estimator {estimator.name!r} raised {type(err).__name__} {where}"
                                   + (f": {text}" if text else "")) from err


def check_evaluations(estimator: Estimator, problem: Problem) -> int:
    """The estimator's ``evaluations_per_estimate`` on ``problem`` if it is a positive int, else a one-line error.

    Args:
      estimator: the estimator measured.
      problem: the problem measured.

    Returns:
      The evaluations one estimate makes, as an int.

    Raises:
      EstimatorContractError: it is not a positive integer (or the method raised).
    """
    with estimator_code(estimator, "in evaluations_per_estimate"):
        n = estimator.evaluations_per_estimate(problem)
    if isinstance(n, (np.ndarray, np.generic, jax.Array)) and np.shape(n) == () and np.asarray(n).dtype.kind in "iu":
        n = np.asarray(n).item()  # an integer option leaf (a 0-d array in a kernel's subject) counts
    if not is_integer(n) or n <= 0:
        raise EstimatorContractError(f"evaluations_per_estimate of estimator {estimator.name!r} must return a "
                                     f"positive int, got {_short(n)}")
    return int(n)


def one_estimate(subject: Subject, key: jax.Array) -> Any:
    """One estimate at the subject's problem and params, from the estimator's fresh state (traced only)."""
    problem, estimator, params, _ = subject
    return estimator.estimate(problem, params, estimator.init(problem, params, key), key)


def check_contract(points: Sequence[Subject]) -> None:
    """Refuse, before anything compiles, an estimator that breaks the estimator contract: the one place that checks
    it for every measurement (Monte Carlo, exact mode, grids).

    One estimate is traced abstractly (``jax.eval_shape``: nothing runs, and the trace is cached like a jitted
    function's) at the first point; the points of a grid share its structure, hence the estimate's. The estimate
    must be ``{name: array}`` with the params' names, each array of its param's shape and of a real floating dtype
    (a complex, integer or boolean estimate would lose its imaginary part or be rounded silently), and
    ``evaluations_per_estimate`` a positive int at every point.

    Args:
      points: what is measured, as :func:`varbench.engine._kernels.kernel_subject` prepares it (its state is not
        used: the estimate is traced from the estimator's ``init``).

    Raises:
      EstimatorContractError: one line naming the estimator and what is wrong.
      EstimatorRaisedError: the estimator's code raised while traced.
    """
    for subject in points:
        check_evaluations(subject.estimator, subject.problem)
    first = points[0]
    with estimator_code(first.estimator, "while traced"):
        estimate = jax.eval_shape(one_estimate, first.replace(state=()), jax.random.key(0))
    _check_estimate(first.estimator, first.params, estimate)


def _check_estimate(estimator: Estimator, params: Mapping[str, Any], estimate: Any) -> None:
    """Refuse an (abstract) estimate that is not a real gradient shaped like ``params``."""
    name = estimator.name
    if not isinstance(estimate, Mapping) or set(estimate) != set(params):
        got = f"names {sorted(map(str, estimate))}" if isinstance(estimate, Mapping) else type(estimate).__name__
        raise EstimatorContractError(f"estimator {name!r} must return a gradient {{name: array}} with the params' "
                                     f"names ({', '.join(params)}); got {got}")
    for key, value in params.items():
        got = estimate[key]
        if not isinstance(got, jax.ShapeDtypeStruct):
            raise EstimatorContractError(f"estimator {name!r} returned a {type(got).__name__} for param {key!r}; a "
                                         "gradient holds one array per param")
        if tuple(got.shape) != tuple(np.shape(value)):
            raise EstimatorContractError(f"estimator {name!r} returned a gradient of shape {tuple(got.shape)} for "
                                         f"param {key!r} of shape {tuple(np.shape(value))}")
        if not jnp.issubdtype(got.dtype, jnp.floating):
            raise EstimatorContractError(f"estimator {name!r} returned a gradient of dtype {got.dtype} for param "
                                         f"{key!r}; an estimate must be real floating point, like the params "
                                         f"({jnp.result_type(value)})")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."

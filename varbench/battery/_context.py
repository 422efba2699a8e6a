"""What a check is given (the estimator and problem at one check point, the level, the seed, the test size) and the
bias measurement there, which the bias check and the variance check share."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import numpy as np

from varbench import catalog, unbiasedness
from varbench.battery._report import CheckRow, Level, Status
from varbench.check_points import CheckPoint
from varbench.core.errors import NonFiniteEstimateError, NotApplicableError
from varbench.core.estimator import Estimator
from varbench.core.naming import spec_of
from varbench.core.problem import Problem
from varbench.engine import harness
from varbench.engine.result import Result
from varbench.engine.subject import Subject
from varbench.unbiasedness import BiasTest

#: Offsets added to the battery's seed, one stream per use, so that no two measurements share their noise.
RUNS_SEED, RUNS_PERTURBED_SEED = 11, 12
EVALUATIONS_SEED, BIAS_SEED, VARIANCE_SEED, STATE_SEED = 5, 101, 202, 303
#: The largest offset: a bias test's pilot run, at the bias seed plus the pilot's own offset.
SEED_SPAN = BIAS_SEED + unbiasedness.PILOT_SEED_OFFSET
#: Exact mode holds every quadrature point's estimate in memory (points × parameter scalars); the battery uses it
#: only for problems with at most this many parameter scalars (the toys, Gaussians, lgssm, hmm), and the
#: statistical test for the others (amortized problems have hundreds of parameters).
EXACT_MAX_PARAMETERS = 64


class BiasMeasurement(NamedTuple):
    """The measurement behind a bias check: ``result`` is None when the check was skipped (no exact gradient) or
    the measurement failed (``error`` says why, on one line); ``outcome`` holds the z-tests of a Monte Carlo
    measurement (None in exact mode)."""

    result: Result | None
    outcome: BiasTest | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class CheckContext:
    """Everything a check looks at, at one check point.

    Attributes:
      subject: the problem at this point, the estimator checked, its params prepared as the estimator sees them
        (float32 arrays) and ``state=None``: each measurement starts from the estimator's ``init``.
      point: the check point; measurements take its params as given (exact mode reads them in float64).
      problem: the problem's label in the rows (its name, or the spec given).
      level: how hard the checks look.
      seed: the battery's seed; each check derives its own from it (the ``*_SEED`` offsets).
      alpha: the false-alarm rate of one bias test (the level's, Bonferroni-split across the battery's tests).
      against: reference estimator specs of the variance ranking (None: the problem's default references).
      spec: the estimator's spec when it was given by name: a fresh copy is rebuilt from it, as from a plugin.
    """

    subject: Subject
    point: CheckPoint
    problem: str
    level: Level
    seed: int
    alpha: float
    against: tuple[str, ...] | None = None
    spec: str | None = None

    @property
    def estimator(self) -> Estimator:
        """The estimator checked."""
        return self.subject.estimator

    @property
    def label(self) -> str:
        """The estimator's label (its canonical spec)."""
        return spec_of(self.subject.estimator)

    def row(self, check: str, status: Status, detail: str, value: float | None = None) -> CheckRow:
        """A row of ``check`` at this point."""
        return CheckRow(self.problem, self.point.label, check, status, detail, value)

    def fresh_problem(self) -> Problem:
        """A newly built problem object equal to this point's."""
        return catalog.resolve_problem(self.point.problem)

    def fresh_estimator(self) -> Estimator:
        """A newly built estimator object equal to the one checked."""
        if self.spec is not None:
            return catalog.resolve_estimator(self.spec)
        return dataclasses.replace(self.subject.estimator)

    @functools.cached_property
    def candidate(self) -> BiasMeasurement:
        """The bias measurement at this point, made once for the bias check and the variance check."""
        return bias_measurement(self, self.subject)


def bias_measurement(ctx: CheckContext, subject: Subject) -> BiasMeasurement:
    """The bias of ``subject`` (at ``ctx``'s point; its state, or init's if None): in exact mode where the noise
    permits and the problem is small (:data:`EXACT_MAX_PARAMETERS`), else by the z-tests of
    :func:`varbench.unbiasedness.bias_test` sized for the level."""
    problem, estimator = subject.problem, subject.estimator
    if not problem.has_exact_objective:
        return BiasMeasurement(None)
    if sum(int(np.prod(s)) for s in problem.param_shapes().values()) <= EXACT_MAX_PARAMETERS:
        try:
            return BiasMeasurement(harness.measure(problem, estimator, params=ctx.point.params, method="exact",
                                                   state=subject.state, exact_budget=ctx.level.exact_budget))
        except NotApplicableError:
            pass
        except NonFiniteEstimateError as err:  # found by quadrature or by sampling, it is the estimator's failure
            return BiasMeasurement(None, error=one_line(err))
    level = ctx.level
    try:
        outcome = unbiasedness.bias_test(problem, estimator, params=ctx.point.params, state=subject.state,
                                         alpha=ctx.alpha, relative_bias=level.relative_bias, power=level.power,
                                         max_samples=level.max_samples, seed=ctx.seed + BIAS_SEED)
    except Exception as err:  # noqa: BLE001 - the battery reports any failure of the user's code as a row
        return BiasMeasurement(None, error=one_line(err))
    return BiasMeasurement(outcome.result, outcome)


def one_line(err: BaseException) -> str:
    """An exception as one line of a row's detail."""
    return f"{type(err).__name__}: {err}".replace("\n", " ")[:400]

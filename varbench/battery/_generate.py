"""Which checks apply to an estimator on a problem, decided by their capabilities."""

from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

from varbench.battery import _checks
from varbench.battery._checks import Finding
from varbench.battery._context import CheckContext
from varbench.core.errors import NotApplicableError
from varbench.core.estimator import Estimator
from varbench.core.problem import Problem


class Check(NamedTuple):
    """One check of the battery.

    Attributes:
      name: its name in test ids (``runs``, ``evaluations``, ``bias``, ``variance``, ``state``).
      function: the check: takes a :class:`~varbench.battery.CheckContext`, yields what it finds.
      per_point: whether it runs at every check point of a problem (else once, at the first).
    """

    name: str
    function: Callable[[CheckContext], Iterator[Finding]]
    per_point: bool


RUNS = Check("runs", _checks.check_runs, per_point=False)
EVALUATIONS = Check("evaluations", _checks.check_evaluations, per_point=False)
BIAS = Check("bias", _checks.check_bias, per_point=True)
VARIANCE = Check("variance", _checks.check_variance, per_point=True)
STATE = Check("state", _checks.check_state, per_point=True)
#: Every check, in the order the battery runs them.
CHECKS = (RUNS, EVALUATIONS, BIAS, VARIANCE, STATE)


def checks_for(estimator: Estimator, problem: Problem) -> Iterator[Check]:
    """The checks that apply to ``estimator`` on ``problem``, in the order the battery runs them.

    None if the estimator does not apply to the problem (its ``check_applies``, i.e. its capability protocols);
    else runs, evaluations, bias and variance, and state for a stateful estimator. The bias check applies to
    every problem: without an exact gradient it reports a skip.

    Args:
      estimator: the estimator checked.
      problem: the problem it is checked on.

    Yields:
      :class:`Check` values.
    """
    try:
        estimator.check_applies(problem)
    except NotApplicableError:
        return
    yield from (RUNS, EVALUATIONS, BIAS, VARIANCE)
    if estimator.stateful:
        yield STATE

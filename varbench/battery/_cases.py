"""The battery as separate cases, one per estimator × problem × check, each runnable on its own (the tests that
:func:`varbench.testing.parametrize_with_checks` makes)."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from varbench import catalog
from varbench.battery._generate import checks_for
from varbench.battery._report import CheckRow, Level
from varbench.battery._run import ProblemTask, check_problem, plan
from varbench.core.naming import spec_of


class CheckCase(NamedTuple):
    """One check of one estimator on one problem (at each of the problem's check points).

    Its rows are the rows :func:`~varbench.battery.check` reports for that problem and check, with the same
    arguments: the same check points, seeds and share of the battery's false-alarm rate.
    """

    estimator: str   # the estimator's label
    problem: str     # the problem's label in the rows
    check: str       # the check's name (see :data:`~varbench.battery.CHECKS`)
    task: ProblemTask

    @property
    def id(self) -> str:
        """A readable test id, ``estimator-problem-check`` (``pathwise-gaussian:cost=square-bias``)."""
        return f"{self.estimator}-{self.problem}-{self.check}"

    def run(self, estimator: Any = None) -> list[CheckRow]:
        """Run the check and return its rows.

        Args:
          estimator: the estimator to run it on (a spec or an object); default the case's own.

        Returns:
          The check's rows, in the battery's order.
        """
        task = self.task
        if estimator is not None:
            spec = estimator if isinstance(estimator, str) else None
            task = task._replace(estimator=catalog.resolve_estimator(estimator), spec=spec)
        return [f for f in check_problem(task, only=self.check) if isinstance(f, CheckRow)]


def check_cases(estimator: Any, *, problems: Sequence[Any] | None = None, against: Sequence[str] | None = None,
                level: str | Level = "quick", seed: int = 0) -> list[CheckCase]:
    """Every check that :func:`~varbench.battery.check` would run with these arguments, as separate cases.

    Args:
      estimator: a spec string or an estimator object.
      problems: problem specs (a bare built-in name uses its check points); default every registered problem
        the estimator applies to (one per family at the quick level).
      against: reference estimator specs for the variance check; default the problem's references.
      level: ``"quick"``, ``"standard"`` or ``"thorough"``.
      seed: the battery's seed.

    Returns:
      The cases in the battery's order: per problem, the checks that apply (:func:`~varbench.battery.checks_for`).
    """
    _, tasks = plan(estimator, problems=problems, against=against, level=level, seed=seed)
    label = spec_of(tasks[0].estimator)
    return [CheckCase(label, task.problem, c.name, task)
            for task in tasks for c in checks_for(task.estimator, task.points[0][1])]

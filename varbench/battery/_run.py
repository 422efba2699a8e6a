"""``varbench.check``: plan the battery (problems, check points, what applies), run each problem's checks in this
process or on an executor, and assemble the report."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from varbench import catalog
from varbench.battery._checks import Finding, runs_passed
from varbench.battery._context import SEED_SPAN, CheckContext
from varbench.battery._generate import RUNS, checks_for
from varbench.battery._references import family_representatives
from varbench.battery._report import CheckReport, CheckRow, Comparison, Level, Status, level_named
from varbench.check_points import CheckPoint, generic_point, points_for
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.naming import spec_of
from varbench.core.problem import Problem
from varbench.engine import settings
from varbench.engine.params import prepare_params
from varbench.engine.prng import MAX_SEED, check_seed
from varbench.engine.subject import Subject
from varbench.executors import ExecutorChoice
from varbench.spec import parse_spec

#: Largest seed of the battery: its measurements use seeds up to ``seed + SEED_SPAN``, and seeds stop at MAX_SEED.
LARGEST_SEED = MAX_SEED - SEED_SPAN


class ProblemTask(NamedTuple):
    """The checks of one problem (one executor task): everything they depend on.

    Attributes:
      estimator: the estimator checked.
      spec: its spec when it was given by name (fresh copies are rebuilt from it), else None.
      problem: the problem's label in the rows.
      points: the check points the estimator applies to, each with its problem object.
      level: how hard the checks look.
      seed: the battery's seed.
      alpha: the false-alarm rate of one bias test.
      against: reference estimator specs (None: the problem's default references).
    """

    estimator: Estimator
    spec: str | None
    problem: str
    points: tuple[tuple[CheckPoint, Problem], ...]
    level: Level
    seed: int
    alpha: float
    against: tuple[str, ...] | None


def check(estimator: Any, *, problems: Sequence[Any] | None = None, against: Sequence[str] | None = None,
          level: str | Level = "standard", seed: int = 0, progress: Callable[[str], None] | None = None,
          executor: ExecutorChoice | None = None, params: Mapping[str, Any] | None = None) -> CheckReport:
    """Run the battery on ``estimator`` (a spec string or an :class:`varbench.Estimator` object).

    Args:
      estimator: the estimator to check; its class should be registered (a plugin) if given by name.
      problems: problem specs to check on (a bare built-in name uses its check points); default: every
        registered problem the estimator applies to. A spec is checked at ``params`` if given, else at a generic
        point (:func:`varbench.check_points.generic_params`: the defaults with special values such as 0 or ±1
        moved by a seeded offset), since a defect can vanish at a special value.
      against: reference estimator specs to rank the variance against; default: the problem's
        :func:`~varbench.battery.default_references`.
      level: ``"quick"``, ``"standard"`` or ``"thorough"`` (see :data:`~varbench.battery.LEVELS`).
      seed: base seed of every measurement, from 0 to :data:`LARGEST_SEED`.
      progress: called with one line per problem.
      executor: where the problems are checked (:class:`varbench.executors.ExecutorChoice`; default local, in
        this process). Each problem's checks are independent of the others', so on ``dask`` they run in
        parallel on the cluster's workers (worth it at the thorough level); the report is the same. Its
        ``plugins`` are the modules the workers import (the estimator's own, when it is a plugin).
      params: the point at which the problems given as specs are checked (``{name: value}``, a scalar
        broadcasts, as ``varbench.measure``'s); needs ``problems``.

    Returns:
      A :class:`~varbench.battery.CheckReport`; ``report.passed`` is False if any check failed.

    Example:
      >>> import varbench
      >>> report = varbench.check("pathwise", problems=["gaussian"], level="quick")
      >>> report.passed
      True
    """
    settings.ensure_configured()  # before anything starts JAX's backend (XLA's flags are among the settings)
    lv = level_named(level)
    choice = _executor(executor)
    start = time.perf_counter()
    skipped, tasks = plan(estimator, problems=problems, against=against, level=lv, seed=seed, params=params)
    found = _run_tasks(tasks, choice, progress or (lambda line: None))
    rows = skipped + [f for findings in found for f in findings if isinstance(f, CheckRow)]
    comparisons = [f for findings in found for f in findings if isinstance(f, Comparison)]
    return CheckReport(spec_of(tasks[0].estimator), lv.name, rows, [e for c in comparisons for e in c.entries],
                       [r for c in comparisons for r in c.results], time.perf_counter() - start)


def plan(estimator: Any, *, problems: Sequence[Any] | None = None, against: Sequence[str] | None = None,
         level: str | Level = "standard", seed: int = 0,
         params: Mapping[str, Any] | None = None) -> tuple[list[CheckRow], list[ProblemTask]]:
    """The battery's work for :func:`check`'s arguments, validated before anything runs.

    Returns:
      The skip rows of the check points the estimator does not apply to, and one task per problem it applies to.

    Raises:
      VarbenchError: bad input (a one-line message naming the valid choices).
      NotApplicableError: the estimator applies to none of the problems.
    """
    lv = level_named(level)
    seed = _battery_seed(seed)
    if against is not None:
        against = tuple(against)
        for ref in against:
            catalog.resolve_estimator(ref)  # bad reference specs fail before anything runs
    est = catalog.resolve_estimator(estimator)
    skipped: list[CheckRow] = []
    targets = []
    for name, points in _targets(problems, lv, params):
        applicable = []
        for point in points:
            problem = catalog.resolve_problem(point.problem)
            prepare_params(problem, point.params)  # bad params fail before anything runs
            try:
                est.check_applies(problem)
            except NotApplicableError as err:
                skipped.append(CheckRow(name, point.label, "applies", Status.SKIP, str(err)))
                continue
            applicable.append((point, problem))
        if applicable:
            targets.append((name, tuple(applicable)))
    if not targets:
        raise NotApplicableError(f"estimator {spec_of(est)!r} applies to none of the problems checked; valid "
                                 f"problems: {', '.join(catalog.problem_names())}")
    tests = sum(len(points) for _, points in targets) * (1 + (lv.checkpoints if est.stateful else 0))
    alpha = lv.alpha / tests  # Bonferroni across the battery: its false-alarm rate is <= alpha
    spec = estimator if isinstance(estimator, str) else None
    return skipped, [ProblemTask(est, spec, name, points, lv, seed, alpha, against) for name, points in targets]


def check_problem(task: ProblemTask, only: str | None = None) -> list[Finding]:
    """Every check of one problem (an executor task), or only the check named ``only``: what they found.

    The runs and evaluations checks look at the first check point, the others at each; when the estimator does
    not run at all, the problem's other checks are not run.
    """
    contexts = [CheckContext(Subject(problem, task.estimator, prepare_params(problem, point.params), None), point,
                             task.problem, task.level, task.seed, task.alpha, task.against, task.spec)
                for point, problem in task.points]
    checks = [c for c in checks_for(task.estimator, task.points[0][1]) if only in (None, c.name)]
    findings: list[Finding] = []
    for check_ in (c for c in checks if not c.per_point):
        found = list(check_.function(contexts[0]))
        findings += found
        if check_ is RUNS and not runs_passed(found):
            return findings
    for ctx in contexts:
        for check_ in (c for c in checks if c.per_point):
            findings += check_.function(ctx)
    return findings


def _run_tasks(tasks: list[ProblemTask], choice: ExecutorChoice, say: Callable[[str], None]) -> list[list[Finding]]:
    """Each task's findings, in task order whatever order they finish in."""
    if choice.kind == "local":  # in this process, saying which problem is being checked before checking it
        found = []
        for task in tasks:
            say(f"{task.problem}: {len(task.points)} point(s)")
            found.append(check_problem(task))
        return found
    done: list[Any] = [None] * len(tasks)
    with choice.start() as pool:
        for outcome in pool.map(check_problem, tasks, names=[f"check-{i}" for i in range(len(tasks))]):
            if outcome.error is not None:
                raise outcome.error
            done[outcome.index] = outcome.value
            task = tasks[outcome.index]
            say(f"{task.problem}: {len(task.points)} point(s) checked")
    return done


def _targets(problems: Sequence[Any] | None, level: Level,
             params: Mapping[str, Any] | None) -> list[tuple[str, list[CheckPoint]]]:
    """The problems to check (their labels) and their check points."""
    if problems is None:
        if params is not None:
            raise VarbenchError("params apply to the problems given (--problems SPEC ... --param NAME=VALUE); the "
                                "built-in problems are checked at their own check points")
        names = catalog.problem_names()
        if level.one_per_family:
            names = family_representatives(names)
        return [(name, list(points_for(name, level.points, catalog.resolve_problem))) for name in names]
    targets = []
    for problem in problems:
        spec = problem if isinstance(problem, str) else spec_of(problem)
        name = parse_spec(spec)[0]
        if isinstance(problem, str) and spec == name and params is None:  # a bare built-in name: its points
            targets.append((name, list(points_for(name, level.points, catalog.resolve_problem))))
        elif params is not None:
            targets.append((spec, [CheckPoint("given", spec, dict(params))]))
        else:
            targets.append((spec, [generic_point("given", spec, catalog.resolve_problem(problem))]))
    return targets


def _battery_seed(seed: Any) -> int:
    seed = check_seed(seed)
    if seed > LARGEST_SEED:
        raise VarbenchError(f"seed must be at most {LARGEST_SEED}: the battery measures with seeds up to seed + "
                            f"{SEED_SPAN}, and seeds stop at {MAX_SEED}; got {seed}")
    return seed


def _executor(executor: Any) -> ExecutorChoice:
    if executor is None:
        return ExecutorChoice()
    if not isinstance(executor, ExecutorChoice):
        raise VarbenchError(f"executor must be a varbench.executors.ExecutorChoice (built with "
                            f"ExecutorChoice.checked(kind, workers, scheduler, plugins)); got {executor!r}")
    return executor

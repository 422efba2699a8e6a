"""``varbench check``: the test battery for a researcher's own estimator (``varbench.check`` is :func:`check`).

In the spirit of scikit-learn's ``check_estimator``, one call runs every check that applies, on every built-in
problem the estimator applies to (by its ``check_applies``, i.e. its capability protocols), at one to three params
points per problem (:mod:`varbench.check_points`), and says plainly what failed:

1. **runs**: one jitted estimate is a finite pytree shaped like the params; the harness's vmapped kernel compiles
   once, and changing the params, the seed or the sample count (with freshly built problem and estimator objects)
   does not compile again; a fixed seed gives bit-identical results.
2. **unbiased**: in exact mode wherever the noise permits and the problem is small (exact mean against the exact
   gradient, to quadrature precision; :data:`EXACT_MAX_PARAMETERS`), otherwise the calibrated z-tests of
   :func:`varbench.unbiasedness.bias_test` (Holm within a point, Bonferroni across the battery's points so that the whole battery's false-alarm rate is at most ``alpha``),
   sized from a pilot run to detect the level's relative bias with the level's power. An estimator that declares
   itself biased (``unbiased = False``) gets its bias measured and reported instead of a failure.
3. **variance**: exact or Monte Carlo variance with its 95% interval, ranked against built-in references of the
   same family (plain score function, RLOO, DisARM for binary latents, pathwise for reparameterizable problems,
   the value baseline for sequential ones), raw and work-normalized (× cost evaluations, × seconds per
   estimate); an estimator whose variance interval lies entirely above the plain score function's in every
   coordinate is flagged.
4. **state** (stateful estimators): the state stays a valid pytree (same structure, shapes, finite) and the
   estimate stays unbiased at every state reached along a short warm-up.
5. **evaluations**: ``evaluations_per_estimate`` equals the cost evaluations one estimate really makes
   (:mod:`varbench.evaluations`).

Levels: ``quick`` (one problem per family, i.e. per set of capabilities, one point each, 5% relative bias, no
timing runs for exact measurements), ``standard`` (every problem, two points, 1%), ``thorough`` (three points,
0.5%, longer warm-ups).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np

from varbench import catalog, executors, unbiasedness
from varbench.check_points import CheckPoint, points_for
from varbench.core.capabilities import (
    AMORTIZED,
    BINARY,
    DISCRETE,
    REPARAMETERIZABLE,
    SEQUENTIAL,
    capabilities_of,
)
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.core.naming import spec_of
from varbench.engine import harness
from varbench.engine.params import prepare_params
from varbench.engine.result import Result
from varbench.engine.subject import Subject
from varbench.evaluations import count_evaluations
from varbench.spec import parse_spec

STATUSES = ("pass", "fail", "biased", "flag", "skip")
#: Largest |exact mean − exact gradient| relative to the gradient's scale that is quadrature rounding.
EXACT_TOLERANCE = 1e-4
#: Exact mode holds every quadrature point's estimate in memory (points × parameter scalars); the battery uses it
#: only for problems with at most this many parameter scalars (the toys, Gaussians, lgssm, hmm), and the
#: statistical test for the others (amortized problems have hundreds of parameters).
EXACT_MAX_PARAMETERS = 64


class Level(NamedTuple):
    """How hard a check looks."""

    name: str
    points: int              # params points per problem
    relative_bias: float     # bias (relative to the gradient's scale) detected with probability ``power``
    power: float
    alpha: float             # false-alarm rate of the whole battery's bias tests
    max_samples: int         # cap on one bias test's sample count
    variance_samples: int    # Monte Carlo samples per variance comparison (when exact mode does not apply)
    warmup_steps: int        # updates between the states checked (stateful estimators)
    checkpoints: int         # states checked along the warm-up
    one_per_family: bool     # by default, one problem per set of capabilities instead of every problem


LEVELS = {
    "quick": Level("quick", 1, 0.05, 0.9, 1e-3, 400_000, 20_000, 20, 1, True),
    "standard": Level("standard", 2, 0.01, 0.9, 1e-3, 4_000_000, 100_000, 50, 2, False),
    "thorough": Level("thorough", 3, 0.005, 0.9, 1e-3, 20_000_000, 400_000, 100, 3, False),
}


class CheckRow(NamedTuple):
    """One check at one place: ``status`` is pass, fail, biased (declared biased; bias measured), flag (a warning)
    or skip; ``value`` is the check's number where it has one (relative bias, total variance, evaluations)."""

    problem: str
    point: str
    check: str
    status: str
    detail: str
    value: float | None = None


@dataclasses.dataclass
class CheckReport:
    """What ``varbench check`` found: rows of checks, the variance comparison, and the measurements behind them."""

    estimator: str
    level: str
    rows: list[CheckRow]
    variance: list[dict[str, Any]]
    results: list[tuple[str, Result]]   # (problem label, result) of every measurement, references included
    seconds: float

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if r.status == "fail"]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        counts = {s: sum(r.status == s for r in self.rows) for s in STATUSES}
        tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        problems = len({r.problem for r in self.rows if r.status != "skip"})
        head = "PASSED" if self.passed else "FAILED"
        return (f"{head}: {self.estimator} at level {self.level} on {problems} problem(s): {tally} "
                f"({self.seconds:.0f} s)")

    def frame(self) -> Any:
        """The rows as a pandas DataFrame (one row per problem × point × check)."""
        import pandas as pd
        return pd.DataFrame(self.rows, columns=CheckRow._fields)

    def variance_frame(self) -> Any:
        import pandas as pd
        return pd.DataFrame(self.variance)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: numbers that are not finite (an exact measurement not timed) become None."""
        return _json_safe(dict(estimator=self.estimator, level=self.level, passed=self.passed, verdict=self.verdict,
                               seconds=self.seconds, rows=[r._asdict() for r in self.rows], variance=self.variance))

    def markdown(self) -> str:
        lines = [f"# varbench check: {self.estimator}", "", f"**{self.verdict}**", "",
                 "| problem | point | check | status | detail |", "|---|---|---|---|---|"]
        lines += [f"| {r.problem} | {r.point} | {r.check} | {r.status} | {r.detail.replace('|', '/')} |"
                  for r in self.rows]
        if self.variance:
            lines += ["", "## Variance against the references", "",
                      "| problem | point | estimator | method | total variance | 95% interval | × evaluations | "
                      "× seconds |", "|---|---|---|---|---|---|---|---|"]
            name = lambda v: f"**{v['estimator']}**" if v["candidate"] else v["estimator"]
            lines += [f"| {v['problem']} | {v['point']} | {name(v)} | {v['method']} | {v['total_variance']:.4g} | [{v['total_variance_lo']:.4g}, "
                      f"{v['total_variance_hi']:.4g}] | {v['work_evaluations']:.4g} | {_fmt(v['work_seconds'])} |"
                      for v in self.variance]
        return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _fmt(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.4g}"


def _level(level: str | Level) -> Level:
    if isinstance(level, Level):
        return level
    if level not in LEVELS:
        raise VarbenchError(f"unknown check level {level!r}; valid levels: {', '.join(LEVELS)}")
    return LEVELS[level]


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".replace("\n", " ")[:400]


def default_references(problem: Any) -> list[str]:
    """Built-in estimators to rank a new one against on ``problem``: the plain score function always, then the
    reference of each family the problem belongs to."""
    refs = ["score_function"]
    if DISCRETE.satisfied_by(problem):
        refs.append("rloo:samples=2")
        if BINARY.satisfied_by(problem):
            refs.append("disarm")
    if REPARAMETERIZABLE.satisfied_by(problem):
        refs.append("pathwise")
    if SEQUENTIAL.satisfied_by(problem):
        refs.append("score_function:returns=to_go,baseline=value")
    if AMORTIZED.satisfied_by(problem) and getattr(problem, "particles", 1) > 1:
        refs.append("vimco")
    return refs


def _max_relative_bias(result: Result) -> float:
    scale = unbiasedness.gradient_scale(result.grad_exact)
    return max(float(np.max(np.abs(result.bias[k]) / scale[k])) for k in result.bias)


def _coordinate_intervals(result: Result) -> np.ndarray:
    return np.concatenate([np.reshape(result.variance_ci[k], (-1, 2)) for k in result.variance_ci])


class _Battery:
    """The checks of one estimator; collects rows, variance comparisons and results."""

    def __init__(self, estimator: Any, rebuild: Callable[[], Any], level: Level, seed: int,
                 against: Sequence[str] | None, say: Callable[[str], None]):
        self.estimator, self.rebuild, self.level, self.seed = estimator, rebuild, level, seed
        self.against, self.say = against, say
        self.label = spec_of(estimator)
        self.rows: list[CheckRow] = []
        self.variance: list[dict[str, Any]] = []
        self.results: list[tuple[str, Result]] = []
        self.alpha_per_test = level.alpha

    def row(self, problem: str, point: str, check: str, status: str, detail: str, value: float | None = None):
        self.rows.append(CheckRow(problem, point, check, status, detail, value))

    # --- 1. runs ------------------------------------------------------------------------------------------------
    def check_runs(self, spec: str, build: Callable[[], Any], point: CheckPoint) -> bool:
        problem, est = build(), self.estimator
        params = prepare_params(problem, point.params)
        key = jax.random.key(self.seed)
        try:
            state = est.init(problem, params, key)
            g = jax.jit(lambda pr, es, pa, st, k: es.estimate(pr, pa, st, k))(problem, est, params, state, key)
            shapes = {k: np.shape(v) for k, v in g.items()} if isinstance(g, dict) else None
            want = {k: np.shape(v) for k, v in params.items()}
            if shapes != want:
                self.row(spec, point.label, "runs: shaped like params", "fail",
                         f"the estimate has shapes {shapes}; the params have {want}")
                return False
            if not all(np.all(np.isfinite(np.asarray(v))) for v in g.values()):
                self.row(spec, point.label, "runs: finite", "fail", "one jitted estimate is NaN or inf")
                return False
        except Exception as err:  # noqa: BLE001 - the battery reports any failure of the user's code as a row
            self.row(spec, point.label, "runs: jit", "fail", _one_line(err))
            return False
        perturbed = {k: v * np.float32(1.03) + np.float32(0.01) for k, v in params.items()}
        try:
            first = harness.measure(build(), self.rebuild(), params=params, num_samples=1000, seed=self.seed + 11)
            compiled = harness.compile_count()
            harness.measure(build(), self.rebuild(), params=perturbed, num_samples=1500, seed=self.seed + 12)
            again = harness.measure(build(), self.rebuild(), params=params, num_samples=1000, seed=self.seed + 11)
            new_kernels = harness.compile_count() - compiled
        except Exception as err:  # noqa: BLE001
            self.row(spec, point.label, "runs: vmapped kernel", "fail", _one_line(err))
            return False
        self.row(spec, point.label, "runs: jit, vmap, finite, shaped like params", "pass",
                 "one estimate and 1000 vmapped estimates are finite and shaped like the params")
        if new_kernels:
            self.row(spec, point.label, "runs: no recompilation", "fail",
                     f"{new_kernels} new kernel(s) compiled when only params, seed and sample count changed (with "
                     "freshly built objects): keep per-instance values out of static fields")
        else:
            self.row(spec, point.label, "runs: no recompilation", "pass",
                     "new params, seed and sample count reuse the compiled kernel")
        same = all(np.array_equal(first.grad_mean[k], again.grad_mean[k]) and
                   np.array_equal(first.variance[k], again.variance[k]) for k in first.grad_mean)
        self.row(spec, point.label, "runs: deterministic", "pass" if same else "fail",
                 "a fixed seed gives bit-identical results" if same else
                 "the same seed gave different results: draw randomness only from the key")
        return True

    # --- 5. evaluations -----------------------------------------------------------------------------------------
    def check_evaluations(self, spec: str, problem: Any, point: CheckPoint) -> None:
        params = prepare_params(problem, point.params)
        key = jax.random.key(self.seed + 5)
        try:
            state = self.estimator.init(problem, params, key)
            counted = count_evaluations(problem, self.estimator, params, state, key)
        except Exception as err:  # noqa: BLE001
            self.row(spec, point.label, "evaluations", "fail", f"could not count evaluations: {_one_line(err)}")
            return
        declared = int(self.estimator.evaluations_per_estimate(problem))
        if counted == declared:
            self.row(spec, point.label, "evaluations", "pass", f"declares {declared}, makes {counted}", counted)
        else:
            self.row(spec, point.label, "evaluations", "fail",
                     f"evaluations_per_estimate says {declared} but one estimate evaluates the cost {counted} times",
                     counted)

    # --- 2. unbiasedness ----------------------------------------------------------------------------------------
    def check_bias(self, spec: str, problem: Any, point: CheckPoint, state: Any = None,
                   check: str = "unbiased") -> Result | None:
        est = self.estimator
        if not problem.has_exact_objective:
            self.row(spec, point.label, check, "skip", "the problem has no exact gradient to compare with")
            return None
        result = None
        if sum(int(np.prod(s)) for s in problem.param_shapes().values()) <= EXACT_MAX_PARAMETERS:
            try:
                result = harness.measure(problem, est, params=point.params, method="exact", state=state)
            except NotApplicableError:
                result = None
        if result is not None:
            relative = _max_relative_bias(result)
            if not est.unbiased:
                self.row(spec, point.label, check, "biased",
                         f"declared biased; exact relative bias {relative:.3g}", relative)
            elif relative <= EXACT_TOLERANCE:
                self.row(spec, point.label, check, "pass",
                         f"exact mode: mean equals the exact gradient (relative difference {relative:.1e})", relative)
            else:
                self.row(spec, point.label, check, "fail",
                         f"exact mode: relative bias {relative:.3g} (rounding would be below {EXACT_TOLERANCE:g})",
                         relative)
            return result
        try:
            outcome = unbiasedness.bias_test(problem, est, params=point.params, state=state, alpha=self.alpha_per_test,
                                        relative_bias=self.level.relative_bias, power=self.level.power,
                                        max_samples=self.level.max_samples, seed=self.seed + 101)
        except Exception as err:  # noqa: BLE001
            self.row(spec, point.label, check, "fail", _one_line(err))
            return None
        result = outcome.result
        relative = _max_relative_bias(result)
        worst = max(float(np.max(np.abs(z))) for z in outcome.z.values())
        worst_text = "inf (a coordinate with zero spread is off)" if worst > 1e300 else f"{worst:.2f}"
        scale = unbiasedness.gradient_scale(result.grad_exact)
        detectable = max(float(np.max(outcome.detectable_bias[k] / scale[k])) for k in scale)
        where = f"{outcome.num_samples} samples, max |z| {worst_text}, detectable relative bias {detectable:.2g}"
        if not est.unbiased:
            found = "bias detected" if not outcome.passed else "no bias detectable at this precision"
            self.row(spec, point.label, check, "biased",
                     f"declared biased; {found}: relative bias {relative:.3g} ({where})", relative)
        elif outcome.passed:
            self.row(spec, point.label, check, "pass", f"z-tests (Holm) find no bias ({where})", relative)
        else:
            self.row(spec, point.label, check, "fail", f"bias detected: relative bias {relative:.3g} ({where})",
                     relative)
        return result

    # --- 3. variance --------------------------------------------------------------------------------------------
    def _timed(self, problem: Any, est: Any, point: CheckPoint, state: Any = None) -> Result:
        return harness.measure(problem, est, params=point.params, num_samples=self.level.variance_samples,
                               seed=self.seed + 202, state=state)

    def _variance_entry(self, spec: str, point: CheckPoint, name: str, candidate: bool, result: Result,
                        seconds_per_estimate: float) -> dict[str, Any]:
        intervals = _coordinate_intervals(result)
        return dict(problem=spec, point=point.label, estimator=name, candidate=candidate, method=result.method,
                    total_variance=result.total_variance, total_variance_lo=float(np.sum(intervals[:, 0])),
                    total_variance_hi=float(np.sum(intervals[:, 1])),
                    evaluations=result.evaluations_per_estimate,
                    work_evaluations=result.total_variance * result.evaluations_per_estimate,
                    seconds_per_estimate=seconds_per_estimate,
                    work_seconds=result.total_variance * seconds_per_estimate)

    def _measured(self, problem: Any, est: Any, point: CheckPoint, exact: bool) -> tuple[Result, float]:
        """The variance measurement (exact when ``exact`` and possible, else Monte Carlo) and seconds per estimate
        (from a Monte Carlo run; not timed at the quick level when the measurement is exact)."""
        result = None
        if exact:
            try:
                result = harness.measure(problem, est, params=point.params, method="exact")
            except NotApplicableError:
                result = None
        if result is not None and self.level.name == "quick":
            return result, float("nan")
        timed = self._timed(problem, est, point)
        return (result or timed), timed.run_seconds / timed.num_samples

    def check_variance(self, spec: str, problem: Any, point: CheckPoint, own: Result | None) -> None:
        est = self.estimator
        try:
            if own is not None and own.method == "mc":
                seconds = own.run_seconds / own.num_samples
            else:
                measured, seconds = self._measured(problem, est, point, exact=own is not None)
                own = own if own is not None else measured
        except Exception as err:  # noqa: BLE001
            self.row(spec, point.label, "variance", "fail", _one_line(err))
            return
        entries = [self._variance_entry(spec, point, self.label, True, own, seconds)]
        self.results.append((spec, own))
        references = list(self.against) if self.against is not None else default_references(problem)
        plain = None
        for ref_spec in references:
            ref = catalog.resolve_estimator(ref_spec)
            if spec_of(ref) == self.label:
                continue
            try:
                ref.check_applies(problem)
            except NotApplicableError:
                continue
            # exact where the candidate's was (its problem is small enough), else Monte Carlo
            ref_result, ref_seconds = self._measured(problem, ref, point, exact=own.method == "exact")
            self.results.append((spec, ref_result))
            entries.append(self._variance_entry(spec, point, spec_of(ref), False, ref_result, ref_seconds))
            if spec_of(ref) == "score_function":
                plain = ref_result
        entries.sort(key=lambda e: e["total_variance"])
        for rank, entry in enumerate(entries, 1):
            entry["rank"] = rank
        self.variance += entries
        mine = entries[[e["candidate"] for e in entries].index(True)]
        others = ", ".join(f"{e['estimator']} {e['total_variance']:.3g}" for e in entries if not e["candidate"])
        detail = (f"total variance {mine['total_variance']:.4g} [{mine['total_variance_lo']:.4g}, "
                  f"{mine['total_variance_hi']:.4g}] ({own.method}), rank {mine['rank']} of {len(entries)}"
                  + (f"; references: {others}" if others else ""))
        if plain is not None and np.all(_coordinate_intervals(own)[:, 0] > _coordinate_intervals(plain)[:, 1]):
            self.row(spec, point.label, "variance", "flag",
                     detail + "; its interval lies above the plain score function's in every coordinate",
                     own.total_variance)
        else:
            self.row(spec, point.label, "variance", "pass", detail, own.total_variance)

    # --- 4. state -----------------------------------------------------------------------------------------------
    def check_state(self, spec: str, problem: Any, point: CheckPoint) -> None:
        est = self.estimator
        params = prepare_params(problem, point.params)
        key_init, key_warm = jax.random.split(jax.random.key(self.seed + 303))
        state = est.init(problem, params, key_init)
        reference = jax.tree_util.tree_structure(state), [np.shape(x) for x in jax.tree_util.tree_leaves(state)]
        for checkpoint in range(1, self.level.checkpoints + 1):
            state = harness.prepare_state(Subject(problem, est, params, state),
                                          jax.random.fold_in(key_warm, checkpoint), self.level.warmup_steps)
            steps = checkpoint * self.level.warmup_steps
            leaves = jax.tree_util.tree_leaves(state)
            shapes = jax.tree_util.tree_structure(state), [np.shape(x) for x in leaves]
            if shapes != reference:
                self.row(spec, point.label, f"state after {steps} updates", "fail",
                         "update changed the state's structure or shapes (the compiled kernel needs init's)")
                return
            if not all(np.all(np.isfinite(np.asarray(x))) for x in leaves if np.issubdtype(np.asarray(x).dtype,
                                                                                             np.inexact)):
                self.row(spec, point.label, f"state after {steps} updates", "fail", "the state holds NaN or inf")
                return
            self.check_bias(spec, problem, point, state=state, check=f"unbiased after {steps} updates")


def _family_representatives(names: list[str]) -> list[str]:
    """One problem per family (set of capabilities), preferring problems with an exact gradient, in catalog order."""
    chosen: dict[frozenset, str] = {}
    for name in sorted(names, key=lambda n: (not catalog.PROBLEMS[n].has_exact_objective, n)):
        chosen.setdefault(frozenset(capabilities_of(catalog.PROBLEMS[name])), name)
    return [n for n in names if n in chosen.values()]


def _targets(problems: Sequence[Any] | None, level: Level) -> list[tuple[str, list[CheckPoint]]]:
    if problems is None:
        names = catalog.problem_names()
        if level.one_per_family:
            names = _family_representatives(names)
        return [(name, list(points_for(name, level.points))) for name in names]
    targets = []
    for problem in problems:
        spec = problem if isinstance(problem, str) else spec_of(problem)
        name = parse_spec(spec)[0]
        if isinstance(problem, str) and spec == name:  # a bare built-in name: its check points
            targets.append((name, list(points_for(name, level.points))))
        else:
            targets.append((spec, [CheckPoint("given", spec, {})]))
    return targets


def check(estimator: Any, *, problems: Sequence[Any] | None = None, against: Sequence[str] | None = None,
          level: str | Level = "standard", seed: int = 0, progress: Callable[[str], None] | None = None,
          executor: str | None = None, workers: int | None = None, scheduler: str | None = None,
          plugins: Sequence[str] = ()) -> CheckReport:
    """Run the battery on ``estimator`` (a spec string or an :class:`varbench.Estimator` object).

    Args:
      estimator: the estimator to check; its class should be registered (a plugin) if given by name.
      problems: problem specs to check on (a bare built-in name uses its check points); default: every
        registered problem the estimator applies to.
      against: reference estimator specs to rank the variance against; default: :func:`default_references`.
      level: ``"quick"``, ``"standard"`` or ``"thorough"`` (see :data:`LEVELS`).
      seed: base seed of every measurement.
      progress: called with one line per problem.
      executor, workers, scheduler: where the problems are checked (:mod:`varbench.executors`; default ``local``,
        in this process). Each problem's checks are independent of the others', so with ``"dask"`` they run in
        parallel on the cluster's workers (worth it at the thorough level); the report is the same.
      plugins: plugin modules the workers import (the estimator's own, when it is a plugin).

    Returns:
      A :class:`CheckReport`; ``report.passed`` is False if any check failed.

    Example:
      >>> import varbench
      >>> report = varbench.check("pathwise", problems=["gaussian"], level="quick")
      >>> report.passed
      True
    """
    lv = _level(level)
    kind, workers, scheduler = executors.check_options(executor, workers, scheduler)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 31:
        raise VarbenchError(f"seed must be an integer in [0, 2^31); got {seed!r}")
    if against is not None:
        for ref in against:
            catalog.resolve_estimator(ref)  # bad reference specs fail before anything runs
    est = catalog.resolve_estimator(estimator)
    rebuild = (lambda: catalog.resolve_estimator(estimator)) if isinstance(estimator, str) else \
        (lambda: dataclasses.replace(est))
    say = progress or (lambda line: None)
    start = time.perf_counter()
    battery = _Battery(est, rebuild, lv, int(seed), against, say)
    plan = []
    for name, points in _targets(problems, lv):
        applicable = []
        for point in points:
            problem = catalog.resolve_problem(point.problem)
            prepare_params(problem, point.params)  # bad params fail before anything runs
            try:
                est.check_applies(problem)
            except NotApplicableError as err:
                battery.row(name, point.label, "applies", "skip", str(err))
                continue
            applicable.append((point, problem))
        if applicable:
            plan.append((name, applicable))
    if not plan:
        raise NotApplicableError(f"estimator {battery.label!r} applies to none of the problems checked; valid "
                                 f"problems: {', '.join(catalog.problem_names())}")
    tests = sum(len(a) for _, a in plan) * (1 + (lv.checkpoints if est.stateful else 0))
    battery.alpha_per_test = lv.alpha / tests  # Bonferroni across the battery: its false-alarm rate is <= alpha
    # Each problem's checks depend only on the estimator, the level and the seed: one task per problem, assembled
    # in plan order whatever order they finish in.
    tasks = [dict(estimator=est, spec=estimator if isinstance(estimator, str) else None, level=lv, seed=int(seed),
                  against=against, alpha=battery.alpha_per_test, name=name, applicable=applicable)
             for name, applicable in plan]
    found: list[Any] = [None] * len(tasks)
    if kind == "local":  # in this process, saying which problem is being checked before checking it
        for index, (name, applicable) in enumerate(plan):
            say(f"{name}: {len(applicable)} point(s)")
            found[index] = check_problem_task(tasks[index])
    else:
        with executors.make_executor(kind, workers=workers, scheduler=scheduler, plugins=plugins) as pool:
            for outcome in pool.map(check_problem_task, tasks, names=[f"check-{i}" for i in range(len(tasks))]):
                if outcome.error is not None:
                    raise outcome.error
                found[outcome.index] = outcome.value
                say(f"{plan[outcome.index][0]}: {len(plan[outcome.index][1])} point(s) checked")
    rows = battery.rows + [r for f in found for r in f[0]]
    return CheckReport(battery.label, lv.name, rows, [v for f in found for v in f[1]],
                       [r for f in found for r in f[2]], time.perf_counter() - start)


def check_problem_task(task: dict[str, Any]) -> tuple[list[CheckRow], list[dict[str, Any]], list[tuple[str, Result]]]:
    """Every check of one problem (an executor task): its rows, variance entries and measurements."""
    est, spec = task["estimator"], task["spec"]
    rebuild = (lambda: catalog.resolve_estimator(spec)) if spec is not None else (lambda: dataclasses.replace(est))
    battery = _Battery(est, rebuild, task["level"], task["seed"], task["against"], lambda line: None)
    battery.alpha_per_test = task["alpha"]
    name, applicable = task["name"], task["applicable"]
    first_point, first_problem = applicable[0]
    if battery.check_runs(name, lambda p=first_point: catalog.resolve_problem(p.problem), first_point):
        battery.check_evaluations(name, first_problem, first_point)
        for point, problem in applicable:
            own = battery.check_bias(name, problem, point)
            battery.check_variance(name, problem, point, own)
            if est.stateful:
                battery.check_state(name, problem, point)
    return battery.rows, battery.variance, battery.results


def write_check(report: CheckReport, out: str | Any) -> Any:
    """Write ``check.json``, ``check.md``, ``variance.png`` and a result store (``manifest.json`` + Parquet cells,
    one block per problem) into ``out``, so that ``varbench report OUT`` includes the measurements. The store is
    locked while it is written (:mod:`varbench.reports.store_lock`): a suite or another check writing there is
    refused."""
    import sys
    from pathlib import Path

    from varbench.reports import store_lock

    out = Path(out)
    with store_lock.StoreLock(out, command=" ".join(sys.argv) or "varbench.check"):
        return _write_check(report, out)


def _write_check(report: CheckReport, out: Any) -> Any:
    import hashlib
    import json

    from varbench.reports import check_figure, schema, store
    from varbench.provenance import environment

    (out / "check.json").write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False, default=float) + "\n")
    (out / "check.md").write_text(report.markdown())
    if report.variance:
        check_figure.variance_figure(report.variance_frame(), title=f"varbench check: {report.estimator}",
                                     path=out / "variance.png")
    blocks, by_problem = [], {}
    for problem, result in report.results:
        by_problem.setdefault(problem, []).append(result)
    for index, (problem, results) in enumerate(by_problem.items()):
        name = f"check_{index:02d}_{parse_spec(problem)[0]}"
        blocks.append(dict(name=name, title=f"{report.estimator} against the references on {problem}",
                           problem=problem, estimators=sorted({r.estimator for r in results}), method="mixed"))
        rows = []
        for i, result in enumerate(results):
            rows += schema.measurement_rows([result], [dict(options={}, params={})], block=name, cell=f"{name}_{i}",
                                            problem_name=parse_spec(problem)[0],
                                            estimator_name=parse_spec(result.estimator)[0],
                                            estimator_label=result.estimator, estimator_options={}, static={})
        store.write_cell(out, name, rows)
    config = dict(block=blocks)
    digest = hashlib.sha256(json.dumps(dict(config=config, estimator=report.estimator, level=report.level),
                                       sort_keys=True, default=str).encode()).hexdigest()[:16]
    store.write_manifest(out, dict(kind="check", config=config, config_hash=digest, check=report.to_dict(),
                                   environment=environment()))
    return out

"""What the battery finds: the status of a check, one row of checks, a variance comparison, the levels, the report."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, NamedTuple

from varbench.battery import _render
from varbench.core.errors import VarbenchError
from varbench.engine.result import Result


class Status(enum.StrEnum):
    """A check's verdict at one place; the value is the word written in every output."""

    PASS = "pass"
    FAIL = "fail"
    BIASED = "biased"   # declared biased (``unbiased = False``): the bias is measured, not judged; on a variance
    #                     row, a biased estimator's variance, ranked apart from the unbiased ones'
    FLAG = "flag"       # a warning (a variance above the plain score function's), not a failure
    SKIP = "skip"


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
    exact_budget: int | None  # most adaptive-quadrature points of one exact measurement before Monte Carlo instead


LEVELS = {
    # Exact budgets: about 2 s (quick) and 8 s (standard) of a cheap cost on two CPU cores; thorough gives exact mode
    # its full budget (about a minute).
    "quick": Level("quick", 1, 0.05, 0.9, 1e-3, 400_000, 20_000, 20, 1, True, 2 ** 22),
    "standard": Level("standard", 2, 0.01, 0.9, 1e-3, 4_000_000, 100_000, 50, 2, False, 2 ** 24),
    "thorough": Level("thorough", 3, 0.005, 0.9, 1e-3, 20_000_000, 400_000, 100, 3, False, None),
}


def level_named(level: str | Level) -> Level:
    """``level`` itself, or the level of that name (a one-line error naming the valid ones)."""
    if isinstance(level, Level):
        return level
    if level not in LEVELS:
        raise VarbenchError(f"unknown check level {level!r}; valid levels: {', '.join(LEVELS)}")
    return LEVELS[level]


class CheckRow(NamedTuple):
    """One check at one place: its :class:`Status` and what it found; ``value`` is the check's number where it
    has one (relative bias, total variance, evaluations)."""

    problem: str
    point: str
    check: str
    status: Status
    detail: str
    value: float | None = None


class VarianceEntry(NamedTuple):
    """One estimator's variance at one check point, in the ranking of the variance check."""

    problem: str
    point: str
    estimator: str
    candidate: bool               # the estimator checked (else a reference)
    method: str                   # "exact" or "mc"
    total_variance: float
    total_variance_lo: float      # 95% interval of the total variance (sum of the coordinates' bounds)
    total_variance_hi: float
    evaluations: int              # cost evaluations per estimate
    work_evaluations: float       # total variance × evaluations
    seconds_per_estimate: float   # NaN when not timed (exact measurements at the quick level)
    work_seconds: float           # total variance × seconds per estimate
    rank: int = 0                 # 1 = the smallest total variance among the unbiased at this point; 0 = biased
    work_rank: int = 0            # the same by total variance × evaluations
    biased: bool = False          # ranked apart: a biased estimator's variance says nothing of its error alone
    # total variance ÷ the ratio reference's (the plain score function where it applies) with its 95% interval;
    # ratio_paired: measured on common random numbers; False: independent measurements (or both exact)
    ratio: float = float("nan")
    ratio_lo: float = float("nan")
    ratio_hi: float = float("nan")
    ratio_paired: bool = False
    ratio_reference: str = ""


class Comparison(NamedTuple):
    """What the variance check measured at one point: the ranked entries and the measurements behind them
    (problem label, result), the candidate's first."""

    entries: list[VarianceEntry]
    results: list[tuple[str, Result]]


@dataclasses.dataclass
class CheckReport:
    """What ``varbench check`` found: rows of checks, the variance comparison, and the measurements behind them."""

    estimator: str
    level: str
    rows: list[CheckRow]
    variance: list[VarianceEntry]
    results: list[tuple[str, Result]]   # (problem label, result) of every measurement, references included
    seconds: float

    @property
    def failures(self) -> list[CheckRow]:
        """The rows whose check failed."""
        return [r for r in self.rows if r.status is Status.FAIL]

    @property
    def passed(self) -> bool:
        """True when no check failed (biased, flagged and skipped rows do not fail)."""
        return not self.failures

    @property
    def verdict(self) -> str:
        """One line: PASSED or FAILED, the estimator, the level, the problems checked and the rows per status."""
        counts = {s: sum(r.status is s for r in self.rows) for s in Status}
        tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        problems = len({r.problem for r in self.rows if r.status is not Status.SKIP})
        head = "PASSED" if self.passed else "FAILED"
        return (f"{head}: {self.estimator} at level {self.level} on {problems} problem(s): {tally} "
                f"({self.seconds:.0f} s)")

    def frame(self) -> Any:
        """The rows as a pandas DataFrame (one row per problem × point × check)."""
        import pandas as pd
        return pd.DataFrame(self.rows, columns=CheckRow._fields)

    def variance_frame(self) -> Any:
        """The variance comparison as a pandas DataFrame (one row per problem × point × estimator)."""
        import pandas as pd
        return pd.DataFrame(self.variance, columns=VarianceEntry._fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: numbers that are not finite (an exact measurement not timed) become None."""
        return _render.json_safe(dict(
            estimator=self.estimator, level=self.level, passed=self.passed, verdict=self.verdict,
            seconds=self.seconds, rows=[r._asdict() for r in self.rows], variance=[v._asdict() for v in self.variance]))

    def markdown(self) -> str:
        """The report as Markdown: the verdict, the rows, and the variance against the references."""
        return _render.markdown(self.estimator, self.verdict, self.rows, self.variance)

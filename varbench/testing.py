"""The testing kit for a researcher's own estimators, for use in their pytest suites.

* :func:`assert_unbiased`: a real statistical test that an estimator is unbiased on one problem at one point:
  per-coordinate z-tests of ``(mean − exact) / standard error`` combined with Holm's step-down procedure (Holm 1979,
  "A simple sequentially rejective multiple test procedure") so the family-wise false-alarm rate is at most
  ``alpha``, with the number of samples chosen so that a bias of ``relative_bias`` is detected with probability
  at least ``power`` (:mod:`varbench.unbiasedness`).
* :func:`check_estimator`: the whole ``varbench check`` battery (:mod:`varbench.battery`), raising on any failure.
* :func:`parametrize_with_checks`: the same battery as pytest tests, one per estimator × problem × check (as
  scikit-learn's ``parametrize_with_checks``), with expected failures marked.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

from varbench.battery import CHECKS, CheckCase, CheckReport, CheckRow, Status, check, check_cases
from varbench.core.errors import VarbenchError
from varbench.unbiasedness import (
    PILOT_SAMPLES,
    BiasTest,
    bias_test,
    gradient_scale,
    holm_reject,
    required_samples,
)

__all__ = ["PILOT_SAMPLES", "BiasTest", "assert_unbiased", "bias_test", "check_estimator", "gradient_scale",
           "holm_reject", "parametrize_with_checks", "required_samples"]


def assert_unbiased(problem: Any, estimator: Any, *, params: Mapping[str, Any] | None = None, alpha: float = 1e-3,
                    relative_bias: float = 0.05, power: float = 0.95, num_samples: int | None = None,
                    max_samples: int = 20_000_000, seed: int = 0, **measure_kwargs: Any) -> BiasTest:
    """Assert that ``estimator`` is unbiased for ``problem`` at ``params``, by a statistical test.

    Per-coordinate two-sided z-tests of ``(mean − exact) / se`` with Holm correction at family-wise level
    ``alpha``. Unless ``num_samples`` is given, a pilot run estimates the variance and the sample size is set
    so that a bias of ``relative_bias × scale`` in any coordinate is detected with probability ``power``
    (scale: :func:`gradient_scale`), capped at ``max_samples``; the bias actually detectable at the sample size
    used is reported in ``BiasTest.detectable_bias``.

    Raises:
      AssertionError: with a per-coordinate table if any coordinate's bias is significant.

    Example:
      >>> from varbench.testing import assert_unbiased
      >>> assert_unbiased("gaussian:cost=square", "pathwise", relative_bias=0.1).passed
      True
    """
    outcome = bias_test(problem, estimator, params=params, alpha=alpha, relative_bias=relative_bias, power=power,
                        num_samples=num_samples, max_samples=max_samples, seed=seed, **measure_kwargs)
    if not outcome.passed:
        raise AssertionError("estimator is biased (statistically significant):\n" + outcome.describe())
    return outcome


def check_estimator(estimator: Any, *, problems: Sequence[Any] | None = None, against: Sequence[str] | None = None,
                    level: str = "quick", seed: int = 0) -> CheckReport:
    """Run the ``varbench check`` battery (:func:`varbench.battery.check`) and raise if any check fails.

    For a researcher's own test suite: ``check_estimator("my_score")`` in a pytest test. Biased estimators that
    declare it pass, with their bias measured in the report.

    Args:
      estimator: a spec string or an estimator object.
      problems: problem specs (default: every registered problem it applies to, one per family at ``quick``).
      against: reference estimator specs for the variance ranking (default: the problem's references).
      level: ``"quick"``, ``"standard"`` or ``"thorough"``.
      seed: the battery's seed.

    Returns:
      The :class:`varbench.battery.CheckReport` when every check passes.

    Raises:
      AssertionError: listing every failed check, one per line.
    """
    report = check(estimator, problems=problems, against=against, level=level, seed=seed)
    if not report.passed:
        raise AssertionError(report.verdict + "\n" + _failure_lines(report.failures))
    return report


def parametrize_with_checks(estimators: Iterable[Any], *, problems: Sequence[Any] | None = None,
                            level: str = "quick", expected_failures: Mapping[str, str] | None = None) -> Any:
    """A pytest decorator that makes one test per estimator × problem × check of the ``varbench check`` battery.

    The decorated test takes ``estimator`` and ``check`` and calls ``check(estimator)``, which runs that one check
    (its rows are those :func:`varbench.battery.check` reports for the problem and check, with the same seeds) and
    fails with the failed rows' details; a check whose rows are all skips is skipped. Test ids read
    ``estimator-problem-check``, e.g. ``pathwise-gaussian:cost=square-bias``. Building the tests resolves the
    estimators and problems and runs nothing.

    Args:
      estimators: spec strings or estimator objects.
      problems: problem specs (a bare built-in name uses its check points); default: every registered problem each
        estimator applies to (one per family at the quick level).
      level: ``"quick"``, ``"standard"`` or ``"thorough"``.
      expected_failures: ``{test id or check name: reason}``; those tests are marked ``xfail(strict=True)``, so
        they fail if the check passes.

    Returns:
      A ``pytest.mark.parametrize`` mark over ``estimator, check``.

    Raises:
      VarbenchError: a key of ``expected_failures`` names no test and no check.

    Example:
      >>> from varbench.testing import parametrize_with_checks
      >>> @parametrize_with_checks(["pathwise"], problems=["gaussian"])
      ... def test_varbench_checks(estimator, check):
      ...     check(estimator)
    """
    import pytest

    cases = [(estimator, case) for estimator in estimators
             for case in check_cases(estimator, problems=problems, level=level)]
    reasons = _expected_failures([case for _, case in cases], expected_failures or {})
    params = []
    for estimator, case in cases:
        reason = reasons.get(case.id, reasons.get(case.check))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason is not None else []
        params.append(pytest.param(estimator, _OneCheck(case), id=case.id, marks=marks))
    return pytest.mark.parametrize("estimator, check", params)


@dataclasses.dataclass(frozen=True)
class _OneCheck:
    """The ``check`` argument of a test of :func:`parametrize_with_checks`: runs one case on the estimator."""

    case: CheckCase

    def __call__(self, estimator: Any) -> list[CheckRow]:
        rows = self.case.run(estimator)
        failures = [r for r in rows if r.status is Status.FAIL]
        if failures:
            raise AssertionError(f"{self.case.id} failed:\n" + _failure_lines(failures))
        if rows and all(r.status is Status.SKIP for r in rows):
            import pytest
            pytest.skip("; ".join(r.detail for r in rows))
        return rows

    def __repr__(self) -> str:
        return self.case.id


def _expected_failures(cases: list[CheckCase], expected: Mapping[str, str]) -> dict[str, str]:
    """``expected`` after checking that each key is a test id or a check name."""
    known = {case.id for case in cases} | {check.name for check in CHECKS}
    for key in expected:
        if key not in known:
            raise VarbenchError(f"expected_failures: {key!r} names no test and no check; valid: a check name "
                                f"({', '.join(c.name for c in CHECKS)}) or a test id such as {cases[0].id!r}")
    return dict(expected)


def _failure_lines(rows: list[CheckRow]) -> str:
    return "\n".join(f"  {r.problem} · {r.point} · {r.check}: {r.detail}" for r in rows)

"""The testing kit for a researcher's own estimators, for use in their pytest suites.

* :func:`assert_unbiased`: a real statistical test that an estimator is unbiased on one problem at one point:
  per-coordinate z-tests of ``(mean − exact) / standard error`` combined with Holm's step-down procedure (Holm 1979,
  "A simple sequentially rejective multiple test procedure") so the family-wise false-alarm rate is at most
  ``alpha``, with the number of samples chosen so that a bias of ``relative_bias`` is detected with probability
  at least ``power`` (:mod:`varbench.unbiasedness`).
* :func:`check_estimator`: the whole ``varbench check`` battery (:mod:`varbench.battery`), raising on any failure.
"""

from __future__ import annotations

from typing import Any, Mapping

from varbench.battery import check
from varbench.unbiasedness import (
    PILOT_SAMPLES,
    BiasTest,
    bias_test,
    gradient_scale,
    holm_reject,
    required_samples,
)

__all__ = ["PILOT_SAMPLES", "BiasTest", "assert_unbiased", "bias_test", "check_estimator", "gradient_scale",
           "holm_reject", "required_samples"]


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


def check_estimator(estimator: Any, *, problems: Any = None, against: Any = None, level: str = "quick",
                    seed: int = 0) -> Any:
    """Run the ``varbench check`` battery (:func:`varbench.battery.check`) and raise if any check fails.

    For a researcher's own test suite: ``check_estimator("my_score")`` in a pytest test. Returns the
    :class:`varbench.battery.CheckReport` when every check passes (biased estimators that declare it pass, with
    their bias measured in the report).

    Raises:
      AssertionError: listing every failed check, one per line.
    """
    report = check(estimator, problems=problems, against=against, level=level, seed=seed)
    if not report.passed:
        lines = [f"  {r.problem} · {r.point} · {r.check}: {r.detail}" for r in report.failures]
        raise AssertionError(report.verdict + "\n" + "\n".join(lines))
    return report

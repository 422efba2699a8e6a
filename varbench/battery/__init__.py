"""``varbench check``: the test battery for a researcher's own estimator (``varbench.check`` is :func:`check`).

In the spirit of scikit-learn's ``check_estimator``, one call runs every check that applies (:func:`checks_for`),
on every built-in problem the estimator applies to (by its ``check_applies``, i.e. its capability protocols), at
one to three params points per problem (:mod:`varbench.check_points`), and says plainly what failed. Each check
is a function of a :class:`CheckContext` that yields rows:

1. **runs**: the estimator keeps the engine's contract (a real floating-point gradient shaped like the params, a
   positive int ``evaluations_per_estimate``, no exception while traced), one jitted estimate is finite, the
   harness's vmapped kernel compiles once, and changing the params, the seed or the sample count (with freshly
   built problem and estimator objects) does not compile again; a fixed seed gives bit-identical results.
2. **unbiased** (``bias``): in exact mode wherever the noise permits and the problem is small (exact mean against
   the exact gradient, to quadrature precision; :data:`EXACT_MAX_PARAMETERS`), otherwise the calibrated z-tests of
   :func:`varbench.unbiasedness.bias_test` (Holm within a point, Bonferroni across the battery's points so that
   the whole battery's false-alarm rate is at most ``alpha``), sized from a pilot run to detect the level's
   relative bias with the level's power. An estimator that declares itself biased (``unbiased = False``) gets its
   bias measured and reported instead of a failure.
3. **variance**: exact or Monte Carlo variance with its 95% interval, ranked against built-in references of the
   same family (:func:`default_references`), raw and work-normalized (× cost evaluations, × seconds per
   estimate); an estimator whose variance interval lies entirely above the plain score function's in every
   coordinate is flagged.
4. **state** (stateful estimators): the state stays a valid pytree (same structure, shapes, finite) and the
   estimate stays unbiased at every state reached along a short warm-up.
5. **evaluations**: ``evaluations_per_estimate`` equals the cost evaluations one estimate really makes
   (:mod:`varbench.evaluations`).

Levels (:data:`LEVELS`): ``quick`` (one problem per family, i.e. per set of capabilities, one point each, 5%
relative bias, no timing runs for exact measurements), ``standard`` (every problem, two points, 1%),
``thorough`` (three points, 0.5%, longer warm-ups). An exact measurement that needs adaptive quadrature keeps to
the level's budget of points (``Level.exact_budget``: about 2 s of a cheap cost at quick, 8 s at standard, exact
mode's full minute at thorough) and otherwise gives way to the Monte Carlo test. For pytest,
:func:`varbench.testing.parametrize_with_checks` makes one test per estimator × problem × check
(:func:`check_cases`).
"""

from varbench.battery._cases import CheckCase, check_cases
from varbench.battery._checks import (
    EXACT_TOLERANCE,
    Finding,
    check_bias,
    check_evaluations,
    check_runs,
    check_state,
    check_variance,
)
from varbench.battery._context import EXACT_MAX_PARAMETERS, SEED_SPAN, CheckContext
from varbench.battery._generate import CHECKS, Check, checks_for
from varbench.battery._references import default_references
from varbench.battery._report import (
    LEVELS,
    CheckReport,
    CheckRow,
    Comparison,
    Level,
    Status,
    VarianceEntry,
)
from varbench.battery._run import LARGEST_SEED, check
from varbench.battery._store import write_check

__all__ = ["CHECKS", "EXACT_MAX_PARAMETERS", "EXACT_TOLERANCE", "LARGEST_SEED", "LEVELS", "SEED_SPAN", "Check",
           "CheckCase", "CheckContext", "CheckReport", "CheckRow", "Comparison", "Finding", "Level", "Status",
           "VarianceEntry", "check", "check_bias", "check_cases", "check_evaluations", "check_runs", "check_state",
           "check_variance", "checks_for", "default_references", "write_check"]

"""``varbench check``: the battery catches planted defects with a clear message, passes a correct estimator,
reports built-in biased estimators as biased, and every built-in unbiased estimator passes it."""

from __future__ import annotations

import json
import re

import pytest

import varbench
from varbench import catalog
from varbench.battery import LARGEST_SEED, LEVELS, check, default_references
from varbench.check_points import CHECK_POINTS
from varbench.cli import main
from varbench.core.errors import VarbenchError
from varbench.testing import check_estimator

PLANTED = "tests.plugins.planted"


@pytest.fixture(scope="module", autouse=True)
def planted():
    varbench.load_plugin(PLANTED)


def _failed(report, check_name):
    return [r for r in report.failures if r.check.startswith(check_name)]


def test_a_correct_estimator_passes_and_ranks_against_the_references():
    report = check("planted_correct", problems=["gaussian"], level="quick")
    assert report.passed, report.verdict
    checks = {r.check for r in report.rows}
    assert {"runs: no recompilation", "runs: deterministic", "evaluations", "unbiased", "variance"} <= checks
    ranked = {v.estimator: v.rank for v in report.variance}
    assert set(ranked) == {"planted_correct", "score_function", "pathwise"} and ranked["pathwise"] == 1


def test_a_few_percent_bias_is_caught_in_exact_mode():
    report = check("planted_biased", problems=["gaussian"], level="quick", against=[])
    (row,) = _failed(report, "unbiased")
    assert "exact mode: relative bias 0.03" in row.detail and not report.passed


def test_a_few_percent_bias_is_caught_by_the_statistical_test():
    # Six noise dimensions: exact mode refuses, so the battery sizes a z-test to detect 1% with power 0.9.
    report = check("planted_biased", problems=["gaussian:cost=square,k=0,dim=6"], level="standard", against=[])
    (row,) = _failed(report, "unbiased")
    assert re.match(r"bias detected: relative bias 0\.03\d* at (mean|log_scale)\[\d\] \(", row.detail), row.detail


def test_nan_for_some_keys_is_caught():
    report = check("planted_nan", problems=["gaussian"], level="quick", against=[])
    (row,) = _failed(report, "runs")
    assert "NaN/inf" in row.detail


def test_a_lying_evaluation_count_is_caught():
    report = check("planted_liar", problems=["gaussian"], level="quick", against=[])
    (row,) = _failed(report, "evaluations")
    assert row.detail == "evaluations_per_estimate says 1 but one estimate evaluates the cost 2 times"


def test_recompiling_on_every_call_is_caught():
    report = check("planted_recompiler", problems=["gaussian"], level="quick", against=[])
    (row,) = _failed(report, "runs: no recompilation")
    assert "new kernel(s) compiled" in row.detail and "static fields" in row.detail


def test_a_biased_builtin_is_reported_biased_with_its_bias():
    report = check("gumbel_softmax", problems=["bernoulli"], level="quick", against=[])
    assert report.passed
    (row,) = [r for r in report.rows if r.check == "unbiased"]
    assert row.status == "biased" and row.value > 0.01 and "declared biased" in row.detail
    (variance,) = [r for r in report.rows if r.check == "variance"]  # ranked apart, not "pass, rank 1 of 1"
    assert variance.status == "biased" and "rank — (biased; variance not comparable)" in variance.detail


def test_a_stateful_estimator_is_checked_at_the_states_it_reaches():
    report = check("score_function:baseline=ema", problems=["gaussian"], level="quick", against=[])
    assert report.passed
    assert any(r.check == "unbiased after 20 updates" and r.status == "pass" for r in report.rows)


def _first_check_point(estimator: str):
    est = catalog.resolve_estimator(estimator)
    for points in CHECK_POINTS.values():
        for point in points:
            try:
                est.check_applies(catalog.resolve_problem(point.problem))
                return point
            except varbench.NotApplicableError:
                continue
    raise AssertionError(f"no check point for {estimator}")


@pytest.mark.parametrize("estimator", [n for n in catalog.estimator_names()
                                       if catalog.origin(catalog.ESTIMATORS[n]) == "built in"])
def test_every_builtin_passes_the_quick_battery(estimator):
    """At its first applicable check point, without references (the CLI checks every family by default)."""
    point = _first_check_point(estimator)
    report = check(estimator, problems=[point.problem], level="quick", against=[])
    assert report.passed, report.verdict + "".join(f"\n{r}" for r in report.failures)
    if not catalog.resolve_estimator(estimator).unbiased:
        assert any(r.status == "biased" for r in report.rows)


def test_check_estimator_raises_with_every_failed_check():
    with pytest.raises(AssertionError, match=r"FAILED: planted_liar[\s\S]*evaluations_per_estimate says 1"):
        check_estimator("planted_liar", problems=["gaussian"], against=[])
    assert check_estimator("pathwise", problems=["gaussian"], against=[]).passed


def test_cli_check_exit_codes_and_outputs(tmp_path, capsys):
    code = main(["check", "planted_correct", "--plugin", PLANTED, "--problems", "gaussian", "--level", "quick",
                 "--format", "json", "--out", str(tmp_path / "out")])
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["passed"] and data["estimator"] == "planted_correct"
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"check.json", "check.md", "variance.png",
                                                               "manifest.json", "cells"}
    from varbench import reports
    frame = reports.load(tmp_path / "out")
    assert {"planted_correct", "score_function", "pathwise"} <= set(frame["estimator"])
    assert main(["check", "planted_liar", "--plugin", PLANTED, "--problems", "gaussian", "--level", "quick",
                 "--against", "score_function"]) == 1
    assert main(["check", "pathwise", "--level", "fast"]) == 2
    assert main(["check", "no_such_estimator"]) == 2
    err = capsys.readouterr().err
    assert "valid estimators" in err


def test_bad_input_and_references():
    with pytest.raises(VarbenchError, match="valid levels: quick, standard, thorough"):
        check("pathwise", level="fast")
    with pytest.raises(VarbenchError, match="applies to none of the problems"):
        check("pathwise", problems=["bernoulli"], level="quick")
    assert default_references(catalog.resolve_problem("bernoulli")) == ["score_function", "rloo:samples=2", "disarm"]
    assert set(LEVELS) == {"quick", "standard", "thorough"}
    with pytest.raises(VarbenchError, match="executor must be a varbench.executors.ExecutorChoice"):
        check("pathwise", problems=["gaussian"], level="quick", executor="dask")


def test_one_seed_range_up_to_the_largest_the_battery_can_offset():
    """The engine's seeds stop at MAX_SEED; the battery's measurements use seeds up to seed + SEED_SPAN."""
    from varbench.battery import SEED_SPAN
    from varbench.engine.prng import MAX_SEED

    assert LARGEST_SEED == MAX_SEED - SEED_SPAN > 2 ** 31
    for seed in (-1, True, 1.5, MAX_SEED + 1):
        with pytest.raises(VarbenchError, match=f"seed must be a non-negative integer up to {MAX_SEED}"):
            check("pathwise", problems=["gaussian"], level="quick", seed=seed)
    with pytest.raises(VarbenchError, match=f"seed must be at most {LARGEST_SEED}: the battery measures with seeds "
                                            f"up to seed \\+ {SEED_SPAN}"):
        check("pathwise", problems=["gaussian"], level="quick", seed=LARGEST_SEED + 1)
    assert check("pathwise", problems=["gaussian"], level="quick", against=[], seed=LARGEST_SEED).passed
    assert main(["check", "pathwise", "--problems", "gaussian", "--level", "quick", "--against", "score_function",
                 "--seed", str(2 ** 31), "--format", "json"]) == 0  # refused before: the battery stopped at 2^31


def test_an_identical_estimator_is_not_flagged_for_float_rounding():
    """Exact intervals have zero width: the same variance computed along another code path (4.2706705665446645
    against 4.270670566544661, as optax's score function against the built-in one) must not read as "above the
    plain score function's in every coordinate"; a variance really above it still does."""
    from types import SimpleNamespace

    from varbench.battery._variance import _above_in_every_coordinate

    def exact(*values):
        return SimpleNamespace(variance_ci={"mean": [[v, v] for v in values]})

    plain = exact(4.270670566544661, 1.0)
    assert not _above_in_every_coordinate(exact(4.2706705665446645, 1.0 + 2e-16), plain)
    assert _above_in_every_coordinate(exact(4.3, 1.01), plain)
    assert not _above_in_every_coordinate(exact(4.3, 1.0), plain)


@varbench.pytree_dataclass
class NanForRareNoise(varbench.Estimator):
    """A user's pathwise estimator that returns NaN when a noise coordinate exceeds 4.5 (probability 3e-6 each)."""

    name = "test_nan_for_rare_noise"

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        import jax
        import jax.numpy as jnp

        grad = jax.grad(lambda p: problem.cost(p, problem.latent(p, noise)))(params)
        rare = jnp.any(noise > 4.5)
        return jax.tree_util.tree_map(lambda g: jnp.where(rare, jnp.nan, g), grad)


def test_a_non_finite_estimate_found_by_quadrature_is_a_failed_check_not_bad_input():
    """Exact mode meets the rare noise on its grid while the Monte Carlo runs did not draw it: the battery reports a
    failed check (exit 1), never bad input (exit 2, which blamed the params)."""
    report = check(NanForRareNoise(), problems=["gaussian"], level="quick")
    assert not report.passed
    assert any("not finite" in r.detail or "NaN" in r.detail for r in report.failures), report.markdown()


@varbench.pytree_dataclass
class DroppedChainRuleFactor(varbench.Estimator):
    """A user's pathwise estimator for location-scale Gaussians that forgets the factor exp(log_scale) of
    dx/dlog_scale = eps·exp(log_scale): exact at log_scale = 0, biased everywhere else."""

    name = "test_dropped_chain_rule_factor"

    def evaluations_per_estimate(self, problem):
        return 1

    def check_applies(self, problem):
        from varbench.capabilities import LOCATION_SCALE, require

        require(problem, LOCATION_SCALE, "estimator 'test_dropped_chain_rule_factor'", "use a Gaussian")

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        import jax
        import jax.numpy as jnp

        x = params["mean"] + jnp.exp(params["log_scale"]) * noise
        slope = jax.grad(lambda y: problem.cost(params, y))(x)
        return {"mean": slope, "log_scale": slope * noise}


def test_the_quick_level_catches_a_defect_that_vanishes_at_log_scale_zero():
    """The quick level's Gaussian point is generic (seeded, stated in its label): a defect hidden at log_scale = 0
    fails the bias check there; at a point the user gives, log_scale = 0 still hides it."""
    report = check(DroppedChainRuleFactor(), problems=["gaussian"], level="quick")
    assert [r.check for r in report.failures] == ["unbiased"], report.markdown()
    assert "generic point, seed 0" in report.failures[0].point
    assert " at log_scale" in report.failures[0].detail  # the coordinate to fix, not only the size of the bias
    hidden = check(DroppedChainRuleFactor(), problems=["gaussian:cost=square"], level="quick",
                   params={"mean": 1.0, "log_scale": 0.0})
    assert hidden.passed


def test_the_exact_attempt_keeps_to_the_level_budget_then_falls_back_to_monte_carlo():
    """A narrow-peaked cost needs adaptive quadrature; under a budget too small for it the bias and variance checks
    fall back to the z-tests and Monte Carlo, and still give a verdict (the levels' budgets grow with the level)."""
    tight = LEVELS["quick"]._replace(exact_budget=500)
    report = check("score_function", problems=["gaussian:cost=exp_square,k=10"], level=tight, against=[])
    rows = {r.check: r for r in report.rows}
    assert report.passed and rows["unbiased"].detail.startswith("z-tests"), report.markdown()
    assert rows["variance"].detail.endswith("(mc), rank 1 of 1")
    budgets = [LEVELS[name].exact_budget for name in ("quick", "standard")]
    assert budgets == sorted(budgets) and LEVELS["thorough"].exact_budget is None


def test_a_bias_test_capped_short_of_the_level_target_is_inconclusive_not_a_pass():
    """At the sample cap, a z-test that could still miss a bias above the level's target says so (a flag, not a
    pass); with the cap out of the way the same check passes."""
    no_exact = LEVELS["quick"]._replace(exact_budget=500)  # forces the Monte Carlo route (z-tests)
    capped = check("score_function", problems=["gaussian:cost=exp_square,k=10"], level=no_exact._replace(
        max_samples=2_000), against=[])
    row = {r.check: r for r in capped.rows}["unbiased"]
    assert row.status == "flag" and row.detail.startswith("inconclusive") and capped.passed, capped.markdown()
    assert "2000 samples" in row.detail
    free = check("score_function", problems=["gaussian:cost=exp_square,k=10"], level=no_exact, against=[])
    assert {r.check: r for r in free.rows}["unbiased"].status == "pass"

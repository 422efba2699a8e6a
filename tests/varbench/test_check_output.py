"""What ``varbench check`` prints: progress on stderr in every format, the variance ranking by raw variance and by
variance × evaluations, biased estimators ranked apart, and bias failures that name the coordinate."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import varbench
from varbench.battery import VarianceEntry, check
from varbench.battery._checks import _worst_relative_bias
from varbench.battery._variance import rank_entries
from varbench.cli import main
from varbench.cli._check import _print_table

PLANTED = "tests.plugins.planted"


@pytest.fixture(scope="module", autouse=True)
def planted():
    varbench.load_plugin(PLANTED)


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_progress_goes_to_stderr_and_stdout_stays_the_report(capsys, fmt):
    """A long check said nothing in Markdown or JSON; the progress must not mix into the report either."""
    assert main(["check", "pathwise", "--problems", "gaussian", "--level", "quick", "--against", "score_function",
                 "--format", fmt]) == 0
    out, err = capsys.readouterr()
    assert "varbench check: gaussian: 1 point(s)" in err and "varbench check:" not in out.replace("# varbench", "")
    if fmt == "json":
        assert json.loads(out)["passed"]
    else:
        assert out.startswith("# varbench check: pathwise") and "| rank × evaluations |" in out


def test_k_sample_estimators_are_ranked_per_evaluation_too(capsys):
    """Eight score-function samples beat RLOO's four on raw variance but not per cost evaluation: the row states
    both ranks, and the terminal table shows the × evaluations column beside the raw variance."""
    report = check("score_function:samples=8", problems=["gaussian"], level="quick", against=["rloo:samples=4"])
    (row,) = [r for r in report.rows if r.check == "variance"]
    assert row.status == "pass" and "rank 1 of 2, 2 of 2 by variance × evaluations" in row.detail, row.detail
    ranks = {v.estimator: (v.rank, v.work_rank) for v in report.variance}
    assert ranks == {"score_function:samples=8": (1, 2), "rloo": (2, 1)}
    _print_table(report)  # what `varbench check` prints in the table format
    out = capsys.readouterr().out
    assert "total variance" in out and "× evaluations" in out and "rank × evaluations" in out
    sf8 = next(v for v in report.variance if v.candidate)
    (line,) = [x for x in out.splitlines() if x.startswith("│ score_function:")]  # its row in the variance table
    assert f" {sf8.total_variance:.4g} " in line and f" {sf8.work_evaluations:.4g} " in line


def test_a_biased_candidate_is_ranked_apart():
    """planted_biased (pathwise × 1.03) has the smallest variance but fails the bias check: no "pass, rank 1"."""
    report = check("planted_biased", problems=["gaussian"], level="quick", against=["score_function"])
    (row,) = [r for r in report.rows if r.check == "variance"]
    assert row.status == "biased" and "rank — (biased; variance not comparable)" in row.detail
    assert "rank 1" not in row.detail
    assert [(v.estimator, v.rank, v.biased) for v in report.variance] == [("score_function", 1, False),
                                                                         ("planted_biased", 0, True)]
    assert "| **planted_biased** | exact | 47.5 | [47.5, 47.5] | — (biased) |" in report.markdown()


def _entry(name, variance, evaluations, biased=False, candidate=False):
    return VarianceEntry("p", "x", name, candidate, "exact", variance, variance, variance, evaluations,
                         variance * evaluations, float("nan"), float("nan"), biased=biased)


def test_ranking_leaves_biased_references_out_and_ranks_per_evaluation():
    ranked = rank_entries([_entry("mine", 4.0, 1, candidate=True), _entry("k8", 1.0, 8),
                           _entry("relaxed", 0.1, 1, biased=True)])
    assert [(e.estimator, e.rank, e.work_rank) for e in ranked] == [("k8", 1, 2), ("mine", 2, 1), ("relaxed", 0, 0)]


def test_the_worst_coordinate_is_named_relative_to_the_gradient_scale():
    result = SimpleNamespace(
        grad_exact={"mean": np.array(2.0), "w": np.array([[1.0, 10.0], [0.5, 4.0]])},
        bias={"mean": np.array(0.1), "w": np.array([[0.0, 0.2], [0.0, 0.8]])})
    # Relative to max(|g|, 1): mean 0.05, w[0, 1] 0.02, w[1, 1] 0.2.
    assert _worst_relative_bias(result) == (pytest.approx(0.2), "w[1, 1]")
    result.bias["mean"] = np.array(1.0)
    assert _worst_relative_bias(result) == (pytest.approx(0.5), "mean")

"""`varbench sequential`: the VI-as-RL report table."""

import json

from varbench import sequential_table
from varbench.catalog import resolve_problem
from varbench.cli import main


def test_rows_cover_the_issue_grid():
    names = [spec for spec, _ in sequential_table.estimator_rows(resolve_problem("lgssm:T=3"), (0.0, 0.5, 1.0))]
    assert names == ["score_function:returns=full", "score_function:returns=to_go",
                     "score_function:returns=to_go,baseline=value", "actor_critic", "n_step:n=1", "n_step:n=2",
                     "n_step:n=3", "gae:lambda=0", "gae:lambda=0.5", "gae:lambda=1", "pathwise:entropy=analytic",
                     "pathwise:entropy=sampled"]
    assert not any(spec.startswith("pathwise") for spec, _ in sequential_table.estimator_rows(resolve_problem("hmm")))


def test_sequential_command_reports_rows_with_both_critics(capsys, monkeypatch):
    # A short row list keeps the test cheap; the full grid is checked above without measuring it.
    short = [("score_function:returns=full", False), ("score_function:returns=to_go", False),
             ("score_function:returns=to_go,baseline=value", True), ("gae:lambda=0", True)]
    monkeypatch.setattr(sequential_table, "estimator_rows", lambda problem, lambdas: short)
    argv = ["sequential", "--problem", "hmm:K=2,T=2", "--method", "exact", "--format", "json"]
    assert main(argv) == 0
    (report,) = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in report["rows"]]
    assert names == [spec for spec, _ in short]
    rows = {row["name"]: row for row in report["rows"]}
    assert "learned" not in rows["score_function:returns=full"] and "learned" in rows["gae:lambda=0"]
    variance = {n: rows[n]["oracle"]["total_variance"] for n in names}
    assert variance["score_function:returns=full"] > variance["score_function:returns=to_go"] > \
        variance["score_function:returns=to_go,baseline=value"]
    assert all(rows[n]["oracle"]["max_abs_bias"] < 1e-10 for n in names)
    assert rows["gae:lambda=0"]["learned"]["max_abs_bias"] > 1e-4  # the learned critic's regression error
    assert report["elbo"] < report["log_evidence"]
    text = sequential_table.markdown(report)
    assert text.count("\n| ") == len(names) + 1 and "total variance (learned)" in text


def test_sequential_command_refuses_non_sequential_problems(capsys):
    assert main(["sequential", "--problem", "gaussian"]) == 2
    assert "needs a sequential problem (lgssm, hmm)" in capsys.readouterr().err
    assert main(["sequential", "--lambdas", "0,2"]) == 2
    assert "numbers in [0, 1]" in capsys.readouterr().err


def test_estimator_column_is_never_truncated(capsys, monkeypatch):
    """Rich shrinks columns to the console; the estimator spec must survive whole ("gae:lambd…" names nothing)."""
    summary = {"total_variance": 1234.5, "max_abs_bias": 0.01, "bias_norm": 0.02, "evaluations_per_estimate": 1,
               "seconds_per_estimate": 1e-5}
    names = ["score_function:returns=to_go,baseline=value", "gae:lambda=0.5"]
    report = {"problem": "lgssm:T=5", "method": "exact", "num_samples": None, "elbo": -1.0, "log_evidence": -2.0,
              "rows": [{"name": n, "oracle": summary, "learned": summary} for n in names]}
    for columns in ("120", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        sequential_table.print_table(report)
        out = capsys.readouterr().out
        assert all(n in out for n in names) and "…" not in out.split("\n", 3)[-1], columns

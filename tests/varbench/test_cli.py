import json
import subprocess
import sys

import pytest

import varbench
from varbench.cli import main


def test_run_json_prints_exactly_one_object(capsys):
    rc = main(["run", "--problem", "gaussian:cost=square,k=0", "--estimator", "score_function",
               "--param", "mean=1", "--param", "log_scale=0", "--num-samples", "20000", "--format", "json"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("\n") == 1
    d = json.loads(out)
    assert tuple(d) == varbench.RESULT_FIELDS
    assert d["num_samples"] == 20000 and d["grad_exact"]["mean"] == [2.0]


def test_samples_is_a_deprecated_alias_of_num_samples(capsys):
    argv = ["run", "--problem", "gaussian:cost=square,k=0", "--estimator", "score_function", "--format", "json"]
    assert main([*argv, "--num-samples", "2000"]) == 0
    new = capsys.readouterr()
    assert main([*argv, "--samples", "2000", "--samples", "2000"]) == 0
    old = capsys.readouterr()
    assert json.loads(old.out)["grad_mean"] == json.loads(new.out)["grad_mean"] and new.err == ""
    assert old.err.count("\n") == 1 and old.err.startswith("varbench: warning: --samples is deprecated: use "
                                                           "--num-samples (the number of estimates;"), old.err


def test_building_the_parser_loads_neither_the_engine_nor_optax():
    code = ("import sys, varbench.cli; varbench.cli.build_parser(); "
            "assert not {'optax', 'varbench.engine.harness'} & set(sys.modules), 'loaded'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_table_is_readable(capsys):
    assert main(["run", "--problem", "gaussian:dim=2", "--estimator", "pathwise", "--num-samples", "1e4"]) == 0
    out = capsys.readouterr().out
    for fragment in ("pathwise on gaussian:cost=square,k=1,dim=2",
                     "mean[1]", "log_scale[0]", "bias z",
                     "variance 95% CI", "estimates/s", "total variance"):
        assert fragment in out, fragment


def test_run_table_of_an_amortized_problem_has_group_totals(capsys):
    problem = "linear_vae:data_subset=4,batch_size=2,latent=1"
    assert main(["run", "--problem", problem, "--estimator", "pathwise", "--num-samples", "256"]) == 0
    out = capsys.readouterr().out
    assert "enc_weight" in out and "enc_weight[0, 0]" not in out and "--per-coordinate prints each" in out
    totals = out[out.index("variance × evaluations"):]
    assert "encoder" in totals and "decoder" in totals
    assert main(["run", "--problem", problem, "--estimator", "pathwise", "--num-samples", "256",
                 "--per-coordinate"]) == 0
    assert "enc_weight[0, 0]" in capsys.readouterr().out


def test_run_exact_table_has_no_monte_carlo_columns(capsys):
    assert main(["run", "--problem", "gaussian", "--estimator", "pathwise", "--method", "exact"]) == 0
    out = capsys.readouterr().out
    assert "quadrature nodes" in out and "estimates/s" not in out and "bias z" not in out and " bias " in out


def test_run_exact_method(capsys):
    assert main(["run", "--problem", "gaussian:cost=square,k=0", "--estimator", "pathwise", "--method", "exact",
                 "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["method"] == "exact" and d["bias_z"] is None
    assert d["variance"]["mean"][0] == pytest.approx(4.0, rel=1e-12)
    assert d["variance"]["log_scale"][0] == pytest.approx(12.0, rel=1e-12)


def test_list_shows_options_and_labels(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for fragment in ("gaussian", "cost=square", "one of linear, square, exp_square, cos", "score_function",
                     "baseline=none", "measure_valued", "(unbiased)", "params (default options): mean (1,), "
                     "log_scale (1,)", "logits (1, 3)"):
        assert fragment in out
    assert main(["list", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["estimators"]["pathwise"]["unbiased"] is True


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--problem", "gauss", "--estimator", "pathwise"], "valid problems: bernoulli, categorical, gaussian"),
    (["run", "--problem", "gaussian", "--estimator", "magic"], "valid estimators:"),
    (["run", "--problem", "gaussian:cost=tan", "--estimator", "pathwise"], "one of linear, square"),
    (["run", "--problem", "gaussian:k=[1", "--estimator", "pathwise"], "unbalanced brackets"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--num-samples", "0"], "positive integer"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--num-samples", "many"], "positive integer"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--param", "sd=1"], "valid parameters: mean"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--param", "mean"], "NAME=VALUE"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--method", "quad"], "invalid choice"),
    (["run", "--problem", "gaussian", "--estimator", "pathwise", "--format", "xml"], "invalid choice"),
    (["run", "--problem", "gaussian:dim=6", "--estimator", "pathwise", "--method", "exact"], "use method=mc"),
    (["run", "--problem", "gaussian"], "required: --estimator"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_input_is_one_line_on_stderr(capsys, argv, fragment):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("varbench: error: "), captured.err
    assert fragment in captured.err


def test_nonfinite_estimates_exit_nonzero_without_traceback(capsys):
    # log_scale=100 makes sigma = inf in float32, so x = inf and cos(x) is NaN.
    assert main(["run", "--problem", "gaussian:cost=cos", "--estimator", "pathwise", "--param", "log_scale=100",
                 "--num-samples", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN/inf" in err
    # log_scale=60 keeps estimates finite (~1e26) though their squares overflow float32: the harness's scaled
    # power sums measure them (float64 variance ~6e51 with a finite interval) instead of refusing.
    assert main(["run", "--problem", "gaussian:cost=cos", "--estimator", "pathwise", "--param", "log_scale=60",
                 "--num-samples", "1000", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 1e50 < out["variance"]["log_scale"][0] < 1e53 and None not in out["variance_ci"]["log_scale"][0]


def test_console_script_and_module_entry_points():
    proc = subprocess.run([sys.executable, "-m", "varbench", "run", "--problem", "nope", "--estimator", "pathwise"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "varbench", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "run" in proc.stdout and "list" in proc.stdout


def test_trace_save_params_then_run_at_a_checkpoint(tmp_path, capsys):
    problem = "linear_vae:data_subset=8,batch_size=4,latent=1"  # as in test_trace, to share compiled kernels
    argv = ["trace", "--problem", problem, "--estimator", "pathwise", "--steps", "2", "--every", "2", "--num-samples",
            "500", "--seed", "3", "--save-params", str(tmp_path / "ckpt")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    saved = tmp_path / "ckpt" / "step_000002.npz"
    assert "encoder variance" in out and "decoder variance" in out  # per-group columns of the table
    assert f"params_file={saved}" in out  # the spec that measures at the last checkpoint
    assert main(argv + ["--format", "json"]) == 0
    record = [json.loads(line) for line in capsys.readouterr().out.splitlines()][-1]
    assert record["step"] == 2 and set(record["group_variance"]) == {"encoder", "decoder"}
    # Measured again from the saved file, with the checkpoint's seed: the trace's record, to the last bit.
    assert main(["run", "--problem", f"{problem},params_file={saved}", "--estimator", "pathwise", "--num-samples",
                 "500", "--seed", str(record["seed"]), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"] == record["params"] and d["grad_mean"] == record["grad_mean"]
    assert d["total_variance"] == record["total_variance"]


def test_trace_save_params_on_a_problem_without_params_file_points_to_param(tmp_path, capsys):
    assert main(["trace", "--problem", "bernoulli", "--estimator", "arm", "--steps", "1", "--every", "1",
                 "--method", "exact", "--save-params", str(tmp_path)]) == 0
    assert "--param NAME=VALUE" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_000000.npz", "step_000001.npz"]


def test_trace_bad_save_params_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("")
    assert main(["trace", "--problem", "bernoulli", "--estimator", "arm", "--steps", "1", "--method", "exact",
                 "--save-params", str(blocker / "ckpt")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("varbench: error: save_params") and "not a usable directory" in captured.err


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_refused_suite_report_results_and_verify_create_nothing(tmp_path, monkeypatch, capsys):
    """A refused command leaves the disk as it was: no store, no report folder, nothing in the working directory."""
    from varbench.reports import store

    monkeypatch.chdir(tmp_path)
    (tmp_path / "not_a_store").mkdir()
    (tmp_path / "a_file").write_text("x")
    store.write_manifest(tmp_path / "half", {"config_hash": "abc"})  # a store without the blocks a report needs
    before = _tree(tmp_path)
    refused = [
        ["suite", "--out", ""],
        ["suite", "--out", "   "],
        ["suite", "--out", "a_file"],
        ["suite", "--config", "missing.toml", "--out", "new/store"],
        ["results", "not_a_store"],
        ["results", "missing"],
        ["report", "not_a_store"],
        ["report", "missing", "--out", "new/report"],
        ["report", "half", "--out", "new/report"],
        ["report", "not_a_store", "--out", ""],
        ["store", "verify", "missing"],
        ["store", "verify", "not_a_store"],
        ["store", "verify"],
    ]
    for argv in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("varbench: error: ") and err.count("\n") == 1, (argv, err)
        assert _tree(tmp_path) == before, argv
    assert "see 'varbench store verify --help'" in (main(["store", "verify"]), capsys.readouterr().err)[1]

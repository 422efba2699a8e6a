"""``varbench trace``: variance along an optimisation, all estimators measured at the same params."""

import json
import logging

import jax
import numpy as np
import pytest
from varbench.reports.schema import TIMING

import varbench
from varbench.catalog import resolve_problem
from varbench.cli import main
from varbench.core.errors import VarbenchError
from varbench.executors import ExecutorChoice
from varbench.trace import TraceSettings, checkpoint_path, params_file_spec, trace


@pytest.mark.statistical
def test_relax_toy_reinforce_stays_flat_while_relax_falls():
    # Grathwohl et al. (2018), Figure 1 (right), short: the toy with target 0.499, optimised from logit 0.
    settings = TraceSettings(steps=300, every=100, num_samples=20_000)
    reinforce = trace("bernoulli", "score_function", params={"logits": 0.0}, settings=settings, seed=0)
    assert [r["step"] for r in reinforce] == [0, 100, 200, 300]
    for r in reinforce:
        assert -4.4 < r["log_variance"] < -4.0, r
    rows = trace("bernoulli", "relax", estimators=["score_function", "relax"], params={"logits": 0.0},
                 settings=TraceSettings(steps=300, every=300, num_samples=20_000), seed=0)
    relax = [r for r in rows if r["estimator"].startswith("relax")]
    same_params = [r for r in rows if r["estimator"].startswith("score_function")]
    assert [r["params"] for r in relax] == [r["params"] for r in same_params]  # measured at the SAME params
    assert relax[0]["log_variance"] > -4.2  # untrained, RELAX is REBAR: no better than REINFORCE here
    assert relax[-1]["log_variance"] < relax[0]["log_variance"] - 2 * np.log(10)  # two orders of magnitude
    assert same_params[-1]["log_variance"] > -4.4  # REINFORCE at RELAX's params has not improved


def _measured(records):
    """Trace records without their timing fields (which differ between two runs of the same measurements)."""
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_trace_is_a_pure_function_of_the_seed_and_does_not_recompile_measurements(caplog):
    kwargs = dict(estimators=["score_function:baseline=ema", "disarm"],
                  settings=TraceSettings(steps=6, every=3, num_samples=2000))
    first = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=4, **kwargs)
    caplog.set_level(logging.DEBUG)
    with jax.log_compiles(True):
        again = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=4, **kwargs)
    assert _measured(first) == _measured(again)
    assert all(r["compile_seconds"] > 0 for r in first[:2]) and all(r["compile_seconds"] == 0 for r in again)
    # Neither the optimisation step nor the measurement kernels (with explicit states) compile again.
    compiled = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert [m for m in compiled if "_kernel" in m or "_train_step" in m] == []
    other = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=5, **kwargs)
    assert other[-1]["params"] != first[-1]["params"]
    assert {r["estimator"].split(":")[0] for r in first} == {"score_function", "disarm"}
    assert all(r["method"] == "mc" and r["num_samples"] == 2000 for r in first)


def test_measure_accepts_an_explicit_state():
    est = "score_function:baseline=ema"
    state = {"mean": jax.numpy.asarray(0.250001, jax.numpy.float32), "weight": jax.numpy.asarray(1.0)}
    at_zero = {"logits": 0.0}  # E[f] = 0.25 at logit 0
    frozen = varbench.measure("bernoulli", est, params=at_zero, method="exact", state=state)
    assert frozen.variance["logits"][0] < 1e-10  # the baseline is E[f]: (b − ½)(f(b) − E f) is nearly constant
    assert varbench.measure("bernoulli", est, params=at_zero, method="exact").variance["logits"][0] == \
        pytest.approx(0.015625, rel=1e-4)


def test_trace_cli_prints_json_lines(capsys):
    rc = main(["trace", "--problem", "bernoulli", "--estimator", "arm", "--estimators", "arm", "disarm",
               "--param", "logits=0",  # the toy's logit 0, where DisARM's variance is exactly 0
               "--steps", "4", "--every", "2", "--num-samples", "1000", "--method", "exact", "--format", "json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(lines) == 6
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [0, 0, 2, 2, 4, 4]
    assert rows[1]["estimator"] == "disarm" and rows[1]["variance"]["logits"][0] == pytest.approx(0.0, abs=1e-30)
    assert rows[0]["driver"] == "arm" and rows[0]["evaluations_per_estimate"] == 2


def test_trace_cli_table_and_run_warmup(capsys):
    assert main(["trace", "--problem", "bernoulli", "--estimator", "disarm", "--steps", "2", "--every", "1",
                 "--num-samples", "500"]) == 0
    out = capsys.readouterr().out
    assert "log variance" in out and "driven by" in out
    assert main(["run", "--problem", "bernoulli", "--estimator", "score_function:baseline=ema", "--warmup", "50",
                 "--method", "exact", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["variance"]["logits"][0] < 1e-4


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(steps=-1), "steps"), (dict(every=0), "every"), (dict(num_samples=0), "num_samples"), (dict(lr=0.0), "lr"),
    (dict(steps=True), "steps"), (dict(lr=float("inf")), "lr"),
])
def test_trace_settings_are_checked_on_construction(kwargs, fragment):
    with pytest.raises(VarbenchError, match=fragment) as info:
        TraceSettings(**kwargs)
    assert "\n" not in str(info.value)


def test_trace_settings_are_the_cli_defaults():
    from varbench.cli import build_parser
    args, _ = build_parser().parse_known_args(["trace", "--problem", "bernoulli", "--estimator", "arm"])
    assert TraceSettings(lr=args.lr, steps=args.steps, every=args.every, num_samples=args.num_samples) == \
        TraceSettings()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(method="quad"), "valid methods"), (dict(estimators=["arm"], problem="categorical"), "binary latents only"),
    (dict(seed=-1), "seed"), (dict(seed=2 ** 32 - 5, settings=TraceSettings(steps=10)), "seed \\+ steps"),
    (dict(executor=ExecutorChoice("local", workers=2)), "apply to --executor dask"),
    (dict(estimators=["arm", "score_function", "arm"]), "^estimators lists 'arm' twice; list each once$"),
])
def test_trace_bad_arguments(kwargs, fragment):
    problem = kwargs.pop("problem", "bernoulli")
    with pytest.raises(VarbenchError, match=fragment):
        trace(problem, "score_function", **kwargs)


def test_trace_cli_bad_input_is_one_line(capsys):
    assert main(["trace", "--problem", "bernoulli", "--estimator", "rloo", "--every", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "positive integer" in err


# --- saved checkpoints and parameter groups  ----------------------------------------------------------------

#: One small amortized problem for every test here (and test_cli's), so its compiled kernels are shared.
VAE = "linear_vae:data_subset=8,batch_size=4,latent=1"
ONE_STEP = TraceSettings(steps=1, every=1)


def test_saved_checkpoints_load_through_params_file_and_reproduce_the_record(tmp_path):
    folder = tmp_path / "ckpt"  # created by trace
    kwargs = dict(estimators=["pathwise"], settings=TraceSettings(steps=4, every=2, num_samples=500), seed=3,
                  save_params=folder)
    rows = trace(VAE, "pathwise", **kwargs)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["step_000000.npz", "step_000002.npz", "step_000004.npz"]  # no temporary file left behind
    assert rows[-1]["params"] != rows[0]["params"]  # the checkpoints are different points
    for row in rows:
        spec = params_file_spec(VAE, checkpoint_path(folder, row["step"]))
        loaded = resolve_problem(spec).default_params()  # what params_file=... reads
        assert {k: v.tolist() for k, v in loaded.items()} == row["params"]
        # The estimator measured at the loaded params with the checkpoint's seed IS the trace's record. (Measuring
        # the `spec` problem itself gives the same; test_cli does that, as each file name compiles a new kernel.)
        res = varbench.measure(VAE, "pathwise", params=loaded, num_samples=500, seed=row["seed"])
        assert {k: v.tolist() for k, v in res.grad_mean.items()} == row["grad_mean"]
        assert res.total_variance == row["total_variance"]
    first = {p.name: dict(np.load(p)) for p in folder.iterdir()}
    again = trace(VAE, "pathwise", **kwargs)  # the same trace into the same folder replaces the files
    assert _measured(again) == _measured(rows) and sorted(p.name for p in folder.iterdir()) == names
    for p in folder.iterdir():
        assert {k: v.tolist() for k, v in np.load(p).items()} == {k: v.tolist() for k, v in first[p.name].items()}


def test_group_variances_partition_the_total_and_scale_with_work():
    rows = trace(VAE, "pathwise", estimators=["pathwise", "score_function"],
                 settings=TraceSettings(steps=0, every=1, num_samples=500))
    for row in rows:
        groups, work = row["group_variance"], row["group_work_normalized_variance"]
        assert set(groups) == {"encoder", "decoder"} and all(v > 0 for v in groups.values())
        assert sum(groups.values()) == pytest.approx(row["total_variance"], rel=1e-12)
        encoder = [k for k in row["variance"] if k.startswith("enc_")]
        assert groups["encoder"] == pytest.approx(sum(np.sum(row["variance"][k]) for k in encoder), rel=1e-12)
        assert work == {g: v * row["evaluations_per_estimate"] for g, v in groups.items()}
    pathwise, score = rows
    # Same decoder gradient in both (the cost's own derivative); REINFORCE's noise is all in the encoder.
    assert score["group_variance"]["encoder"] > 100 * pathwise["group_variance"]["encoder"]
    bernoulli = trace("bernoulli", "arm", settings=TraceSettings(steps=0, every=1), method="exact")
    assert bernoulli[0]["group_variance"] is None and bernoulli[0]["group_work_normalized_variance"] is None


def test_saved_params_of_a_problem_without_params_file_are_keyed_by_name(tmp_path):
    rows = trace("bernoulli:dim=2", "disarm", estimators=["arm"], settings=TraceSettings(steps=2, every=1),
                 method="exact", seed=1, save_params=tmp_path)
    assert params_file_spec("bernoulli:dim=2", checkpoint_path(tmp_path, 2)) is None  # --param is the way
    for row in rows:
        with np.load(checkpoint_path(tmp_path, row["step"])) as saved:
            params = dict(saved)
        assert list(params) == ["logits"] and params["logits"].tolist() == row["params"]["logits"]
        res = varbench.measure("bernoulli:dim=2", "arm", params=params, method="exact", seed=row["seed"])
        assert {k: v.tolist() for k, v in res.variance.items()} == row["variance"]


def test_a_failed_write_leaves_no_checkpoint_under_its_name(tmp_path, monkeypatch):
    import varbench.trace._checkpoints as trace_module

    def disk_full(path, params):
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trace_module, "save_params_file", disk_full)
    with pytest.raises(VarbenchError, match="cannot write params to .*step_000000.npz.*No space left"):
        trace("bernoulli", "arm", settings=ONE_STEP, method="exact", save_params=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["a_file", "a_file/below"])
def test_save_params_must_be_a_usable_directory(tmp_path, where):
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(VarbenchError, match="save_params .* is not a usable directory") as info:
        trace("bernoulli", "arm", settings=ONE_STEP, method="exact", save_params=tmp_path / where)
    assert "\n" not in str(info.value)
    with pytest.raises(VarbenchError, match="must be a directory path"):
        trace("bernoulli", "arm", settings=ONE_STEP, method="exact", save_params="")


TRACE_SUITE = f"""
[[block]]
name = "vae_trace"
kind = "trace"
problem = "{VAE}"
estimators = ["pathwise", "score_function"]
num_samples = 300
trace = {{ drivers = ["pathwise"], lr = 0.01, steps = 2, every = 1 }}
figure = {{ kind = "trace", groups = true }}
"""


def test_a_trace_block_on_an_amortized_problem_stores_and_draws_group_variances(tmp_path):
    from varbench.reports import store
    from varbench.reports.figures import trace_log_variance

    from varbench.suite import run_suite

    config = tmp_path / "trace.toml"
    config.write_text(TRACE_SUITE)
    manifest = run_suite(config, tmp_path / "store", progress=lambda line: None)
    assert manifest.cells_done == 1 and not manifest.cells_failed
    frame = store.load(tmp_path / "store")
    assert len(frame) == 3 * 2  # checkpoints x measured estimators
    groups = frame["group_variance_encoder"] + frame["group_variance_decoder"]
    np.testing.assert_allclose(groups, frame["total_variance"], rtol=1e-12)
    np.testing.assert_allclose(frame["group_work_normalized_variance_encoder"],
                               frame["group_variance_encoder"] * frame["evaluations_per_estimate"], rtol=1e-12)
    fig = trace_log_variance(frame)
    assert [ax.get_title() for ax in fig.axes] == ["params trained by pathwise · all parameters",
                                                   "params trained by pathwise · encoder",
                                                   "params trained by pathwise · decoder"]
    markdown = (tmp_path / "store" / "report" / "report.md").read_text()
    assert "vae_trace.png" in markdown and "encoder_variance_last" in markdown

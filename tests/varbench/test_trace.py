"""``varbench trace``: variance along an optimisation, all estimators measured at the same params."""

import json
import logging

import jax
import numpy as np
import pytest

import varbench
from varbench.cli import main
from varbench.errors import VarbenchError
from varbench.trace import trace


@pytest.mark.statistical
def test_relax_toy_reinforce_stays_flat_while_relax_falls():
    # Grathwohl et al. (2018), Figure 1 (right), short: the toy with target 0.499, optimised from logit 0.
    reinforce = trace("bernoulli", "score_function", steps=300, every=100, samples=20_000, seed=0)
    assert [r["step"] for r in reinforce] == [0, 100, 200, 300]
    for r in reinforce:
        assert -4.4 < r["log_variance"] < -4.0, r
    rows = trace("bernoulli", "relax", estimators=["score_function", "relax"], steps=300, every=300,
                 samples=20_000, seed=0)
    relax = [r for r in rows if r["estimator"].startswith("relax")]
    same_params = [r for r in rows if r["estimator"].startswith("score_function")]
    assert [r["params"] for r in relax] == [r["params"] for r in same_params]  # measured at the SAME params
    assert relax[0]["log_variance"] > -4.2  # untrained, RELAX is REBAR: no better than REINFORCE here
    assert relax[-1]["log_variance"] < relax[0]["log_variance"] - 2 * np.log(10)  # two orders of magnitude
    assert same_params[-1]["log_variance"] > -4.4  # REINFORCE at RELAX's params has not improved


def test_trace_is_a_pure_function_of_the_seed_and_does_not_recompile_measurements(caplog):
    kwargs = dict(estimators=["score_function:baseline=ema", "disarm"], steps=6, every=3, samples=2000)
    first = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=4, **kwargs)
    caplog.set_level(logging.DEBUG)
    with jax.log_compiles(True):
        again = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=4, **kwargs)
    assert first == again
    # The step function is compiled per trace call; the measurement kernels (with explicit states) are reused.
    kernels = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage() and "_kernel" in r.getMessage()]
    assert kernels == []
    other = trace("bernoulli:dim=2", "score_function:baseline=ema", seed=5, **kwargs)
    assert other[-1]["params"] != first[-1]["params"]
    assert {r["estimator"].split(":")[0] for r in first} == {"score_function", "disarm"}
    assert all(r["method"] == "mc" and r["num_samples"] == 2000 for r in first)


def test_measure_accepts_an_explicit_state():
    est = "score_function:baseline=ema"
    state = {"mean": jax.numpy.asarray(0.250001, jax.numpy.float32), "weight": jax.numpy.asarray(1.0)}
    frozen = varbench.measure("bernoulli", est, method="exact", state=state)
    assert frozen.variance["logits"][0] < 1e-10  # the baseline is E[f]: (b − ½)(f(b) − E f) is nearly constant
    assert varbench.measure("bernoulli", est, method="exact").variance["logits"][0] == pytest.approx(0.015625, rel=1e-4)


def test_trace_cli_prints_json_lines(capsys):
    rc = main(["trace", "--problem", "bernoulli", "--estimator", "arm", "--estimators", "arm", "disarm",
               "--steps", "4", "--every", "2", "--samples", "1000", "--method", "exact", "--format", "json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(lines) == 6
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == [0, 0, 2, 2, 4, 4]
    assert rows[1]["estimator"] == "disarm" and rows[1]["variance"]["logits"][0] == pytest.approx(0.0, abs=1e-30)
    assert rows[0]["driver"] == "arm" and rows[0]["evaluations_per_estimate"] == 2


def test_trace_cli_table_and_run_warmup(capsys):
    assert main(["trace", "--problem", "bernoulli", "--estimator", "disarm", "--steps", "2", "--every", "1",
                 "--samples", "500"]) == 0
    out = capsys.readouterr().out
    assert "log variance" in out and "driven by" in out
    assert main(["run", "--problem", "bernoulli", "--estimator", "score_function:baseline=ema", "--warmup", "50",
                 "--method", "exact", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["variance"]["logits"][0] < 1e-4


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(steps=-1), "steps"), (dict(every=0), "every"), (dict(samples=0), "samples"), (dict(lr=0.0), "lr"),
    (dict(method="quad"), "valid methods"), (dict(estimators=["arm"], problem="categorical"), "binary latents only"),
])
def test_trace_bad_arguments(kwargs, fragment):
    problem = kwargs.pop("problem", "bernoulli")
    with pytest.raises(VarbenchError, match=fragment):
        trace(problem, "score_function", **kwargs)


def test_trace_cli_bad_input_is_one_line(capsys):
    assert main(["trace", "--problem", "bernoulli", "--estimator", "rloo", "--every", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "positive integer" in err

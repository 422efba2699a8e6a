"""The discrete-VAE papers' training protocol in a trace: the driver's moving-average variance, the Monte Carlo
objective (ELBO) at each checkpoint, the interval of the total variance, and the configs that run it."""

import math

import jax
import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import VarbenchError
from varbench.reports.schema import trace_rows
from varbench.suite import load_config, parse_config
from varbench.trace import TraceSettings, trace

#: The small amortized problem of test_trace (its compiled kernels are shared within a run).
VAE = "linear_vae:data_subset=8,batch_size=4,latent=1"


@pytest.fixture(scope="module")
def vae_rows():
    settings = TraceSettings(steps=4, every=1, num_samples=200, ema_decay=0.8, objective_samples=0)
    return trace(VAE, "pathwise", estimators=["pathwise", "score_function"], settings=settings, seed=2)


def test_paper_ema_variance_is_numpys_moving_averages_of_the_drivers_encoder_estimates(vae_rows):
    problem, driver = resolve_problem(VAE), resolve_estimator("pathwise")
    encoder = [n for n in problem.param_shapes() if n.startswith("enc_")]
    # Re-derive every step's driver estimate with the trace's keys: step t's key is fold_in(split(key(seed))[0], t),
    # split into one key per learner (2: pathwise and score_function) plus the driver's, the last.
    key = jax.random.split(jax.random.key(2))[0]
    state = driver.init(problem, problem.default_params(), jax.random.key(0))  # stateless: unused
    estimate = jax.jit(lambda params, k: driver.estimate(problem, params, state, k))
    m = {n: 0.0 for n in encoder}
    s = {n: 0.0 for n in encoder}
    driver_rows = [r for r in vae_rows if r["estimator"] == "pathwise"]
    for t, row in enumerate(driver_rows):
        figure = np.mean(np.concatenate([np.ravel(s[n] - m[n] ** 2) for n in encoder]))
        assert row["paper_ema_variance"] == pytest.approx(figure, rel=1e-4, abs=1e-12), t
        params = {k: np.asarray(v, np.float32) for k, v in row["params"].items()}
        g = estimate(params, jax.random.split(jax.random.fold_in(key, t), 3)[-1])
        for n in encoder:
            m[n] = 0.8 * m[n] + 0.2 * np.asarray(g[n], np.float64)
            s[n] = 0.8 * s[n] + 0.2 * np.asarray(g[n], np.float64) ** 2
    assert driver_rows[0]["paper_ema_variance"] == 0.0 and driver_rows[-1]["paper_ema_variance"] > 0
    # It belongs to the driver's trajectory: the other estimator's records have none; nor any objective (0 draws).
    assert all(r["paper_ema_variance"] is None for r in vae_rows if r["estimator"] != "pathwise")
    assert all(r["objective_mc"] is None and r["elbo"] is None for r in vae_rows)


def test_total_variance_interval_is_the_sum_of_the_coordinates_bounds(vae_rows):
    row = vae_rows[-1]
    params = {k: np.asarray(v, np.float32) for k, v in row["params"].items()}
    res = varbench.measure(VAE, row["estimator"], params=params, num_samples=200, seed=row["seed"])
    lo = sum(np.sum(np.asarray(v)[..., 0]) for v in res.variance_ci.values())
    hi = sum(np.sum(np.asarray(v)[..., 1]) for v in res.variance_ci.values())
    assert row["total_variance_ci"] == pytest.approx((lo, hi), rel=1e-12)
    assert lo < row["total_variance"] < hi
    flat = trace_rows(vae_rows, block="b", cell="c", trace_seed=2, estimator_name=lambda label: label)
    assert (flat[-1]["total_variance_lo"], flat[-1]["total_variance_hi"]) == row["total_variance_ci"]
    assert "total_variance_ci" not in flat[-1]
    # Per group, the same rule over the group's coordinates; the groups' bounds add up to the total's.
    groups = {"encoder": [n for n in res.variance if n.startswith("enc_")],
              "decoder": [n for n in res.variance if n.startswith("dec_")]}
    for g, names in groups.items():
        g_lo = sum(np.sum(np.asarray(res.variance_ci[n])[..., 0]) for n in names)
        assert row["group_ci_lo"][g] == pytest.approx(g_lo, rel=1e-12)
        assert row["group_ci_lo"][g] < row["group_variance"][g] < row["group_ci_hi"][g]
        assert flat[-1][f"group_ci_hi_{g}"] == row["group_ci_hi"][g]
    assert sum(row["group_ci_hi"].values()) == pytest.approx(hi, rel=1e-12)


def test_objective_mc_matches_the_exact_objective_and_is_the_negative_elbo():
    sbn = "sbn:data_subset=16,batch_size=4,latent=3"
    rows = trace(sbn, "disarm", settings=TraceSettings(steps=1, every=1, num_samples=50, objective_samples=2000),
                 seed=1)
    for row in rows:
        assert row["objective"] is not None and row["objective_mc_stderr"] > 0
        assert abs(row["objective_mc"] - row["objective"]) < 4 * row["objective_mc_stderr"], row["step"]
        assert row["elbo"] == -row["objective_mc"] and row["elbo_stderr"] == row["objective_mc_stderr"]
    assert rows[0]["objective_mc"] != rows[1]["objective_mc"]  # each checkpoint draws at its own params
    # Not a bound: the objective is estimated, no ELBO is claimed; the paper figure averages every param.
    toy, = trace("bernoulli", "disarm", settings=TraceSettings(steps=0, every=1, num_samples=50,
                                                                objective_samples=10))
    assert toy["objective_mc"] is not None and toy["elbo"] is None and toy["paper_ema_variance"] == 0.0


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(ema_decay=1.0), "ema_decay must be a number in \\(0, 1\\)"), (dict(ema_decay=0), "ema_decay"),
    (dict(ema_decay=float("nan")), "ema_decay"), (dict(ema_decay="0.9"), "ema_decay"),
    (dict(ema_decay=True), "ema_decay"), (dict(objective_samples=-1), "objective_samples"),
    (dict(objective_samples=2.5), "objective_samples"),
])
def test_protocol_settings_are_checked(kwargs, fragment):
    with pytest.raises(VarbenchError, match=fragment) as info:
        TraceSettings(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key, value", [("ema_decay", 1.5), ("ema_decay", 0.0), ("objective_samples", -3)])
def test_a_suite_trace_table_checks_the_protocol_keys(key, value):
    block = dict(name="t", kind="trace", problem="bernoulli", estimators=["disarm"], figure={"kind": "trace"},
                 trace={"drivers": ["disarm"], key: value})
    with pytest.raises(VarbenchError, match=f"block 't': trace '{key}'") as info:
        parse_config({"block": [block]})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["discrete_vae.toml", "discrete_vae_papers.toml"])
def test_the_discrete_vae_configs_parse(name):
    from varbench.suite._config import default_config_path

    raw = load_config(default_config_path().with_name(name))
    blocks = parse_config(raw)
    assert {b.problem_options["architecture"] for b in blocks} >= {"linear", "nonlinear"}
    for block in blocks:
        assert block.kind == "trace" and block.problem_options["latent"] == 200
        assert block.trace_table.ema_decay == 0.999 and math.isclose(block.trace_table.lr, 1e-4)
        assert {s.name for s in block.measured} >= {"disarm", "arms", "double_cv", "rodeo", "nvil"}
        # The papers' RLOO (each data point's own leave-one-out baseline) is Double CV with alpha held at 0.
        assert "double_cv:samples=2,lr=0" in {s.label for s in block.measured}
    quick = parse_config(raw, quick=True)
    assert quick and all(q.trace_table.steps <= b.trace_table.steps for q, b in zip(quick, blocks))

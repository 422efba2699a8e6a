"""Paired variance ratios (varbench.engine.paired): the kernel against NumPy on the same noise, paired against
unpaired intervals, and the suite's ratio fields through ``varbench results``."""

import json

import jax
import numpy as np
import pytest

import varbench
from varbench.cli import main
from varbench.core.errors import VarbenchError
from varbench.core.estimator import batched_noise
from varbench.core.noise import sample_noise
from varbench.engine import harness
from varbench.engine.paired import measure_ratio, same_noise
from varbench.engine.prng import make_key
from varbench.estimators import MeasureValued, Pathwise, ScoreFunction
from varbench.problems import Gaussian
from varbench.reports import ratios, schema, store
from varbench.suite import parse_config, run_suite

COS = Gaussian(cost_name="cos")
PARAMS = {"mean": np.array([0.7], np.float32), "log_scale": np.array([-0.2], np.float32)}


def _numpy_ratio(a, b):
    """The paired statistic in float64 from the two estimators' estimates of the same noise, one row each."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n = len(a)
    big_a, big_b = np.sum((a - a.mean(0)) ** 2, 1), np.sum((b - b.mean(0)) ** 2, 1)
    v_a, v_b = big_a.sum() / (n - 1), big_b.sum() / (n - 1)
    c = np.cov(big_a, big_b)
    se = np.sqrt((c[0, 0] / v_a ** 2 + c[1, 1] / v_b ** 2 - 2 * c[0, 1] / (v_a * v_b)) / n)
    return v_a / v_b, v_a / v_b * np.exp(-ratios.Z95 * se), v_a / v_b * np.exp(ratios.Z95 * se)


def test_the_paired_kernel_computes_the_statistic_of_the_same_noise_for_both():
    n, seed = 256, 3
    got = measure_ratio(COS, ScoreFunction(), Pathwise(), params=PARAMS, num_samples=n, seed=seed, chunk_size=n)
    # The kernel's noise, drawn here apart: chunk 0 of point 0 of the measurement key; both estimators see it.
    point = jax.random.fold_in(jax.random.split(make_key(seed))[1], 0)
    params = {k: jax.numpy.asarray(v) for k, v in PARAMS.items()}
    noise = sample_noise(batched_noise(ScoreFunction().noise(COS, params), n), jax.random.fold_in(point, 0))
    flat = lambda est: np.concatenate([np.asarray(g).reshape(n, -1) for g in jax.tree_util.tree_leaves(
        jax.vmap(lambda e: est.estimate_from_noise(COS, params, (), e))(noise))], axis=1)
    want = _numpy_ratio(flat(ScoreFunction()), flat(Pathwise()))
    assert got.paired and got.n == n
    np.testing.assert_allclose([got.ratio, got.lo, got.hi], want, rtol=1e-4)


def test_paired_intervals_are_narrower_than_unpaired_on_correlated_estimators():
    """A leave-one-out baseline changes each estimate a little: on common noise the ratio is pinned down."""
    plain, baseline = ScoreFunction(samples=2), ScoreFunction(samples=2, baseline="mean")
    n = 4000
    paired = measure_ratio(COS, baseline, plain, params=PARAMS, num_samples=n, seed=1)
    a, b = (harness.measure(COS, est, params=PARAMS, num_samples=n, seed=s) for est, s in ((baseline, 2), (plain, 3)))
    total_se = lambda r: ratios.total_variance_se(np.ravel(list(r.variance.values())),
                                                  *np.reshape(list(r.variance_ci.values()), (-1, 2)).T)
    unpaired = ratios.unpaired_ratio(a.total_variance, total_se(a), b.total_variance, total_se(b))
    assert paired.lo < paired.ratio < paired.hi and unpaired[1] < unpaired[0] < unpaired[2]
    assert np.log(paired.hi / paired.lo) < 0.5 * np.log(unpaired[2] / unpaired[1])


def test_estimators_on_different_noise_are_refused_in_one_line():
    params = {k: jax.numpy.asarray(v) for k, v in PARAMS.items()}
    assert same_noise(COS, ScoreFunction(), Pathwise(), params)
    assert not same_noise(COS, ScoreFunction(samples=2), Pathwise(), params)
    assert not same_noise(COS, MeasureValued(), ScoreFunction(), params)
    with pytest.raises(VarbenchError, match="consume different noise") as err:
        measure_ratio(COS, MeasureValued(), ScoreFunction(), num_samples=10)
    assert "\n" not in str(err.value)


@varbench.pytree_dataclass
class KeyedPathwise(varbench.KeyedEstimator):
    """A pathwise estimator that draws its own normal from the key it is given."""

    name = "test_keyed_pathwise"

    def evaluations_per_estimate(self, problem):
        return 1

    def estimate(self, problem, params, state, key):
        eps = jax.random.normal(key, params["mean"].shape, params["mean"].dtype)
        return jax.grad(lambda p: problem.cost(p, p["mean"] + jax.numpy.exp(p["log_scale"]) * eps))(params)


def test_estimators_that_draw_from_keys_are_paired_on_the_same_key():
    r = measure_ratio(COS, KeyedPathwise(), KeyedPathwise(), params=PARAMS, num_samples=500)
    assert r.paired and r.ratio == r.lo == r.hi == pytest.approx(1.0)  # the same draws: the ratio has no error
    assert not same_noise(COS, KeyedPathwise(), Pathwise(), {k: jax.numpy.asarray(v) for k, v in PARAMS.items()})


def test_a_block_reference_must_be_one_of_its_estimators():
    block = {"name": "b", "problem": "gaussian", "estimators": ["pathwise", "score_function:samples=1"]}
    assert parse_config({"block": [block]})[0].reference == "score_function:samples=1"  # the plain score function
    assert parse_config({"block": [{**block, "estimators": ["pathwise", "rloo:samples=2"]}]})[0].reference == \
        "pathwise"
    with pytest.raises(VarbenchError, match="'reference' 'arm' is not one of the block's estimators; valid: "
                                            "pathwise, score_function:samples=1"):
        parse_config({"block": [{**block, "reference": "arm"}]})


@pytest.fixture(scope="module")
def ratio_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("ratios") / "store"
    config = {"block": [{"name": "cos", "problem": "gaussian:cost=cos", "num_samples": 300,
                         "estimators": ["score_function", "pathwise", "measure_valued"]}]}
    run_suite(config, out, report=False, progress=lambda line: None)
    return out


def test_the_suite_writes_paired_ratios_where_the_noise_matches(ratio_store):
    rows = schema.measurements(store.load(ratio_store))
    assert (rows["var_ratio_reference"] == "score_function").all()  # every row names the reference
    by = {label: d for label, d in rows.groupby("estimator_label")}
    assert by["pathwise"]["var_ratio_paired"].eq(True).all()
    assert (by["pathwise"]["var_ratio_lo"] < by["pathwise"]["var_ratio"]).all()
    assert by["measure_valued"]["var_ratio"].isna().all()  # its noise differs: the reports pair the two cells
    table = schema.summary(store.load(ratio_store)).set_index("estimator")
    assert table.loc["pathwise", "var_ratio_paired"] == True  # noqa: E712 - an object column of True / False / None
    assert table.loc["measure_valued", "var_ratio_paired"] == False  # noqa: E712
    assert table.loc["score_function", "var_ratio"] == 1.0


def test_results_recomputes_unpaired_ratios_against_another_reference(ratio_store, capsys):
    assert main(["results", str(ratio_store), "--format", "json", "--reference", "pathwise"]) == 0
    table = {r["estimator"]: r for r in json.loads(capsys.readouterr().out)}
    assert table["pathwise"]["var_ratio"] == 1.0 and table["score_function"]["var_ratio_paired"] is False
    assert table["score_function"]["var_ratio_reference"] == "pathwise"
    assert main(["results", str(ratio_store), "--reference", "arm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'arm' is not an estimator of this store; valid: " in err
    assert all(label in err for label in ("score_function", "pathwise", "measure_valued"))

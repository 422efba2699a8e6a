import json
import logging
import resource

import jax
import numpy as np
import pytest
from varbench.estimators import Pathwise, ScoreFunction
from varbench.problems import Gaussian

import varbench
from tests.helpers import OpaqueGaussian, SometimesNaN
from varbench.core.errors import (
    NonFiniteEstimateError,
    NotApplicableError,
    VarbenchError,
)
from varbench.engine import columns, harness, stats
from varbench.engine._assemble import mc_stats
from varbench.engine.subject import Subject

SQUARE0 = "gaussian:cost=square,k=0"
AT = {"mean": 1.0, "log_scale": 0.0}


def _close_variance(res, name, expected, tol_z=5.0):
    """|log var − log expected| within tol_z standard errors of log var (from the kurtosis-aware CI)."""
    lo, hi = res.variance_ci[name][0]
    se_log = (np.log(hi) - np.log(lo)) / (2 * 1.959964)
    assert abs(np.log(res.variance[name][0]) - np.log(expected)) < tol_z * se_log, (res.variance[name], expected)


@pytest.mark.parametrize("estimator, var_mean, var_log_scale", [
    ("score_function", 30.0, 136.0),
    ("pathwise", 4.0, 12.0),
])
def test_issue_reference_variances(estimator, var_mean, var_log_scale):
    res = varbench.measure(SQUARE0, estimator, params=AT, num_samples=10 ** 6, seed=0)
    _close_variance(res, "mean", var_mean)
    _close_variance(res, "log_scale", var_log_scale)
    for name in ("mean", "log_scale"):
        assert abs(res.bias_z[name][0]) < 5
        assert res.grad_exact[name][0] == pytest.approx(2.0)


def test_result_has_exactly_the_contract_fields_and_is_json():
    res = varbench.measure(SQUARE0, "pathwise", params=AT, num_samples=5000)
    d = res.to_dict()
    assert tuple(d) == varbench.RESULT_FIELDS
    json.dumps(d, allow_nan=False)
    assert d["problem"] == "gaussian:cost=square,k=0,dim=1" and d["method"] == "mc"
    assert d["estimator"] == "pathwise"
    assert d["evaluations_per_estimate"] == 1 and d["num_samples"] == 5000
    assert set(d["variance"]) == {"mean", "log_scale"} and len(d["variance_ci"]["mean"][0]) == 2
    assert d["total_variance"] == pytest.approx(sum(v[0] for v in d["variance"].values()))
    for name in ("mean", "log_scale"):
        assert d["mse"][name][0] == pytest.approx(d["variance"][name][0] + d["bias"][name][0] ** 2)
        assert d["snr"][name][0] == pytest.approx(abs(d["grad_mean"][name][0]) / np.sqrt(d["variance"][name][0]))
        assert d["bias_z"][name][0] == pytest.approx(d["bias"][name][0] / d["grad_se"][name][0])
    assert d["backend"] == jax.default_backend() and d["dtype"] == "float32" and d["version"] == varbench.__version__


def test_second_call_does_not_recompile(caplog):
    harness.clear_cache()
    first = varbench.measure("gaussian:cost=cos,k=1", "score_function", params=AT, num_samples=3000, seed=1)
    assert first.compile_seconds > 0
    caplog.set_level(logging.DEBUG)
    with jax.log_compiles(True):
        # Other params, seed, sample count and option VALUES (k is a pytree leaf): same compiled kernel.
        second = varbench.measure("gaussian:cost=cos,k=2.5", "score_function", params={"mean": -0.3},
                                  num_samples=7777, seed=9)
    compiles = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert compiles == [], compiles
    assert second.compile_seconds == 0.0 and second.num_samples == 7777


def test_structural_changes_do_compile():
    harness.clear_cache()
    varbench.measure("gaussian:cost=cos", "pathwise", num_samples=1000)
    assert varbench.measure("gaussian:cost=square", "pathwise", num_samples=1000).compile_seconds > 0
    assert varbench.measure("gaussian:cost=square,dim=2", "pathwise", num_samples=1000).compile_seconds > 0


@pytest.mark.parametrize("num_samples, chunk", [(1000, 256), (256, 256), (1, 64), (700, 1024)])
def test_sample_counts_that_are_not_multiples_of_the_chunk(num_samples, chunk):
    problem, est = Gaussian(cost_name="linear", k=2.0), Pathwise()
    params = {"mean": jax.numpy.ones(1), "log_scale": jax.numpy.zeros(1)}
    moments, _, _ = harness.run_moments(Subject(problem, est, params), jax.random.key(0), num_samples, chunk)
    assert float(moments["mean"].count) == num_samples
    # d/dmean of E[2x] is exactly 2 for every estimate: the streaming mean must not be diluted by masked rows.
    assert float(moments["mean"].mean[0]) == pytest.approx(2.0)
    assert float(moments["mean"].m2[0]) == pytest.approx(0.0, abs=1e-6)


def test_both_coordinate_layouts_give_the_same_moments(monkeypatch):
    # Few coordinates are accumulated as (coordinates, rows) on CPU, many as (rows, coordinates); the same draws
    # (here with a partial last chunk) must give the same moments either way.
    assert columns.samples_axis(6, "cpu") == -1 and columns.samples_axis(40, "cpu") == 0
    assert columns.samples_axis(6, "gpu") == 0
    problem, est = Gaussian(cost_name="square", dim=3), Pathwise()
    params = {k: jax.numpy.asarray(v) for k, v in problem.default_params().items()}
    got = []
    for up_to in (0, 32):
        monkeypatch.setattr(columns, "SAMPLES_LAST_UP_TO", up_to)
        harness.clear_cache()
        got.append(harness.run_moments(Subject(problem, est, params), jax.random.key(4), 1000, 256)[0])
    harness.clear_cache()
    for name in params:
        rows, transposed = got[0][name], got[1][name]
        assert float(rows.count) == float(transposed.count) == 1000
        for a, b in zip(rows[1:5], transposed[1:5]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)


def test_chunk_size_does_not_change_the_answer_in_distribution():
    a = varbench.measure(SQUARE0, "score_function", params=AT, num_samples=200_000, chunk_size=512, seed=3)
    b = varbench.measure(SQUARE0, "score_function", params=AT, num_samples=200_000, chunk_size=8192, seed=3)
    for name in ("mean", "log_scale"):
        diff = a.grad_mean[name][0] - b.grad_mean[name][0]
        assert abs(diff) < 5 * np.hypot(a.grad_se[name][0], b.grad_se[name][0])


def test_auto_chunk_size_depends_on_problem_size_only():
    # the CPU's sizes, named: on a GPU (benchmarks/run_on_gpu.sh runs this module there) the default differs
    assert harness.auto_chunk_size(100, 200, backend="cpu") == 4096
    assert harness.auto_chunk_size(1, 2, backend="cpu") == 2 ** 16
    assert harness.auto_chunk_size(10 ** 7, 10 ** 7, backend="cpu") == 256
    assert harness.auto_chunk_size(100, 200) == harness.auto_chunk_size(100, 200, backend=jax.default_backend())


def test_auto_chunk_size_is_larger_on_an_accelerator_where_each_chunk_costs_a_launch():
    assert harness.auto_chunk_size(100, 200, backend="cpu") == 4096
    assert harness.auto_chunk_size(100, 200, backend="gpu") == 2 ** 19
    assert harness.auto_chunk_size(1, 2, backend="gpu") == 2 ** 20
    assert harness.auto_chunk_size(1000, 2000, backend="gpu") == 2 ** 16
    assert harness.auto_chunk_size(10 ** 9, 10 ** 9, backend="tpu") == 256


def test_memory_is_bounded_in_the_number_of_samples():
    # Peak resident memory after a small run and after a run 15x larger, at dim 100: no growth beyond noise. Both
    # runs are long enough for the same (fully optimized) kernel, so only the number of samples differs.
    spec = "gaussian:cost=square,dim=100"
    varbench.measure(spec, "score_function", num_samples=200_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = varbench.measure(spec, "score_function", num_samples=3_000_000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert res.num_samples == 3_000_000
    assert (after - before) / 1024 < 64, f"peak RSS grew by {(after - before) / 1024:.0f} MiB"


def test_kernel_temporary_memory_is_modest_at_dim_100():
    problem = Gaussian(dim=100)
    params = {k: jax.numpy.asarray(v) for k, v in problem.default_params().items()}
    compiled, _ = harness.compiled_kernel(Subject(problem, ScoreFunction(), params), jax.random.key(0), 4096)
    analysis = compiled.memory_analysis()
    if analysis is not None:
        assert analysis.temp_size_in_bytes < 256 * 2 ** 20


def test_nonfinite_estimates_are_an_error():
    with pytest.raises(NonFiniteEstimateError, match="NaN/inf in") as err:
        varbench.measure(SQUARE0, SometimesNaN(), num_samples=50_000)
    # Estimates are counted, not coordinates: about 1 in 740 of 50000 (it once said "128000 of 1000").
    bad = int(str(err.value).split("NaN/inf in ")[1].split()[0])
    assert 20 < bad < 200, str(err.value)


def test_not_applicable_estimator_is_refused():
    with pytest.raises(NotApplicableError, match="reparameterizable"):
        varbench.measure(OpaqueGaussian(), "pathwise", num_samples=100)
    with pytest.raises(NotApplicableError, match="location-scale"):
        varbench.measure(OpaqueGaussian(), "measure_valued", num_samples=100)
    assert varbench.measure(OpaqueGaussian(), "score_function", num_samples=100).num_samples == 100


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(num_samples=0), "positive integer"),
    (dict(num_samples=-5), "positive integer"),
    (dict(num_samples=2.5), "positive integer"),
    (dict(num_samples=None), "positive integer"),
    (dict(num_samples=10, method="sampled"), "valid methods: mc, exact"),
    (dict(num_samples=10, seed=-1), "non-negative"),
    (dict(num_samples=10, chunk_size=0), "positive integer"),
    (dict(num_samples=10, params={"scale": 1.0}), "valid parameters: mean, log_scale"),
    (dict(num_samples=10, params={"mean": [1.0, 2.0]}), "shape"),
    (dict(num_samples=10, params={"mean": "one"}), "number"),
    (dict(num_samples=10, params={"mean": float("nan")}), "finite"),
])
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(VarbenchError, match=fragment):
        varbench.measure(SQUARE0, "pathwise", **kwargs)


def test_scalar_params_broadcast():
    res = varbench.measure("gaussian:dim=3", "pathwise", params={"mean": 0.5}, num_samples=1000)
    np.testing.assert_array_equal(res.params["mean"], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(res.params["log_scale"], [0.0, 0.0, 0.0])


def test_warmup_updates_state_then_freezes_it(caplog):
    from tests.helpers import Decaying
    linear = "gaussian:cost=linear,k=2"  # pathwise gradient w.r.t. mean is exactly 2: bias = the state
    assert varbench.measure(linear, Decaying(), num_samples=1000).bias["mean"][0] == pytest.approx(1.0)
    assert varbench.measure(linear, Decaying(), num_samples=1000, warmup=3).bias["mean"][0] == pytest.approx(0.125)
    caplog.set_level(logging.DEBUG)
    with jax.log_compiles(True):
        res = varbench.measure(linear, Decaying(), num_samples=1000, warmup=5)
    assert res.bias["mean"][0] == pytest.approx(1 / 32)
    assert [r for r in caplog.records if "ompil" in r.getMessage()] == []


@pytest.mark.parametrize("warmup", [-1, 1.5, True])
def test_bad_warmup(warmup):
    with pytest.raises(VarbenchError, match="warmup"):
        varbench.measure(SQUARE0, "pathwise", num_samples=10, warmup=warmup)


def test_per_parameter_fields_follow_the_problem_order():
    res = varbench.measure(SQUARE0, "pathwise", num_samples=100)
    assert list(res.grad_mean) == list(res.variance) == list(res.bias_z) == ["mean", "log_scale"]


def test_estimators_with_the_same_fields_have_distinct_tree_structures():
    # Equal structures would let JAX's caches hand one estimator's kernel to another (seen with ARM/DisARM/ST).
    from varbench.estimators import ARM, RLOO, DisARM, StraightThrough
    structure = jax.tree_util.tree_structure
    assert structure(ARM()) != structure(DisARM()) != structure(StraightThrough())
    assert structure(Pathwise(samples=2)) != structure(RLOO(samples=2))
    assert structure(Pathwise(samples=2)) == structure(Pathwise(samples=2))


def test_large_runs_resolve_a_mean_far_below_float32_resolution():
    # Pathwise on f(x) = (x + 5e4)², x ~ N(0.1, 1): estimates 2(x + 5e4) ≈ 1e5 with sd 2, so after 2^23 estimates
    # the standard error (7e-4) is a tenth of float32's spacing at 1e5 (7.8e-3). A float32 running mean (the old
    # carry) gets stuck on a float32 value and reported |bias_z| = 6.6 for this unbiased estimator; the shifted,
    # compensated power sums formed in float64 must give |bias_z| consistent with N(0, 1). The same resolution
    # at this problem's scale is what 10^9-10^10 estimates need at |mean| ~ 1e3 (dim 1: about a second here).
    res = varbench.measure("gaussian:cost=square,k=-50000", "pathwise", params={"mean": 0.1}, num_samples=2 ** 23)
    assert res.grad_se["mean"][0] < 1e-3
    for name in ("mean", "log_scale"):
        assert abs(res.bias_z[name][0]) < 4, res.bias_z


def test_huge_estimates_keep_their_variance_interval():
    # Score function at log_scale = 12: estimates ~1e11, whose fourth powers overflow float32. The interval needs
    # the fourth moment; it must be finite and bracket the variance (it was blank: [[null, null]]).
    res = varbench.measure(SQUARE0, "score_function", params={"log_scale": 12.0}, num_samples=10 ** 4)
    for name in ("mean", "log_scale"):
        lo, hi = res.variance_ci[name][0]
        assert np.isfinite(lo) and np.isfinite(hi) and lo < res.variance[name][0] < hi


def test_moments_that_overflow_anyway_are_an_error():
    # Scaling keeps the power sums finite unless estimates span ~1e9 times the first chunk's spread; then the
    # fourth moment (or more) is inf, and the result must be refused rather than printed with a blank interval.
    finite = dict(count=np.float64(100), mean=np.zeros(1), m2=np.ones(1), m3=np.zeros(1), nonfinite=np.int64(0))
    with pytest.raises(NonFiniteEstimateError, match="overflowed"):
        mc_stats({"mean": stats.Moments(m4=np.full(1, np.inf), **finite)}, Pathwise(), 100)
    assert np.isfinite(mc_stats({"mean": stats.Moments(m4=np.ones(1), **finite)}, Pathwise(), 100)
                       .variance_ci["mean"]).all()

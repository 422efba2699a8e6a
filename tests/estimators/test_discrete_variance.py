"""Exact variances of the discrete-latent estimators, hand derivations, measured bias, and bookkeeping."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import expit, logit

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.display import catalogue

TOY = "bernoulli"  # target 0.499: the REBAR/RELAX toy (its default logit is generic, 0.341)
LOGIT_ZERO = {"logits": 0.0}  # the toy's published point, where the hand derivations below hold


def _exact(estimator, problem=TOY, params=None, **kwargs):
    return varbench.measure(problem, estimator, params=params, method="exact", **kwargs)


def test_toy_reference_variances_reinforce_and_disarm():
    reinforce, disarm = _exact("score_function", params=LOGIT_ZERO), _exact("disarm", params=LOGIT_ZERO)
    assert reinforce.variance["logits"][0] == pytest.approx(1.5625e-2, rel=2e-5)
    assert np.log(reinforce.variance["logits"][0]) == pytest.approx(-4.159, abs=5e-4)
    # At logit 0 the antithetic pair always differs and DisARM's estimate is the constant (1 − 2t)/4.
    assert disarm.variance["logits"][0] == pytest.approx(0.0, abs=1e-30)
    assert disarm.grad_mean["logits"][0] == pytest.approx((1 - 2 * 0.499) / 4, rel=1e-12)
    # RLOO with K = 2: ½ (f(b1) − f(b2)) (b1 − b2), which is (1 − 2t)/2 when the two bits differ (probability ½ at
    # logit 0) and 0 otherwise: mean (1 − 2t)/4, variance ((1 − 2t)/2)² / 4 = 2.5e-7 at t = 0.499.
    rloo = _exact("rloo:samples=2", params=LOGIT_ZERO)
    assert rloo.variance["logits"][0] == pytest.approx(2.5e-7, rel=1e-9)
    assert rloo.grad_mean["logits"][0] == pytest.approx((1 - 2 * 0.499) / 4, rel=1e-12)


@pytest.mark.parametrize("phi", [0.0, -1.3, 0.8])
def test_arm_and_disarm_match_quadrature_of_their_formulas(phi):
    t = 0.499
    f = lambda b: (b - t) ** 2
    p = expit(phi)
    arm = lambda u: (f(float(u > expit(-phi))) - f(float(u < p))) * (u - 0.5)
    cuts = sorted({expit(-phi), p})

    def moments(g):
        m1 = sum(integrate.quad(g, a, b)[0] for a, b in zip([0] + cuts, cuts + [1]))
        m2 = sum(integrate.quad(lambda u: g(u) ** 2, a, b)[0] for a, b in zip([0] + cuts, cuts + [1]))
        return m1, m2 - m1 ** 2

    mean, var = moments(arm)
    res = _exact("arm", params={"logits": phi})
    assert res.grad_mean["logits"][0] == pytest.approx(mean, rel=1e-9)
    assert res.grad_mean["logits"][0] == pytest.approx(res.grad_exact["logits"][0], rel=1e-9)
    assert res.variance["logits"][0] == pytest.approx(var, rel=1e-7)
    disarm = _exact("disarm", params={"logits": phi})
    assert disarm.grad_mean["logits"][0] == pytest.approx(res.grad_exact["logits"][0], rel=1e-9)
    assert disarm.variance["logits"][0] <= res.variance["logits"][0] * (1 + 1e-9)  # Rao-Blackwellized ARM


def _assert_monte_carlo_matches(exact, mc):
    for name in exact.grad_mean:
        z = (mc.grad_mean[name] - exact.grad_mean[name]) / mc.grad_se[name]
        assert np.all(np.abs(z) < 5), (z, exact.grad_mean, mc.grad_mean, exact.estimator, mc.estimator)
        lo, hi = mc.variance_ci[name][..., 0], mc.variance_ci[name][..., 1]
        half = (np.log(hi) - np.log(lo)) / 2
        assert np.all(np.abs(np.log(mc.variance[name]) - np.log(exact.variance[name])) < 2.6 * half)


@pytest.mark.statistical
@pytest.mark.parametrize("estimator, problem, params, warmup", [
    ("score_function:samples=2", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 0),
    ("score_function:baseline=ema", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 30),
    ("rloo:samples=2", "categorical:dim=2", {"logits": [[0.3, -0.2, 0.5], [0.0, 1.0, -1.0]]}, 0),
    ("arm", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 0),
    ("disarm", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 0),
    ("rebar", "bernoulli:target=0.3", {"logits": -0.9}, 0),
    ("gumbel_softmax", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 0),
    ("straight_through", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]}, 0),
])
def test_monte_carlo_agrees_with_exact_mode(estimator, problem, params, warmup):
    exact = _exact(estimator, problem, params, warmup=warmup, seed=5)
    mc = varbench.measure(problem, estimator, params=params, num_samples=300_000, seed=5, warmup=warmup)
    _assert_monte_carlo_matches(exact, mc)


def test_rloo_is_the_leave_one_out_mean_baseline():
    a = _exact("rloo:samples=3", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]})
    b = _exact("score_function:baseline=mean,samples=3", "bernoulli:dim=2,target=[0.3,0.8]", {"logits": [0.4, -0.9]})
    np.testing.assert_allclose(a.variance["logits"], b.variance["logits"], rtol=1e-10)
    np.testing.assert_allclose(a.grad_mean["logits"], a.grad_exact["logits"], rtol=1e-10)


def test_constant_and_ema_baselines():
    t, c = 0.499, 0.3
    g1, g0 = 0.5 * ((1 - t) ** 2 - c), -0.5 * (t ** 2 - c)  # (b − ½)((b − t)² − c) at logit 0
    const = _exact(f"score_function:baseline=constant,value={c}", params=LOGIT_ZERO)
    assert const.variance["logits"][0] == pytest.approx((g1 ** 2 + g0 ** 2) / 2 - ((g1 + g0) / 2) ** 2, rel=1e-10)
    # Without updates the EMA state is empty (baseline 0): plain REINFORCE. Trained, the baseline is ≈ E[f].
    plain, cold = _exact("score_function"), _exact("score_function:baseline=ema")  # at the generic default
    assert cold.variance["logits"][0] == pytest.approx(plain.variance["logits"][0], rel=1e-12)
    warm = _exact("score_function:baseline=ema,decay=0.9", warmup=100)
    assert warm.variance["logits"][0] < 1e-4 * plain.variance["logits"][0]
    assert warm.bias["logits"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.statistical
def test_learned_control_variates_reduce_variance_at_fixed_params():
    rebar = _exact("rebar")
    tuned = _exact("rebar:tune=variance,lr=0.05", warmup=100)
    relax = _exact("relax", warmup=100, seed=3)
    for res in (rebar, tuned, relax):
        assert res.bias["logits"][0] == pytest.approx(0.0, abs=1e-9)
    assert tuned.variance["logits"][0] < rebar.variance["logits"][0]
    assert relax.variance["logits"][0] < 0.1 * _exact("score_function").variance["logits"][0]
    # The same warm-up (same seed) gives the same frozen network in Monte Carlo: the variances agree.
    _assert_monte_carlo_matches(relax, varbench.measure(TOY, "relax", num_samples=300_000, warmup=100, seed=3))


@pytest.mark.parametrize("phi", [0.0, -1.3])
def test_gumbel_softmax_bias_is_measured_against_quadrature(phi):
    t, tau = 0.499, 0.5
    s = lambda u: expit((phi + logit(u)) / tau)
    g = lambda u: 2 * (s(u) - t) * s(u) * (1 - s(u)) / tau
    mean = integrate.quad(g, 0, 1, points=[expit(-phi)], epsabs=1e-14)[0]
    res = _exact(f"gumbel_softmax:temperature={tau}", params={"logits": phi})
    assert res.grad_mean["logits"][0] == pytest.approx(mean, rel=1e-7)
    assert res.bias["logits"][0] == pytest.approx(mean - res.grad_exact["logits"][0], rel=1e-7)
    assert abs(res.bias["logits"][0]) > 1e-5  # biased, and reported as such


def test_straight_through_bias():
    # Bernoulli: E[2(b − t) p(1 − p)] − p(1 − p)(1 − 2t) = p(1 − p)(2p − 1).
    p = expit(-1.3)
    res = _exact("straight_through", params={"logits": -1.3})
    assert res.bias["logits"][0] == pytest.approx(p * (1 - p) * (2 * p - 1), rel=1e-9)
    # Categorical with a cost linear in z: straight-through is exact (zero bias, enumeration).
    cat = _exact("straight_through", "categorical:dim=2", {"logits": [[0.3, -0.2, 0.5], [0.0, 1.0, -1.0]]})
    np.testing.assert_allclose(cat.bias["logits"], 0.0, atol=1e-12)
    flags = catalogue()["estimators"]
    assert not flags["straight_through"]["unbiased"] and not flags["gumbel_softmax"]["unbiased"]
    assert flags["relax"]["stateful"] and flags["arm"]["unbiased"]


def test_delta_control_variate():
    # For a linear cost the Taylor expansion is the cost itself: the control variate removes all variance (up to
    # float32 rounding), whatever the coefficient rule. (tests/estimators/test_control_variates.py has the rest.)
    for options in ("samples=4,control_variate=delta", "samples=10,control_variate=delta,coefficient=loo"):
        res = varbench.measure("gaussian:cost=linear,k=2", f"score_function:{options}",
                               params={"mean": 0.4, "log_scale": -0.2}, num_samples=2_000)
        plain = varbench.measure("gaussian:cost=linear,k=2", "score_function:samples=4",
                                 params={"mean": 0.4, "log_scale": -0.2}, num_samples=2_000)
        for name in ("mean", "log_scale"):
            assert res.variance[name][0] < 1e-6 * plain.variance[name][0]
            assert res.bias[name][0] == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("estimator", ["arm", "disarm"])
def test_binary_only_estimators_refuse_categorical(estimator):
    with pytest.raises(NotApplicableError, match="binary latents only.*use rloo, rebar, relax"):
        varbench.measure("categorical", estimator, num_samples=10)


@pytest.mark.parametrize("estimator", ["arm", "rebar", "relax", "gumbel_softmax", "straight_through"])
def test_relaxation_estimators_refuse_continuous_problems(estimator):
    with pytest.raises(NotApplicableError, match="Bernoulli or categorical"):
        varbench.measure("gaussian", estimator, num_samples=10)


def test_exact_mode_refuses_clearly_when_noise_is_too_large():
    with pytest.raises(NotApplicableError, match="continuous noise dimensions"):
        _exact("rebar", "categorical:dim=2")


@pytest.mark.parametrize("estimator, problem, evaluations", [
    ("rloo:samples=5", "bernoulli", 5), ("arm", "bernoulli:dim=3", 2), ("disarm", "bernoulli:dim=3", 2),
    ("rebar", "bernoulli", 3), ("relax", "categorical", 3), ("gumbel_softmax", "categorical", 1),
    ("straight_through", "bernoulli", 1), ("score_function:baseline=ema,samples=2", "bernoulli", 2),
    ("score_function:samples=4,control_variate=delta", "gaussian", 5),
])
def test_evaluations_per_estimate(estimator, problem, evaluations):
    assert resolve_estimator(estimator).evaluations_per_estimate(resolve_problem(problem)) == evaluations


def test_results_report_evaluations_per_estimate():
    assert varbench.measure("bernoulli", "rloo:samples=5", num_samples=256).evaluations_per_estimate == 5


def test_stateful_flags_follow_the_options():
    assert resolve_estimator("score_function:baseline=ema").stateful
    assert not resolve_estimator("score_function").stateful
    assert resolve_estimator("rebar:tune=variance").stateful and not resolve_estimator("rebar").stateful
    assert resolve_estimator("relax").stateful
    with pytest.raises(VarbenchError, match="decay"):
        resolve_estimator("score_function:baseline=ema,decay=1")


def test_relaxation_estimators_stay_finite_over_a_logit_sweep():
    # A regression test: a uniform draw of exactly 0 once made REBAR and RELAX return NaN in a 13-point sweep.
    import numpy as np

    grid = np.linspace(-3, 3, 13)
    for estimator in ("rebar", "relax"):
        results = varbench.measure_batch(["bernoulli:target=0.499"] * len(grid), estimator,
                                params=[{"logits": float(x)} for x in grid], num_samples=200_000, seed=0)
        assert all(np.isfinite(r.variance["logits"]).all() for r in results)

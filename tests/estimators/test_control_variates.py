"""The delta-method control variate (estimators/control_variates.py) on the score function, pathwise and
measure-valued estimators: zero variance on a quadratic, never more variance than the base estimator at the best
coefficient, checked against per-sample moments computed here independently by Gauss–Hermite quadrature."""

import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.testing import assert_unbiased

# optax's control_variates_test case: cost sum_i x_i^2 (square with k=0), mean 1, log-scale 1.
AT = {"mean": 1.0, "log_scale": 1.0}
SQUARE, COS = "gaussian:cost=square,k=0", "gaussian:cost=cos,k=0.3"


def score_function_moments(cost: str, mu: float, log_sigma: float) -> dict:
    """Per coordinate, the single-sample moments of g = s·f and h = s·f̃ − E[s·f̃] (f̃ the second-order Taylor
    expansion at the mean), written out by hand and integrated with 200-node Gauss–Hermite in NumPy."""
    sigma = np.exp(log_sigma)
    e, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    x = mu + sigma * e
    if cost == SQUARE:
        f, (f0, f1, f2) = x ** 2, (mu ** 2, 2 * mu, 2.0)
    else:
        f, (f0, f1, f2) = np.cos(0.3 * x), (np.cos(0.3 * mu), -0.3 * np.sin(0.3 * mu), -0.09 * np.cos(0.3 * mu))
    taylor = f0 + f1 * (x - mu) + 0.5 * f2 * (x - mu) ** 2
    out = {}
    # Scores: (x − μ)/σ² per unit mean is ε/σ; for the log-scale ε² − 1. E[s f̃] is (f1, f2 σ²).
    for name, s, expected in (("mean", e / sigma, f1), ("log_scale", e * e - 1, f2 * sigma ** 2)):
        g, h = s * f, s * taylor - expected
        gc = g - w @ g
        out[name] = (w @ gc ** 2, w @ (gc * h), w @ h ** 2)
    return out


@pytest.mark.parametrize("estimator", ["score_function:samples=3", "pathwise:samples=3", "measure_valued"])
def test_second_order_delta_has_zero_variance_on_a_quadratic(estimator):
    plain = varbench.measure(SQUARE, estimator, params=AT, method="exact")
    res = varbench.measure(SQUARE, f"{estimator.replace(':samples=3', '')}:"
                           f"{'samples=3,' if 'samples' in estimator else ''}control_variate=delta",
                           params=AT, method="exact")
    for name in ("mean", "log_scale"):
        assert res.variance[name][0] < 1e-25 * plain.variance[name][0]
        assert res.grad_mean[name][0] == pytest.approx(res.grad_exact[name][0], rel=1e-12)


def test_first_order_delta_leaves_the_curvature():
    # f − f̃ = (x − μ)² for the first-order expansion of x²: the score-function variance is that of s·(x − μ)² + 2μ s.
    (var_g, _, _), = [score_function_moments(SQUARE, 1.0, 1.0)["log_scale"]]
    e, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    sigma = np.e
    residual = (e * e - 1) * sigma ** 2 * e * e
    expected = w @ (residual - w @ residual) ** 2 / 3
    first = varbench.measure(SQUARE, "score_function:samples=3,control_variate=delta,order=1", params=AT,
                             method="exact")
    assert first.variance["log_scale"][0] == pytest.approx(expected, rel=1e-9)
    assert first.variance["log_scale"][0] < var_g / 3


@pytest.mark.parametrize("coefficient, samples", [("fixed", 10), ("fixed", 100), ("loo", 10), ("fitted", 10)])
def test_second_order_delta_has_zero_variance_at_larger_k(samples, coefficient):
    res = varbench.measure(SQUARE, f"score_function:samples={samples},control_variate=delta,coefficient={coefficient}",
                           params=AT, num_samples=512, seed=3)
    for name, plain in score_function_moments(SQUARE, 1.0, 1.0).items():
        # float32 rounding only: relative to the plain variance, about eps².
        assert res.variance[name][0] < 1e-8 * plain[0] / samples


@pytest.mark.parametrize("cost", [SQUARE, COS])
def test_delta_at_its_best_coefficient_never_has_more_variance(cost):
    K = 3
    for name, (var_g, cov, var_h) in score_function_moments(cost, 1.0, 1.0).items():
        best = cov / var_h
        plain = varbench.measure(cost, f"score_function:samples={K}", params=AT, method="exact")
        one = varbench.measure(cost, f"score_function:samples={K},control_variate=delta", params=AT, method="exact")
        at_best = varbench.measure(cost, f"score_function:samples={K},control_variate=delta,scale={best}",
                                   params=AT, method="exact")
        assert plain.variance[name][0] == pytest.approx(var_g / K, rel=1e-9)
        assert one.variance[name][0] == pytest.approx((var_g - 2 * cov + var_h) / K, rel=1e-9)
        assert at_best.variance[name][0] == pytest.approx((var_g - cov * cov / var_h) / K, rel=1e-9)
        assert at_best.variance[name][0] <= plain.variance[name][0]
        assert at_best.grad_mean[name][0] == pytest.approx(at_best.grad_exact[name][0], rel=1e-10)


def test_delta_on_pathwise_and_measure_valued_matches_closed_forms():
    # Pathwise, cost x^2: the estimate 2x (mean) and 2xσε (log-scale) minus their Taylor versions is exactly the
    # expected gradient, for every coefficient; measure-valued with coupling=false is unbiased as well.
    for est in ("pathwise:control_variate=delta,order=1", "measure_valued:coupling=false,control_variate=delta"):
        res = varbench.measure("gaussian:cost=cos,k=0.3", est, params=AT, method="exact")
        for name in ("mean", "log_scale"):
            assert res.grad_mean[name][0] == pytest.approx(res.grad_exact[name][0], rel=1e-9)


@pytest.mark.statistical
@pytest.mark.parametrize("estimator", ["score_function:samples=10,control_variate=delta,coefficient=loo",
                                       "measure_valued:control_variate=delta,coefficient=fitted,fit_samples=9"])
def test_fitted_coefficients_keep_the_estimate_unbiased(estimator):
    out = assert_unbiased("gaussian:cost=cos,k=1.5", estimator, params={"mean": 0.4, "log_scale": -0.2},
                          relative_bias=0.1, power=0.9, alpha=1e-3, max_samples=400_000, seed=5)
    assert out.passed


def test_control_variate_options_are_checked():
    with pytest.raises(NotApplicableError, match="location-scale"):
        varbench.measure("bernoulli", "score_function:samples=3,control_variate=delta", num_samples=10)
    with pytest.raises(VarbenchError, match="samples >= 10"):
        resolve_estimator("score_function:samples=3,control_variate=delta,coefficient=loo")
    with pytest.raises(VarbenchError, match="baseline none, constant or ema"):
        resolve_estimator("score_function:samples=4,baseline=mean,control_variate=delta")
    with pytest.raises(VarbenchError, match="fit_samples"):
        resolve_estimator("pathwise:control_variate=delta,coefficient=fitted,fit_samples=2")
    problem = resolve_problem("gaussian:dim=2")
    assert resolve_estimator("measure_valued:control_variate=delta,coefficient=fitted,fit_samples=10"
                             ).evaluations_per_estimate(problem) == 8 + 1 + 80
    assert resolve_estimator("pathwise:samples=3,control_variate=delta").evaluations_per_estimate(problem) == 4


def test_the_control_variate_wraps_a_base_estimator():
    from varbench.catalog import describe, spec_of
    from varbench.core.registry import ESTIMATORS
    from varbench.estimators import DeltaControlVariate, MeasureValued, Pathwise, ScoreFunction

    # A spec with control_variate=delta builds the wrapper, and the wrapper's canonical spec is that spec.
    for spec, built in [("pathwise:control_variate=delta,order=1", DeltaControlVariate(Pathwise(), order=1)),
                        ("score_function:samples=4,baseline=ema,control_variate=delta,coefficient=fitted",
                         DeltaControlVariate(ScoreFunction(baseline="ema", samples=4), coefficient="fitted")),
                        ("measure_valued:coupling=false,control_variate=delta",
                         DeltaControlVariate(MeasureValued(coupling=False)))]:
        assert resolve_estimator(spec) == built and resolve_estimator(spec_of(built)) == built
    assert spec_of(DeltaControlVariate(base=Pathwise(samples=2), scale=0.5)) == \
        "pathwise:samples=2,control_variate=delta,scale=0.5"
    assert resolve_estimator("pathwise:control_variate=none") == Pathwise()
    assert DeltaControlVariate(ScoreFunction(baseline="ema")).stateful and not DeltaControlVariate(Pathwise()).stateful
    # Its options are checked wherever it is built, and it refuses bases it cannot wrap.
    with pytest.raises(VarbenchError, match="applies only with control_variate=delta"):
        resolve_estimator("score_function:order=1")
    with pytest.raises(VarbenchError, match="'fit_samples' of control variate 'delta' must be >= 9"):
        DeltaControlVariate(Pathwise(), fit_samples=2)
    with pytest.raises(VarbenchError, match="wraps pathwise"):
        DeltaControlVariate(resolve_estimator("rloo:samples=2"))
    # `varbench list` describes the control variate's options once, from the wrapper, under each base it accepts.
    for name in ("pathwise", "score_function", "measure_valued"):
        keys = [row["name"] for row in describe(ESTIMATORS[name])]
        assert ["control_variate", "order", "coefficient", "scale", "fit_samples"] == \
            [k for k in keys if k in DeltaControlVariate.spec_options()]


def test_measure_valued_coupling_changes_the_variance_not_the_mean():
    # Square cost at mu = sigma = 1, by hand with W, W' ~ Rayleigh (E W = sqrt(pi/2), E W^2 = 2, E W^4 = 8), M ~
    # double-sided Maxwell (E M^2 = 3, E M^4 = 15) and eps ~ N(0, 1), independent when uncoupled:
    #   mean: (2(W + W') + W^2 - W'^2) / sqrt(2 pi): second moment (4 (4 + pi) + 8) / (2 pi), variance 12/pi - 2;
    #         coupled (W' = W): 16/pi - 4.
    #   log-scale: 2(M - eps) + M^2 - eps^2: second moment 4·4 + (15 - 6 + 3) = 28, variance 24; coupled: 8.
    at = {"mean": 1.0, "log_scale": 0.0}
    coupled = varbench.measure("gaussian:cost=square,k=0", "measure_valued", params=at, method="exact")
    uncoupled = varbench.measure("gaussian:cost=square,k=0", "measure_valued:coupling=false", params=at,
                                 method="exact")
    assert coupled.variance["mean"][0] == pytest.approx(16 / np.pi - 4, rel=1e-10)
    assert coupled.variance["log_scale"][0] == pytest.approx(8.0, rel=1e-10)
    assert uncoupled.variance["mean"][0] == pytest.approx(12 / np.pi - 2, rel=1e-10)
    assert uncoupled.variance["log_scale"][0] == pytest.approx(24.0, rel=1e-10)
    for name in ("mean", "log_scale"):
        assert uncoupled.grad_mean[name][0] == pytest.approx(2.0, rel=1e-10)
    assert resolve_estimator("measure_valued:samples=2").evaluations_per_estimate(resolve_problem("gaussian")) == 8


def test_ema_baseline_zero_debias():
    # optax's moving_avg_baseline: zero_debias divides the average (started at 0) by 1 - decay^t; without it the
    # raw average is used. Either baseline is frozen while an estimate is made, so both stay unbiased (exact mode).
    import jax
    import jax.numpy as jnp

    problem = resolve_problem("bernoulli")
    params = {"logits": jnp.asarray([0.4])}
    for debias in (True, False):
        est = resolve_estimator(f"score_function:baseline=ema,decay=0.5,zero_debias={str(debias).lower()}")
        state = est.init(problem, params, jax.random.key(0))
        for i in range(3):
            state = est.update(problem, params, state, jax.random.key(i))
        raw, weight = float(state["mean"]), float(state["weight"])
        assert weight == pytest.approx(1 - 0.5 ** 3)
        expected = raw / weight if debias else raw
        assert float(est.constant_baseline(state, jnp.float32)) == pytest.approx(expected, rel=1e-6)
        res = varbench.measure(problem, est, params={"logits": 0.4}, method="exact", state=state)
        assert res.grad_mean["logits"][0] == pytest.approx(res.grad_exact["logits"][0], rel=1e-9)

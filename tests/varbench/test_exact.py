import numpy as np
import pytest
from scipy import integrate

import varbench
from varbench.core.errors import NotApplicableError
from varbench.engine.exact import nodes_per_dim

AT = {"mean": 1.0, "log_scale": 0.0}


@pytest.mark.parametrize("estimator, expected", [
    ("score_function", {"mean": 30.0, "log_scale": 136.0}),
    ("pathwise", {"mean": 4.0, "log_scale": 12.0}),
    # Measure-valued, square cost, k=0, mu=sigma=1: 16 (2 - pi/2) / (2 pi) for the mean (Rayleigh variance),
    # and 4 E[M^2] E[(1-U)^2] + E[M^4] E[(1-U^2)^2] - 4 = 8 for the log-scale.
    ("measure_valued", {"mean": 16 * (2 - np.pi / 2) / (2 * np.pi), "log_scale": 8.0}),
])
def test_exact_variances_match_hand_derivations(estimator, expected):
    res = varbench.measure("gaussian:cost=square,k=0", estimator, params=AT, method="exact")
    for name, value in expected.items():
        assert res.variance[name][0] == pytest.approx(value, rel=1e-10)
        assert res.grad_mean[name][0] == pytest.approx(2.0, rel=1e-10)
        assert res.bias[name][0] == pytest.approx(0.0, abs=1e-10)
    assert res.bias_z is None and res.grad_se["mean"][0] == 0.0 and res.dtype == "float64"
    np.testing.assert_array_equal(res.variance_ci["mean"][0], [res.variance["mean"][0]] * 2)


@pytest.mark.parametrize("cost, k", [("cos", 1.5), ("exp_square", 0.7), ("linear", 2.0), ("square", 0.5)])
def test_exact_score_function_variance_matches_adaptive_quadrature(cost, k):
    mu, sigma = 0.3, 0.8
    c = {"cos": lambda x: np.cos(k * x), "exp_square": lambda x: np.exp(-k * x * x), "linear": lambda x: k * x,
         "square": lambda x: (x - k) ** 2}[cost]
    phi = lambda e: np.exp(-e * e / 2) / np.sqrt(2 * np.pi)
    # Score w.r.t. mean is e / sigma; w.r.t. log_scale is e^2 - 1.
    for name, score in (("mean", lambda e: e / sigma), ("log_scale", lambda e: e * e - 1)):
        g = lambda e: score(e) * c(mu + sigma * e)
        m1 = integrate.quad(lambda e: g(e) * phi(e), -np.inf, np.inf, epsabs=1e-13)[0]
        m2 = integrate.quad(lambda e: g(e) ** 2 * phi(e), -np.inf, np.inf, epsabs=1e-13)[0]
        res = varbench.measure(f"gaussian:cost={cost},k={k}", "score_function",
                               params={"mean": mu, "log_scale": np.log(sigma)}, method="exact")
        assert res.grad_mean[name][0] == pytest.approx(m1, rel=1e-8, abs=1e-12)
        assert res.variance[name][0] == pytest.approx(m2 - m1 * m1, rel=1e-8)


@pytest.mark.statistical
@pytest.mark.parametrize("problem", ["gaussian:cost=cos,k=2", "gaussian:cost=exp_square,k=1",
                                     "gaussian:cost=square,k=1,dim=2", "gaussian:cost=linear,k=3"])
@pytest.mark.parametrize("estimator", ["score_function", "score_function:baseline=mean,samples=2", "pathwise",
                                       "pathwise:samples=2", "measure_valued"])
def test_monte_carlo_agrees_with_exact_mode(problem, estimator):
    params = {"mean": 0.4, "log_scale": -0.2}
    try:
        exact = varbench.measure(problem, estimator, params=params, method="exact")
    except NotApplicableError:
        pytest.skip("more noise dimensions than quadrature handles")
    mc = varbench.measure(problem, estimator, params=params, num_samples=400_000, seed=11)
    for name in ("mean", "log_scale"):
        np.testing.assert_allclose(exact.grad_mean[name], exact.grad_exact[name], rtol=1e-8, atol=1e-10)
        diff = mc.grad_mean[name] - exact.grad_mean[name]
        se = mc.grad_se[name]
        # A zero standard error means a deterministic coordinate: then it must match to float32 rounding.
        z = np.where(se > 0, diff / np.where(se > 0, se, 1), diff / (1e-6 * (1 + np.abs(exact.grad_mean[name]))))
        assert np.all(np.abs(z) < 5), z
        for i, v in enumerate(exact.variance[name]):
            lo, hi = mc.variance_ci[name][i]
            if v < 1e-20 * (1 + exact.grad_mean[name][i] ** 2):  # deterministic coordinate
                assert mc.variance[name][i] < 1e-10
                continue
            half = (np.log(hi) - np.log(lo)) / 2  # 1.96 standard errors on the log scale
            assert abs(np.log(mc.variance[name][i]) - np.log(v)) < 2.6 * half, (name, i, mc.variance[name][i], v)


def test_exact_refuses_too_many_noise_dimensions():
    with pytest.raises(NotApplicableError, match="at most 5 continuous noise dimensions.*uses 6"):
        varbench.measure("gaussian:dim=6", "pathwise", method="exact")


def test_exact_refuses_when_quadrature_does_not_converge():
    # The leave-one-out optimal baseline is a ratio of noise-dependent sums: not a polynomial, and 4 noise
    # dimensions leave too few nodes per dimension to resolve it to 1e-5.
    with pytest.raises(NotApplicableError, match="did not converge"):
        varbench.measure("gaussian:cost=square,k=0", "score_function:baseline=optimal,samples=4", method="exact")


def test_nodes_per_dimension():
    assert nodes_per_dim(0) == 1 and nodes_per_dim(1) == 200 and nodes_per_dim(3) == 64 and nodes_per_dim(4) == 22

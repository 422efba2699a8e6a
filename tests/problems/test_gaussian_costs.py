"""The peers' test costs on the Gaussian problem (weights, powers, costs of a weighted sum) and Gaussian problems
with a user's cost: closed forms against quadrature written here independently, gradients against finite
differences."""

import numpy as np
import pytest
from scipy import integrate

import varbench
from varbench.catalog import resolve_problem
from varbench.engine.harness import exact_objective_and_gradient

MU, LOG_SIGMA, W, K = np.array([0.3, -0.5]), np.array([-0.2, 0.1]), np.array([0.5, -1.5]), 0.7
COORDINATE = {"cube": lambda x: x ** 3, "quartic": lambda x: x ** 4, "quintic": lambda x: x ** 5,
              "cos": lambda x: np.cos(K * x), "exp_square": lambda x: np.exp(-K * x * x)}
SUM = {"square_of_sum": lambda s: (K * s) ** 2, "cos_of_sum": lambda s: np.cos(K * s)}


def expectation(cost: str, mu: np.ndarray, log_sigma: np.ndarray) -> float:
    """E[cost] by 1-D Gauss–Hermite: per coordinate (weighted sum), or over s = w·x ~ N(w·μ, Σ w² σ²)."""
    e, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    sigma = np.exp(log_sigma)
    if cost in SUM:
        return float(w @ SUM[cost](W @ mu + np.sqrt(W ** 2 @ sigma ** 2) * e))
    return float(sum(W[i] * (w @ COORDINATE[cost](mu[i] + sigma[i] * e)) for i in range(2)))


@pytest.mark.parametrize("cost", list(COORDINATE) + list(SUM))
def test_closed_forms_and_gradients(cost):
    problem = resolve_problem(f"gaussian:cost={cost},dim=2,k={K},weights=[0.5,-1.5]")
    objective, grad = exact_objective_and_gradient(problem, {"mean": MU, "log_scale": LOG_SIGMA})
    assert objective == pytest.approx(expectation(cost, MU, LOG_SIGMA), rel=1e-10, abs=1e-12)
    h = 1e-5
    for name, base in (("mean", MU), ("log_scale", LOG_SIGMA)):
        for i in range(2):
            step = np.eye(2)[i] * h
            args = lambda d: (MU + d, LOG_SIGMA) if name == "mean" else (MU, LOG_SIGMA + d)
            fd = (expectation(cost, *args(step)) - expectation(cost, *args(-step))) / (2 * h)
            assert grad[name][i] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_weights_are_checked():
    with pytest.raises(varbench.VarbenchError, match="weights.*one number or 2 numbers"):
        resolve_problem("gaussian:dim=2,weights=[1,2,3]")


def test_gaussian_with_cost_from_python():
    import jax.numpy as jnp

    problem = varbench.problems.gaussian_with_cost(lambda x: jnp.sum(x ** 2), dim=2)
    built_in = resolve_problem("gaussian:cost=square,k=0,dim=2")
    at = {"mean": [1.0, -0.5], "log_scale": [0.0, 0.3]}
    for estimator in ("score_function", "pathwise", "pathwise:control_variate=delta"):
        mine = varbench.measure(problem, estimator, params=at, method="exact")
        ref = varbench.measure(built_in, estimator, params=at, method="exact")
        for name in ("mean", "log_scale"):
            np.testing.assert_allclose(mine.grad_mean[name], ref.grad_mean[name], rtol=1e-12)
            np.testing.assert_allclose(mine.variance[name], ref.variance[name], rtol=1e-10, atol=1e-24)
        assert mine.grad_exact is None  # no closed form for a user's cost


def test_gaussian_with_cost_from_a_plugin_module():
    # log|x| at mu = 1, sigma = 0.5: the score function's exact mean against scipy's quad of E[log|x|] derivatives.
    varbench.load_plugin("tests.plugins.my_cost")
    res = varbench.measure("log_abs_gaussian", "score_function", params={"mean": 1.0, "log_scale": np.log(0.5)},
                           method="exact")
    phi = lambda e: np.exp(-e * e / 2) / np.sqrt(2 * np.pi)
    opts = dict(points=[-2.0], limit=400)
    d_mean = integrate.quad(lambda e: e / 0.5 * np.log(abs(1 + 0.5 * e)) * phi(e), -14, 14, **opts)[0]
    d_scale = integrate.quad(lambda e: (e * e - 1) * np.log(abs(1 + 0.5 * e)) * phi(e), -14, 14, **opts)[0]
    assert res.grad_mean["mean"][0] == pytest.approx(d_mean, rel=1e-5)
    assert res.grad_mean["log_scale"][0] == pytest.approx(d_scale, rel=1e-5)
    assert varbench.catalog.resolve_problem("log_abs_gaussian:dim=3").param_shapes()["mean"] == (3,)

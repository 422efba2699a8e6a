import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps
from varbench.problems import Gaussian

from varbench.engine.harness import exact_objective_and_gradient

COSTS = {
    "linear": lambda x, k: k * x,
    "square": lambda x, k: (x - k) ** 2,
    "exp_square": lambda x, k: np.exp(-k * x * x),
    "cos": lambda x, k: np.cos(k * x),
}
POINTS = [(np.array([1.0]), np.array([0.0])), (np.array([-0.7, 2.0]), np.array([0.4, -1.1]))]


def _quadrature_objective(cost, k, mean, log_scale, n=150):
    """E[Σ c(x_i)] by Gauss–Hermite quadrature, per coordinate (independent of the closed forms)."""
    e, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    return sum(np.sum(w * COSTS[cost](m + np.exp(s) * e, k)) for m, s in zip(mean, log_scale))


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("k", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("point", range(len(POINTS)))
def test_objective_matches_quadrature_and_gradient_matches_finite_differences(cost, k, point):
    mean, log_scale = POINTS[point]
    problem = Gaussian(cost_name=cost, k=k, dim=len(mean))
    value, grad = exact_objective_and_gradient(problem, {"mean": mean, "log_scale": log_scale})
    assert value == pytest.approx(_quadrature_objective(cost, k, mean, log_scale), rel=1e-10, abs=1e-12)
    h = 1e-5
    for name in ("mean", "log_scale"):
        for i in range(len(mean)):
            up = {"mean": mean.copy(), "log_scale": log_scale.copy()}
            down = {"mean": mean.copy(), "log_scale": log_scale.copy()}
            up[name][i] += h
            down[name][i] -= h
            fd = (_quadrature_objective(cost, k, **up) - _quadrature_objective(cost, k, **down)) / (2 * h)
            assert grad[name][i] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_latent_log_prob_and_cost():
    problem = Gaussian(cost_name="square", k=0.5, dim=3)
    params = {"mean": jnp.array([0.1, -1.0, 2.0]), "log_scale": jnp.array([0.0, -0.5, 0.3])}
    eps = jax.random.normal(jax.random.key(0), (200_000, 3))
    x = np.asarray(jax.vmap(problem.latent, in_axes=(None, 0))(params, eps))
    np.testing.assert_allclose(x.mean(0), params["mean"], atol=0.02)
    np.testing.assert_allclose(x.std(0), np.exp(params["log_scale"]), rtol=0.01)
    point = jnp.array([0.3, 0.2, -0.1])
    expected = sps.norm.logpdf(point, params["mean"], np.exp(params["log_scale"])).sum()
    assert float(problem.log_prob(params, point)) == pytest.approx(expected, rel=1e-5)
    assert float(problem.cost(params, point)) == pytest.approx(float(np.sum((point - 0.5) ** 2)), rel=1e-6)


def test_default_params_and_shapes():
    problem = Gaussian(dim=4)
    assert problem.param_shapes() == {"mean": (4,), "log_scale": (4,)}
    defaults = problem.default_params()
    np.testing.assert_array_equal(defaults["mean"], np.ones(4))
    np.testing.assert_array_equal(defaults["log_scale"], np.zeros(4))


def test_problem_is_a_pytree_with_k_as_a_leaf():
    leaves, treedef = jax.tree_util.tree_flatten(Gaussian(cost_name="cos", k=2.0, dim=3))
    assert leaves == [2.0]
    rebuilt = jax.tree_util.tree_unflatten(treedef, [5.0])
    assert rebuilt.k == 5.0 and rebuilt.cost_name == "cos" and rebuilt.dim == 3

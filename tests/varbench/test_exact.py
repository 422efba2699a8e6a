import re

import numpy as np
import pytest
from scipy import integrate

import varbench
from varbench.core.errors import NotApplicableError, VarbenchError
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


def test_exact_refuses_only_when_the_adaptive_budget_is_exhausted(monkeypatch):
    # A narrow peak (exp(-10 x^2) at sigma = 1.5) defeats the 200-node Gauss rule; with the adaptive budget cut to
    # a few hundred points the refinement cannot settle either, and the refusal names the cell and the budget.
    from varbench.engine import _adaptive

    monkeypatch.setattr(_adaptive, "ADAPTIVE_BUDGET", {"gauss": 300, "composite": 300})
    with pytest.raises(NotApplicableError, match="estimator 'score_function' on problem 'gaussian' exhausted its "
                                                 "budget.*composite rules: scalar 0 of its normal noise"):
        varbench.measure("gaussian:cost=exp_square,k=10", "score_function", params=WIDE_PEAK, method="exact")


def test_exact_budget_caps_the_adaptive_refinement():
    # The same cell settles with the full budget; a caller's smaller budget (the check battery's, per level) is
    # kept across both families of rules, and the refusal states it.
    with pytest.raises(NotApplicableError, match=r"exhausted its budget \(\d+ points per grid, 500 in all, (\d+) "
                                                 r"spent\)") as refused:
        varbench.measure("gaussian:cost=exp_square,k=10", "score_function", params=WIDE_PEAK, method="exact",
                         exact_budget=500)
    spent = int(re.search(r"(\d+) spent", str(refused.value)).group(1))
    assert 0 < spent <= 500
    with pytest.raises(VarbenchError, match="exact_budget must be None or a positive integer"):
        varbench.measure("gaussian", "pathwise", method="exact", exact_budget=0)


WIDE_PEAK = {"mean": 0.0, "log_scale": float(np.log(1.5))}
PHI = lambda e: np.exp(-e * e / 2) / np.sqrt(2 * np.pi)


def _scipy_moments(g, density, lo, hi, points=()):
    """Mean and variance of g(x) under a density on [lo, hi] by scipy's adaptive QUADPACK rule."""
    opts = dict(limit=800, epsabs=1e-12, epsrel=1e-10, points=list(points) or None)
    m1 = integrate.quad(lambda x: g(x) * density(x), lo, hi, **opts)[0]
    m2 = integrate.quad(lambda x: (g(x) - m1) ** 2 * density(x), lo, hi, **opts)[0]
    return m1, m2


# The Gaussian cells of Mohamed et al. (2020), Figures 2-3, that the Gauss rules alone refused.
@pytest.mark.parametrize("cost, k, mu, estimator", [
    ("exp_square", 10.0, 0.0, "score_function"), ("exp_square", 10.0, 0.0, "pathwise"),
    ("cos", 10.0, 1.0, "score_function"), ("cos", 10.0, 1.0, "pathwise")])
def test_adaptive_exact_mode_matches_scipy_on_sharp_gaussian_cells(cost, k, mu, estimator):
    sigma = 1.5
    c = {"exp_square": lambda x: np.exp(-k * x * x), "cos": lambda x: np.cos(k * x)}[cost]
    dc = {"exp_square": lambda x: -2 * k * x * np.exp(-k * x * x), "cos": lambda x: -k * np.sin(k * x)}[cost]
    if estimator == "score_function":
        parts = {"mean": lambda e: e / sigma * c(mu + sigma * e), "log_scale": lambda e: (e * e - 1) * c(mu + sigma * e)}
    else:
        parts = {"mean": lambda e: dc(mu + sigma * e), "log_scale": lambda e: dc(mu + sigma * e) * sigma * e}
    res = varbench.measure(f"gaussian:cost={cost},k={k}", estimator, params={"mean": mu, "log_scale": np.log(sigma)},
                           method="exact")
    for name, g in parts.items():
        m1, var = _scipy_moments(g, PHI, -14, 14, points=[-mu / sigma])
        # Exact mode's tolerance is relative to the estimate's scale |mean| + sd (cos(10 x) at sigma = 1.5 has a
        # gradient of about 1e-49 next to a standard deviation of 0.5).
        assert res.grad_mean[name][0] == pytest.approx(m1, abs=1e-6 * (abs(m1) + np.sqrt(var)))
        assert res.variance[name][0] == pytest.approx(var, rel=1e-5)


def test_adaptive_exact_mode_matches_scipy_for_measure_valued():
    # exp(-3 x^2) at mu = sigma = 1 (d = 1): the mean part depends on the Rayleigh W only; the log-scale part
    # c(1 + M) - c(1 + M U) is integrated over U in closed form (erf), then over the Maxwell M by quad.
    from scipy.special import erf

    k = 3.0
    c = lambda x: np.exp(-k * x * x)
    rayleigh = lambda w: w * np.exp(-w * w / 2)
    maxwell = lambda m: m * m * np.exp(-m * m / 2) / np.sqrt(2 * np.pi)

    def over_u(m, kk):  # ∫_0^1 exp(-kk (1 + m u)^2) du
        if abs(m) < 1e-12:
            return np.exp(-kk)
        return np.sqrt(np.pi) / (2 * m * np.sqrt(kk)) * (erf(np.sqrt(kk) * (1 + m)) - erf(np.sqrt(kk)))

    res = varbench.measure("gaussian:cost=exp_square,k=3", "measure_valued", params={"mean": 1.0, "log_scale": 0.0},
                           method="exact")
    m1, var = _scipy_moments(lambda w: (c(1 + w) - c(1 - w)) / np.sqrt(2 * np.pi), rayleigh, 0, 14, points=[1.0])
    assert res.grad_mean["mean"][0] == pytest.approx(m1, rel=1e-6)
    assert res.variance["mean"][0] == pytest.approx(var, rel=1e-5)
    opts = dict(limit=800, epsabs=1e-12, epsrel=1e-10, points=[-1.0])
    mean = integrate.quad(lambda m: (c(1 + m) - over_u(m, k)) * maxwell(m), -14, 14, **opts)[0]
    second = integrate.quad(lambda m: (c(1 + m) ** 2 - 2 * c(1 + m) * over_u(m, k) + over_u(m, 2 * k)) * maxwell(m),
                            -14, 14, **opts)[0]
    assert res.grad_mean["log_scale"][0] == pytest.approx(mean, rel=1e-6)
    assert res.variance["log_scale"][0] == pytest.approx(second - mean * mean, rel=1e-5)


def test_adaptive_exact_mode_on_relaxations():
    # Gumbel-softmax at temperature 10 (one uniform): against scipy's quad of the estimator's own function of u.
    import jax
    import jax.numpy as jnp

    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.core.noise import is_noise

    problem, estimator = resolve_problem("bernoulli"), resolve_estimator("gumbel_softmax:temperature=10")
    res = varbench.measure(problem, estimator, params={"logits": 0.3}, method="exact")
    with jax.enable_x64(True):
        params = {"logits": jnp.asarray([0.3])}
        spec = estimator.noise(problem, params)
        at = jax.jit(lambda u: estimator.estimate_from_noise(problem, params, (), jax.tree_util.tree_map(
            lambda leaf: jnp.full(leaf.shape, u), spec, is_leaf=is_noise))["logits"][0])
        m1, var = _scipy_moments(lambda u: float(at(u)), lambda u: 1.0, 0.0, 1.0)
    assert res.grad_mean["logits"][0] == pytest.approx(m1, abs=1e-6 * (abs(m1) + np.sqrt(var)))
    assert res.variance["logits"][0] == pytest.approx(var, rel=1e-5)
    # REBAR on 2-D Bernoulli latents at lambda = 0.3 (four uniforms): unbiased, so its exact mean is the gradient.
    rebar = varbench.measure("bernoulli:dim=2", "rebar:temperature=0.3", params={"logits": [0.5, -1.0]},
                             method="exact")
    # (within exact mode's rtol of 1e-5 relative to the scale |mean| + sd; the gradient is small next to the sd)
    scale = np.abs(rebar.grad_exact["logits"]) + np.sqrt(rebar.variance["logits"])
    assert np.all(np.abs(rebar.grad_mean["logits"] - rebar.grad_exact["logits"]) < 1e-5 * scale)


def test_nodes_per_dimension():
    assert nodes_per_dim(0) == 1 and nodes_per_dim(1) == 200 and nodes_per_dim(3) == 64 and nodes_per_dim(4) == 22


def _direct_moments(problem, estimator, params, state, tables, treedef):
    """Mean and variance of the estimate at every point of the tensor grid, evaluated one array at a time in float64
    and reduced in NumPy by two passes: an independent check of the streaming kernel."""
    import jax

    sizes = [len(w) for _, w in tables]
    index = np.unravel_index(np.arange(int(np.prod(sizes))), sizes)
    weights = np.prod([w[i] for (_, w), i in zip(tables, index)], axis=0)
    with jax.enable_x64(True):
        noise = jax.tree_util.tree_unflatten(treedef, [v[i] for (v, _), i in zip(tables, index)])
        g = jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, state, n))(noise)
    out = {}
    for name, v in g.items():
        v = np.asarray(v, np.float64).reshape(len(weights), -1)
        mean = weights @ v
        out[name] = (mean, weights @ (v - mean) ** 2)
    return out


@pytest.mark.parametrize("problem, estimator, n", [
    ("gaussian:cost=cos,k=2,dim=2", "score_function", 37),   # 1369 points: one partial batch
    ("gaussian:cost=exp_square,k=1", "measure_valued", 150),  # Rayleigh and uniform blocks, padded tables
    ("bernoulli:target=0.499", "relax", 50),                  # discrete and uniform blocks, a stateful estimator
    ("lgssm", "gae:lambda=0.9", 7),                           # 7^5 points: five batches, the heaviest mid-grid
])
def test_streaming_grid_kernel_matches_a_direct_two_pass_evaluation(problem, estimator, n):
    import jax

    from varbench import catalog
    from varbench.core.noise import is_noise
    from varbench.engine import _grid
    from varbench.engine.subject import Subject

    prob, est = catalog.resolve_problem(problem), catalog.resolve_estimator(estimator)
    with jax.enable_x64(True):
        params = {k: np.asarray(v, np.float64) for k, v in prob.default_params().items()}
        leaves, treedef = jax.tree_util.tree_flatten(est.noise(prob, params), is_leaf=is_noise)
        tables = [leaf.table(n) for leaf in leaves]
        state = est.init(prob, params, jax.random.key(0))
        got = _grid.integrate_tables(Subject(prob, est, params, state), tables, treedef)
    want = _direct_moments(prob, est, params, state, tables, treedef)
    assert got.points == int(np.prod([len(w) for _, w in tables]))
    for name, (mean, var) in want.items():
        np.testing.assert_allclose(got.mean[name].ravel(), mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.var[name].ravel(), var, rtol=1e-10, atol=1e-14)


def test_both_resolutions_and_every_grid_point_share_one_compiled_kernel():
    from varbench.engine import exact, harness

    harness.clear_cache()
    first = varbench.measure("lgssm", "gae:lambda=0.9", method="exact")  # 12^5 and 9^5 points: one kernel
    assert exact.compile_count() == 1
    assert first.compile_seconds > 0 and first.run_seconds > 0
    again = varbench.measure("lgssm", "gae:lambda=0.5", params={"alpha": 0.3}, method="exact")
    assert exact.compile_count() == 1 and again.compile_seconds == 0.0

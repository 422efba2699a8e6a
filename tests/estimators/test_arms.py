"""ARMS (estimators/arms.py): K Dirichlet-copula samples with the debiased leave-one-out baseline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.estimators.arms import DirichletCopulaBits, copula_joint_probability, pattern_probabilities
from varbench.testing import assert_unbiased

TOY2 = "bernoulli:dim=2,target=[0.499,0.2]"
SBN = "sbn:latent=2,data_subset=1,batch_size=1,particles=1"


@pytest.mark.parametrize("logits", [[0.0], [-1.2], [0.7, -0.4]])
def test_arms_with_two_samples_is_disarm(logits):
    # With K = 2 the Dirichlet copula is the antithetic pair (u, 1 − u) and the factor is σ(|φ|): DisARM exactly.
    problem = "bernoulli" if len(logits) == 1 else TOY2
    params = {"logits": np.array(logits)}
    arms = varbench.measure(problem, "arms:samples=2", method="exact", params=params)
    disarm = varbench.measure(problem, "disarm", method="exact", params=params)
    np.testing.assert_allclose(arms.grad_mean["logits"], disarm.grad_mean["logits"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(arms.variance["logits"], disarm.variance["logits"], rtol=1e-9, atol=1e-25)
    if logits == [0.0]:
        assert arms.variance["logits"][0] == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize("samples", [3, 4])
@pytest.mark.parametrize("logits", [[0.0, -0.4], [0.3, 1.5], [-2.0, 0.9]])
def test_arms_is_exactly_unbiased_on_the_toy(samples, logits):
    # Both sides of p = 1/2 (the copula is flipped above it); the second latent's cost adds to the first's signal.
    res = varbench.measure(TOY2, f"arms:samples={samples}", method="exact", params={"logits": np.array(logits)})
    np.testing.assert_allclose(res.grad_mean["logits"], res.grad_exact["logits"], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("logit", [0.0, 1.0])
def test_arms_beats_rloo_with_the_same_samples(logit):
    params = {"logits": np.array([logit])}
    arms = varbench.measure("bernoulli", "arms:samples=4", method="exact", params=params)
    rloo = varbench.measure("bernoulli", "rloo:samples=4", method="exact", params=params)
    assert arms.variance["logits"][0] < 0.5 * rloo.variance["logits"][0]


@pytest.mark.parametrize("samples", [3, 4])
def test_arms_is_exactly_unbiased_on_sbn(samples):
    res = varbench.measure(SBN, f"arms:samples={samples}", method="exact")
    for name in res.grad_mean:
        np.testing.assert_allclose(res.grad_mean[name], res.grad_exact[name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("p", "samples"), [(0.2, 4), (0.5, 3), (0.8, 4)])
def test_copula_sampler_matches_the_enumerated_probabilities(p, samples):
    bits, probs = pattern_probabilities(p, samples)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(bits.T @ probs, p, rtol=1e-12)  # every marginal is Bernoulli(p)
    both = np.sum(probs * bits[:, 0] * bits[:, 1])
    np.testing.assert_allclose(float(copula_joint_probability(jnp.float32(p), samples)), both, rtol=1e-5, atol=1e-7)
    assert both < p * p  # negatively correlated
    leaf = DirichletCopulaBits(jnp.array([p], jnp.float32), samples)
    n = 40_000
    draws = np.asarray(jax.vmap(leaf.sample)(jax.random.split(jax.random.key(1), n)))[:, :, 0]
    freq = np.bincount((draws @ 2 ** np.arange(samples)).astype(int), minlength=2 ** samples) / n
    np.testing.assert_array_less(np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / n) + 1e-9)


def test_arms_is_unbiased_with_minibatches():
    # Random minibatches: the copula is drawn from uniforms inside the estimate (exact mode does not apply).
    out = assert_unbiased("sbn:latent=2,data_subset=4,batch_size=2,particles=2", "arms:samples=3",
                          relative_bias=0.2, power=0.8, alpha=1e-3, max_samples=60_000, seed=3)
    assert out.passed


def test_arms_applicability():
    assert resolve_estimator("arms").evaluations_per_estimate(resolve_problem(SBN)) == 4
    assert resolve_estimator("arms:samples=6").evaluations_per_estimate(resolve_problem("bernoulli")) == 6
    with pytest.raises(VarbenchError):
        resolve_estimator("arms:samples=1")
    with pytest.raises(NotApplicableError):
        varbench.measure("categorical", "arms", num_samples=10)

"""MuProp (Gu et al. 2016) and the unordered set estimator (Kool et al. 2020): exact mean and variance by
enumeration, checked against hand derivations and the closed-form gradient, plus statistical unbiasedness where
the noise cannot be enumerated."""

import numpy as np
import pytest
from scipy.special import expit, softmax
from varbench.estimators.unordered_set import WithoutReplacement

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.testing import assert_unbiased


@pytest.mark.parametrize("logit, target", [(0.7, 0.499), (-1.3, 0.2)])
def test_muprop_exact_variance_on_the_bernoulli_toy(logit, target):
    # f(b) = (b - t)^2, mean field p = sigmoid(logit): f - f~ = (b - p)^2 and the score is b - p, so the estimate is
    # (b - p)^3 + 2 (p - t) p (1 - p): mean p(1-p)(1-2t), variance E[(b-p)^6] - E[(b-p)^3]^2.
    p = expit(logit)
    third = p * (1 - p) ** 3 - (1 - p) * p ** 3
    res = varbench.measure(f"bernoulli:target={target}", "muprop", params={"logits": logit}, method="exact")
    assert res.grad_mean["logits"][0] == pytest.approx(p * (1 - p) * (1 - 2 * target), rel=1e-12)
    assert res.variance["logits"][0] == pytest.approx(p * (1 - p) ** 6 + (1 - p) * p ** 6 - third ** 2, rel=1e-12)


def test_muprop_is_exact_for_a_linear_cost_and_unbiased_on_sbn():
    # The categorical cost is linear in the one-hot z: the Taylor expansion is the cost, variance 0.
    cat = varbench.measure("categorical:dim=2", "muprop", params={"logits": [[0.3, -0.2, 0.5], [0.0, 1.0, -1.0]]},
                           method="exact")
    assert np.max(cat.variance["logits"]) < 1e-28
    np.testing.assert_allclose(cat.grad_mean["logits"], cat.grad_exact["logits"], atol=1e-14)
    # SBN (amortized, per-data-point learning signals): unbiased by enumeration, and far less encoder variance than
    # the score function.
    sbn = "sbn:latent=3,data_subset=1,batch_size=1"
    mu = varbench.measure(sbn, "muprop", method="exact")
    sf = varbench.measure(sbn, "score_function", method="exact")
    for name in mu.grad_mean:
        np.testing.assert_allclose(mu.grad_mean[name], mu.grad_exact[name], rtol=1e-9, atol=1e-12)
    assert np.sum(mu.variance["enc_w1"]) < 0.01 * np.sum(sf.variance["enc_w1"])
    assert resolve_estimator("muprop").evaluations_per_estimate(resolve_problem("bernoulli")) == 2
    with pytest.raises(NotApplicableError, match="Bernoulli or categorical"):
        varbench.measure("gaussian", "muprop", num_samples=10)


@pytest.mark.statistical
@pytest.mark.parametrize("problem, estimator", [("sbn:latent=2,data_subset=4,batch_size=2", "muprop"),
                                                ("categorical:classes=5", "unordered_set:samples=3")])
def test_unbiased_with_sampled_noise(problem, estimator):
    params = {"logits": [[0.3, -0.2, 0.5, 1.1, -0.7]]} if problem.startswith("categorical") else None
    out = assert_unbiased(problem, estimator, params=params, relative_bias=0.1, power=0.9, alpha=1e-3,
                          max_samples=400_000, seed=2)
    assert out.passed


def test_without_replacement_enumeration_and_sampling_agree():
    logits = np.array([0.3, -0.2, 0.5, 1.1])
    values, weights = WithoutReplacement(logits, 2).enumerate()
    p = softmax(logits)
    # First draw s1 with p(s1); second s2 with p(s2) / (1 - p(s1)).
    first, second = values[:, 0].argmax(1), values[:, 1].argmax(1)
    np.testing.assert_allclose(weights, p[first] * p[second] / (1 - p[first]), rtol=1e-12)
    assert len(weights) == 12 and weights.sum() == pytest.approx(1.0)
    import jax

    draws = jax.vmap(lambda key: WithoutReplacement(logits, 2).sample(key))(jax.random.split(jax.random.key(0), 20000))
    counts = np.zeros((4, 4))
    np.add.at(counts, (np.asarray(draws[:, 0]).argmax(1), np.asarray(draws[:, 1]).argmax(1)), 1)
    expected = np.zeros((4, 4))
    expected[first, second] = weights
    chi2 = np.sum((counts - 20000 * expected) ** 2 / np.where(expected > 0, 20000 * expected, 1))
    assert chi2 < 40  # 11 degrees of freedom: p < 1e-4


@pytest.mark.parametrize("k", [2, 3])
def test_unordered_set_is_unbiased_and_beats_rloo_exactly(k):
    params = {"logits": [[0.3, -0.2, 0.5, 1.1]]}
    us = varbench.measure("categorical:classes=4", f"unordered_set:samples={k}", params=params, method="exact")
    rloo = varbench.measure("categorical:classes=4", f"rloo:samples={k}", params=params, method="exact")
    np.testing.assert_allclose(us.grad_mean["logits"], us.grad_exact["logits"], atol=1e-14)
    assert us.total_variance < rloo.total_variance


def test_unordered_set_with_every_class_is_the_exact_gradient():
    params = {"logits": [[0.3, -0.2, 0.5, 1.1]]}
    res = varbench.measure("categorical:classes=4", "unordered_set:samples=4", params=params, method="exact")
    assert np.max(res.variance["logits"]) < 1e-28
    np.testing.assert_allclose(res.grad_mean["logits"], res.grad_exact["logits"], atol=1e-14)


def test_unordered_set_refusals():
    with pytest.raises(NotApplicableError, match="ONE categorical latent"):
        varbench.measure("categorical:dim=2", "unordered_set", num_samples=10)
    with pytest.raises(NotApplicableError, match="ONE categorical latent"):
        varbench.measure("bernoulli", "unordered_set", num_samples=10)
    with pytest.raises(NotApplicableError, match="samples <= 3"):
        varbench.measure("categorical:classes=3", "unordered_set:samples=4", num_samples=10)
    with pytest.raises(VarbenchError, match="2..6"):
        resolve_estimator("unordered_set:samples=7")

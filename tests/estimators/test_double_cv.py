"""Double control variates (estimators/double_cv.py): RLOO plus a Taylor-expansion control variate scaled by α."""

import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError

# Full batch, so the logits are fixed and exact mode enumerates the K draws of every bit.
SBN = "sbn:latent=2,data_subset=1,batch_size=1"
SBN_K2 = "sbn:latent=2,data_subset=1,batch_size=1,particles=2"


def encoder_variance(res):
    return sum(float(np.sum(res.variance[k])) for k in res.variance if k.startswith("enc_"))


@pytest.mark.parametrize("problem, estimator", [
    ("bernoulli:dim=3,target=[0.2,0.5,0.9]", "double_cv:alpha=0.5"),
    ("categorical", "double_cv:alpha=0.7,samples=3"),
    (SBN_K2, "double_cv:alpha=1,samples=2"),
])
def test_double_cv_is_unbiased_exactly_for_any_alpha(problem, estimator):
    res = varbench.measure(problem, estimator, method="exact")
    for k in res.grad_exact:
        scale = np.max(np.abs(res.grad_exact[k])) + 1e-12
        np.testing.assert_allclose(res.grad_mean[k], res.grad_exact[k], rtol=1e-9, atol=1e-9 * scale, err_msg=k)


def test_taylor_control_variate_lowers_the_variance_of_rloo_on_sbn_exactly():
    rloo = varbench.measure(SBN, "rloo:samples=2", method="exact")
    taylor = varbench.measure(SBN, "double_cv:samples=2,alpha=1", method="exact")
    assert encoder_variance(taylor) < 0.3 * encoder_variance(rloo)
    # The decoder's and prior's gradients are the direct ones at the K samples, whatever α (one data point, so
    # the same draws as RLOO's).
    for k in ("dec_w1", "dec_b1", "prior_logits"):
        np.testing.assert_allclose(taylor.variance[k], rloo.variance[k], rtol=1e-9, err_msg=k)


def test_learning_alpha_recovers_rloo_where_the_taylor_term_hurts():
    # The REBAR toy: the cost barely differs between b = 0 and 1 but its slope is ±1, so α = 1 adds variance;
    # the variance-gradient steps shrink α back towards 0.
    rloo = varbench.measure("bernoulli", "rloo", method="exact")
    start = varbench.measure("bernoulli", "double_cv:alpha=1", method="exact")
    learned = varbench.measure("bernoulli", "double_cv:alpha=1", method="exact", warmup=300)
    assert start.total_variance > 100 * rloo.total_variance
    assert learned.total_variance < 2 * rloo.total_variance


def test_double_cv_applicability():
    assert resolve_estimator("double_cv").evaluations_per_estimate(resolve_problem(SBN)) == 4
    assert resolve_estimator("double_cv").stateful
    with pytest.raises(NotApplicableError):
        varbench.measure("gaussian", "double_cv", num_samples=10)

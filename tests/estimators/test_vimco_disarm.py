"""VIMCO-DisARM (estimators/vimco_disarm.py): DisARM per particle of the K-sample bound on sbn."""

import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError
from varbench.testing import assert_unbiased

SBN = "sbn:latent=2,data_subset=1,batch_size=1,particles=2"


def test_vimco_disarm_is_unbiased_exactly_and_beats_vimco_and_disarm():
    # Exact mode: the bits are piecewise constant in u, integrated piecewise at the thresholds sigma(±logit); the
    # bound's gradient comes from autodiff of its enumeration over all 2^(latent·particles) configurations.
    res = varbench.measure(SBN, "vimco_disarm", method="exact")
    for name in res.grad_mean:
        np.testing.assert_allclose(res.grad_mean[name], res.grad_exact[name], rtol=1e-9, atol=1e-12)
    vimco = varbench.measure(SBN, "vimco", method="exact")
    disarm = varbench.measure(SBN, "disarm", method="exact")
    encoder = lambda r: np.sum(r.variance["enc_w1"]) + np.sum(r.variance["enc_b1"])
    assert encoder(res) < encoder(vimco) and encoder(res) < encoder(disarm)
    # The decoder's gradient is the direct one averaged over the two K-tuples, as in DisARM.
    np.testing.assert_allclose(res.variance["dec_w1"], disarm.variance["dec_w1"], rtol=1e-9)


@pytest.mark.statistical
def test_vimco_disarm_is_unbiased_with_minibatches():
    out = assert_unbiased("sbn:latent=2,data_subset=4,batch_size=2,particles=3", "vimco_disarm", relative_bias=0.1,
                          power=0.9, alpha=1e-3, max_samples=400_000, seed=4)
    assert out.passed


def test_vimco_disarm_applicability():
    assert resolve_estimator("vimco_disarm").evaluations_per_estimate(resolve_problem(SBN)) == 2
    with pytest.raises(NotApplicableError):
        varbench.measure("sbn:latent=2,data_subset=1,batch_size=1", "vimco_disarm", num_samples=10)
    with pytest.raises(NotApplicableError):
        varbench.measure("bernoulli", "vimco_disarm", num_samples=10)

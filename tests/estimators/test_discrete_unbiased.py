"""Unbiasedness of the discrete-latent estimators and the new score-function baselines (statistical kit)."""

import numpy as np
import pytest

from varbench.testing import assert_unbiased

BERNOULLI = "bernoulli:dim=2,target=[0.2,0.9]"
CATEGORICAL = "categorical:dim=2,classes=3"
# (problem, estimator, warm-up steps of a stateful estimator)
CASES = [
    (BERNOULLI, "score_function:baseline=constant,value=0.3", 0),
    (BERNOULLI, "score_function:baseline=ema", 20),
    (BERNOULLI, "rloo:samples=3", 0),
    (BERNOULLI, "arm", 0),
    (BERNOULLI, "disarm", 0),
    (BERNOULLI, "rebar", 0),
    (BERNOULLI, "relax", 20),
    (CATEGORICAL, "score_function:baseline=ema", 20),
    (CATEGORICAL, "rloo:samples=3", 0),
    (CATEGORICAL, "rebar:temperature=0.3,tune=variance", 20),
    (CATEGORICAL, "relax", 20),
    ("gaussian:cost=cos,k=1.5", "score_function:samples=4,control_variate=delta", 0),
]
#: Estimators whose names these cases cover (test_unbiased.py checks every registered one is covered somewhere).
ESTIMATORS = [estimator for _, estimator, _ in CASES] + ["gumbel_softmax", "straight_through",
                                                         # statistical tests in test_muprop_and_unordered_set.py
                                                         "muprop", "unordered_set",
                                                         "vimco_disarm",  # test_vimco_disarm.py
                                                         # exactly unbiased (enumeration) in their own test files
                                                         "arms", "double_cv", "rodeo"]
# Bias of the rest is checked exactly (enumeration and quadrature) in test_discrete_variance.py.
PARAMS = {
    BERNOULLI: [{"logits": [0.5, -1.0]}, {"logits": [-1.5, 2.0]}],
    CATEGORICAL: [{"logits": [[0.3, -0.2, 0.5], [0.0, 1.0, -1.0]]}, {"logits": [[-1.0, 0.0, 1.5], [2.0, 0.1, 0.3]]}],
    "gaussian:cost=cos,k=1.5": [{"mean": 0.4, "log_scale": -0.2}, {"mean": -1.0, "log_scale": 0.3}],
}


@pytest.mark.statistical
@pytest.mark.parametrize("problem, estimator, warmup", CASES, ids=[f"{p.split(':')[0]}-{e}" for p, e, _ in CASES])
def test_unbiased_at_several_params(problem, estimator, warmup):
    for i, params in enumerate(PARAMS[problem]):
        out = assert_unbiased(problem, estimator, params=params, relative_bias=0.1, power=0.9, alpha=1e-3,
                              max_samples=1_000_000, seed=i, warmup=warmup)
        # The test must have had the power to see a 10% bias of the largest gradient coordinate.
        largest = max(np.max(np.abs(g)) for g in out.result.grad_exact.values())
        assert max(np.max(d) for d in out.detectable_bias.values()) < 0.15 * largest

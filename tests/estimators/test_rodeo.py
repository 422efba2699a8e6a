"""RODEO (estimators/rodeo.py): RLOO with learned Gibbs-Stein control variates on binary latents."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.errors import NotApplicableError, VarbenchError

TOY = "bernoulli:dim=2"
SBN = "sbn:latent=2,data_subset=1,batch_size=1"


def _random_state(estimator, problem, params, seed):
    """A state whose network weights are all drawn at random (non-zero output layer: h is far from 0)."""
    state = estimator.init(problem, params, jax.random.key(seed))
    weights = state["control"]["network"]
    keys = jax.random.split(jax.random.key(seed + 1), len(weights))
    drawn = {name: jax.random.normal(k, w.shape, w.dtype) for (name, w), k in zip(sorted(weights.items()), keys)}
    return {**state, "control": {"network": drawn}}


@pytest.mark.parametrize("problem_spec, estimator_spec", [(TOY, "rodeo:samples=3"), (SBN, "rodeo:samples=2")])
def test_rodeo_is_unbiased_exactly_for_any_stein_function(problem_spec, estimator_spec):
    # Exact mode enumerates the K draws; the Stein terms have mean zero given the other samples whatever h is.
    problem, estimator = resolve_problem(problem_spec), resolve_estimator(estimator_spec)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    variances = []
    for state in (None, _random_state(estimator, problem, params, 3)):
        res = varbench.measure(problem, estimator, method="exact", state=state)
        for name in res.grad_mean:
            scale = np.max(np.abs(res.grad_exact[name])) + 1e-12
            np.testing.assert_allclose(res.grad_mean[name], res.grad_exact[name], rtol=1e-9, atol=1e-9 * scale,
                                       err_msg=name)
        variances.append(res.total_variance)
    # The random functions really change the estimator (else the check above would only test RLOO).
    assert variances[1] > 2 * variances[0]


def test_rodeo_starts_as_rloo_and_its_update_lowers_the_variance_on_the_toy():
    rloo = varbench.measure(TOY, "rloo", method="exact")
    start = varbench.measure(TOY, "rodeo:lr=0.0001", method="exact")
    np.testing.assert_allclose(start.variance["logits"], rloo.variance["logits"], rtol=1e-9)
    # The toy's costs differ by 0.002, so the Stein function must stay tiny: a small Adam step.
    trained = varbench.measure(TOY, "rodeo:lr=0.0001", method="exact", warmup=50, seed=1)
    assert trained.total_variance < 0.2 * start.total_variance
    np.testing.assert_allclose(trained.grad_mean["logits"], trained.grad_exact["logits"], rtol=1e-9)


def test_rodeo_init_is_deterministic_in_the_key_and_applicability():
    problem, estimator = resolve_problem(SBN), resolve_estimator("rodeo")
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    a, b, c = (estimator.init(problem, params, jax.random.key(s))["control"]["network"] for s in (0, 0, 1))
    np.testing.assert_array_equal(a["w1"], b["w1"])
    assert not np.allclose(a["w1"], c["w1"]) and a["w1"].shape == (2, 10)
    assert estimator.evaluations_per_estimate(problem) == 4
    with pytest.raises(VarbenchError):
        resolve_estimator("rodeo:samples=1")
    for other in ("categorical", "gaussian"):
        with pytest.raises(NotApplicableError):
            varbench.measure(other, "rodeo", num_samples=10)

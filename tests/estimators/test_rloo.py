"""RLOO under jit and vmap: a batch of estimates on the MNIST sbn is finite and equals the leave-one-out formula.

A jitted, vmapped batch of 16 estimates used to return garbage (NaN and ~1e38) in the decoder's output bias on CPU:
the contraction of the weights with a leaf's all-zero score shared a YNNPACK fusion with a reduction that read
uninitialized memory (see the comment in ``estimators/rloo.py``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from varbench.estimators.score_function import direct_term, per_sample_scores

from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.noise import sample_noise

pytest.importorskip("mlxtend")

BATCH = 16


def leave_one_out_formula(problem, params, noise, k):
    """``(1/K) Σ_k ∇ log q(x_k) (f_k − Σ_{j≠k} f_j / (K − 1)) + ∇_θ mean_k f_θ(x_k)`` from per-sample scores
    (Kool, van Hoof & Welling 2019, eq. 9), the sums over k taken in NumPy."""

    def parts(params, noise):
        xs = jax.vmap(problem.latent, in_axes=(None, 0))(params, noise)
        f = jax.vmap(problem.cost, in_axes=(None, 0))(params, xs)
        return f, per_sample_scores(problem, params, xs), direct_term(problem, params, xs)

    f, scores, direct = jax.jit(parts)(params, noise)
    f = np.asarray(f, np.float64)
    baselines = (f.sum() - f) / (k - 1)
    return {name: np.tensordot(f - baselines, np.asarray(s, np.float64), 1) / k + np.asarray(direct[name])
            for name, s in scores.items()}


def test_jitted_vmapped_batch_on_mnist_sbn_is_finite_and_matches_the_formula():
    problem = resolve_problem("sbn:data=mnist,latent=4,data_subset=4")
    estimator = resolve_estimator("rloo")
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    keys = jax.random.split(jax.random.key(1), BATCH)
    noise = jax.jit(jax.vmap(lambda key: sample_noise(estimator.noise(problem, params), key)))(keys)

    batch = jax.jit(jax.vmap(lambda n: estimator.estimate_from_noise(problem, params, (), n)))(noise)

    for name, value in batch.items():
        assert np.isfinite(np.asarray(value)).all(), name
    for i in (0, BATCH - 1):
        one = jax.tree_util.tree_map(lambda leaf: leaf[i], noise)
        expected = leave_one_out_formula(problem, params, one, estimator.samples)
        for name, value in expected.items():
            np.testing.assert_allclose(np.asarray(batch[name][i]), value, rtol=2e-4, atol=1e-5, err_msg=name)

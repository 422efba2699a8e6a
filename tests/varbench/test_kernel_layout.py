"""The kernel's samples-last chunks (engine/_kernels.py, engine/columns.py): the same estimates, chunk axis last."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.estimator import KeyedEstimator
from varbench.core.pytree import pytree_dataclass
from varbench.engine import columns
from varbench.engine._kernels import chunk_estimator
from varbench.engine.subject import Subject


@pytree_dataclass
class _Keyed(KeyedEstimator):
    """Draws its own noise: the chunk estimator vmaps it over keys."""

    name = "test_layout_keyed"

    def evaluations_per_estimate(self, problem):
        return 1

    def estimate(self, problem, params, state, key):
        eps = jax.random.normal(key, params["mean"].shape)
        return {"mean": eps * problem.cost(params, params["mean"] + eps), "log_scale": eps * eps}


@pytest.mark.parametrize("estimator", [resolve_estimator("score_function:baseline=mean,samples=3"),
                                       resolve_estimator("pathwise"), _Keyed()], ids=lambda e: e.name)
def test_samples_last_chunk_is_the_same_estimates_transposed(estimator):
    problem = resolve_problem("gaussian:cost=cos,dim=3")
    params = {k: jnp.asarray(v) + 0.1 for k, v in problem.default_params().items()}
    subject = Subject(problem, estimator, params)
    key = jax.random.key(2)
    first = jax.jit(chunk_estimator(subject, 64))(key)
    last = jax.jit(chunk_estimator(subject, 64, samples_last=True))(key)
    for k in params:
        assert last[k].shape == params[k].shape + (64,)
        np.testing.assert_allclose(np.moveaxis(np.asarray(last[k]), -1, 0), first[k], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(columns.as_columns(last, 64, jnp.float32, -1, samples_last=True),
                               columns.as_columns(first, 64, jnp.float32, -1), rtol=1e-6, atol=1e-6)


def test_samples_last_columns_need_the_transposed_layout():
    with pytest.raises(ValueError, match="axis=-1"):
        columns.as_columns({"a": jnp.zeros((2, 4))}, 4, jnp.float32, 0, samples_last=True)

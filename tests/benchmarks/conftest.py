import jax
import jax.numpy as jnp
import pytest

from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.noise import noise_dimension
from varbench.engine import _kernels, harness
from varbench.engine.subject import Subject

CASES = [(e, d) for e in ("score_function", "pathwise") for d in (1, 100)]


@pytest.fixture(params=CASES, ids=[f"{e}-dim{d}" for e, d in CASES])
def kernel_args(request):
    """The kernel's arguments for gaussian:cost=square at one dim, prepared as ``measure()`` prepares them."""
    estimator_name, dim = request.param
    problem = jax.tree_util.tree_map(_kernels.as_leaf_array, resolve_problem(f"gaussian:cost=square,dim={dim}"))
    estimator = jax.tree_util.tree_map(_kernels.as_leaf_array, resolve_estimator(estimator_name))
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    chunk = harness.auto_chunk_size(noise_dimension(estimator.noise(problem, params)), 2 * dim)
    return (Subject(problem, estimator, params), jax.random.key(0)), chunk

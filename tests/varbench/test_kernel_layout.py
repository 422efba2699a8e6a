"""The kernel's samples-last chunks (engine/_kernels.py, engine/columns.py): the same estimates, chunk axis last."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from varbench.catalog import resolve_estimator, resolve_problem
from varbench.core.estimator import KeyedEstimator
from varbench.core.pytree import pytree_dataclass
from varbench.engine import _kernels, columns, stats
from varbench.engine._kernels import chunk_estimator, kernel_subject
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


@pytree_dataclass
class _SometimesNaN(_Keyed):
    """Estimates with a NaN coordinate in about 7% of rows (eps₀ > 1.5): they are excluded and counted."""

    name = "test_layout_sometimes_nan"

    def estimate(self, problem, params, state, key):
        eps = jax.random.normal(key, params["mean"].shape)
        return {"mean": jnp.where(eps[0] > 1.5, jnp.nan, eps * 3.0 + 1.0), "log_scale": eps * eps}


def _kernel_moments(monkeypatch, on_host, subject, num_full, remainder, chunk):
    """The Monte Carlo kernel's moments on the host's path (pilot under a cond, fallback pass) or an accelerator's
    (first chunk before the loop, one masked pass), and its jaxpr; a new jit each time (the path is chosen when
    tracing)."""
    monkeypatch.setattr(_kernels, "streams_on_host", lambda: on_host)
    kernel = lambda s, k, f, r: _kernels._kernel(s, k, f, r, chunk_size=chunk)
    args = (subject, jax.random.key(5), np.int32(num_full), np.int32(remainder))
    out = jax.jit(kernel)(*args)
    moments = jax.tree_util.tree_map(stats.to_moments, out, is_leaf=lambda x: isinstance(x, stats.PowerSums))
    return moments, str(jax.make_jaxpr(kernel)(*args))


@pytest.mark.parametrize("estimator", [resolve_estimator("score_function"), _SometimesNaN()], ids=lambda e: e.name)
@pytest.mark.parametrize("num_full,remainder", [(5, 0), (3, 17), (0, 40), (1, 0)])
def test_accelerator_path_gives_the_host_paths_moments_without_a_cond(monkeypatch, estimator, num_full, remainder):
    problem = resolve_problem("gaussian:cost=square,dim=3")
    subject = kernel_subject(problem, estimator, problem.default_params())
    host, host_jaxpr = _kernel_moments(monkeypatch, True, subject, num_full, remainder, 64)
    device, device_jaxpr = _kernel_moments(monkeypatch, False, subject, num_full, remainder, 64)
    assert "cond[" in host_jaxpr and "cond[" not in device_jaxpr
    for k in ("mean", "log_scale"):
        a, b = host[k], device[k]
        assert a.count == b.count == num_full * 64 + remainder - a.nonfinite
        assert a.nonfinite == b.nonfinite
        for field in ("mean", "m2", "m3", "m4"):
            np.testing.assert_allclose(getattr(b, field), getattr(a, field), rtol=2e-6, atol=1e-9)
    if isinstance(estimator, _SometimesNaN) and num_full:
        assert host["mean"].nonfinite > 0  # the exclusion was exercised


def test_accelerator_path_under_the_grid_vmap_gives_each_points_host_moments(monkeypatch):
    # measure_batch's kernel vmaps the whole kernel over grid points: the first chunk added before the loop must
    # stay per point (its own pilot), as the cond on the host's path does.
    problem = resolve_problem("gaussian:cost=square,dim=3")
    estimator = _SometimesNaN()
    points = [kernel_subject(problem, estimator, {k: np.asarray(v) + 0.5 * i
                                                  for k, v in problem.default_params().items()}) for i in range(2)]
    subjects = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *points)
    keys = jax.random.split(jax.random.key(9), 2)
    out = {}
    for on_host in (True, False):
        monkeypatch.setattr(_kernels, "streams_on_host", lambda on_host=on_host: on_host)
        kernel = lambda s, k: _kernels._batched_kernel(s, k, np.int32(3), np.int32(10), chunk_size=64)
        out[on_host] = jax.jit(kernel)(subjects, keys)
    for k in ("mean", "log_scale"):
        for i in range(2):
            host, device = (stats.to_moments(jax.tree_util.tree_map(lambda x: x[i], out[h][k])) for h in (True, False))
            assert host.count == device.count and host.nonfinite == device.nonfinite > 0
            for field in ("mean", "m2", "m3", "m4"):
                np.testing.assert_allclose(getattr(device, field), getattr(host, field), rtol=2e-6, atol=1e-9)
        assert not np.allclose(out[True][k].shift[0], out[True][k].shift[1])  # the points' pilots differ

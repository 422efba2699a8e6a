"""Estimators and problems that exist only to test the harness and the testing kit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from varbench.estimators import Estimator, Pathwise
from varbench.problems import Gaussian

from varbench.core.pytree import pytree_dataclass, static_field


@pytree_dataclass
class Scaled(Estimator):
    """A deliberately biased estimator: ``factor`` times another estimator's estimate."""

    base: Estimator
    factor: float = static_field(1.02)
    name = "scaled"

    def check_applies(self, problem):
        self.base.check_applies(problem)

    def evaluations_per_estimate(self, problem):
        return self.base.evaluations_per_estimate(problem)

    def noise(self, problem, params):
        return self.base.noise(problem, params)

    def estimate_from_noise(self, problem, params, state, noise):
        g = self.base.estimate_from_noise(problem, params, state, noise)
        return jax.tree_util.tree_map(lambda x: self.factor * x, g)


@pytree_dataclass
class SometimesNaN(Pathwise):
    """Pathwise, except that it returns NaN when its first noise value is below −3 (about 1 in 740)."""

    name = "sometimes_nan"

    def estimate_from_noise(self, problem, params, state, noise):
        g = super().estimate_from_noise(problem, params, state, noise)
        bad = jnp.ravel(noise)[0] < -3.0
        return jax.tree_util.tree_map(lambda x: jnp.where(bad, jnp.nan, x), g)


@pytree_dataclass
class OpaqueGaussian(Gaussian):
    """The Gaussian problem with its structure hidden: not reparameterizable, not location-scale."""

    name = "opaque_gaussian"
    reparameterizable = False
    location_scale = False


@pytree_dataclass
class Decaying(Pathwise):
    """Stateful test estimator: pathwise plus an offset that starts at 1 and halves at every update."""

    name = "decaying"
    stateful = True

    def init(self, problem, params, key):
        return jnp.ones(())

    def update(self, problem, params, state, key):
        return 0.5 * state

    def estimate_from_noise(self, problem, params, state, noise):
        g = super().estimate_from_noise(problem, params, state, noise)
        return jax.tree_util.tree_map(lambda x: x + state, g)


def assert_matches_central_differences(grad, f, params, *, h=1e-6, rel=1e-6, abs=1e-7):
    """Every coordinate of ``grad`` (a dict of arrays) against ``(f(θ + h e_i) − f(θ − h e_i)) / 2h``, where ``f``
    evaluates the objective independently (in float64 NumPy) at a dict of flat parameter arrays."""
    import pytest

    for name, value in params.items():
        for i in range(value.size):
            up, down = dict(params), dict(params)
            up[name] = value.copy()
            up[name][i] += h
            down[name] = value.copy()
            down[name][i] -= h
            fd = (f(up) - f(down)) / (2 * h)
            assert float(grad[name][i]) == pytest.approx(fd, rel=rel, abs=abs), (name, i)


def serve_idx_files(source, arrays, monkeypatch, name="mnist"):
    """Register the data set ``name`` as gzipped IDX files of ``arrays`` ({role: array}) written into ``source`` (a
    directory the caller made) and served by file:// URLs with their SHA-256 digests; returns the RemoteFiles."""
    import hashlib

    from varbench.problems import image_data

    files = {}
    for role, array in arrays.items():
        path = source / f"{role}.gz"
        image_data.write_idx(path, array)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files[role] = image_data.RemoteFile(path.name, path.as_uri(), f"sha256:{digest}", path.stat().st_size)
    monkeypatch.setitem(image_data.REMOTE_FILES, name, files)
    return files


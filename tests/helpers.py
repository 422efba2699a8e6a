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

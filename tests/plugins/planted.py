"""Estimators with planted defects, for testing that ``varbench check`` catches each one (registered as a plugin
so the battery can rebuild them from their names, as it does for any user's estimator)."""

import dataclasses

import jax
import jax.numpy as jnp
from varbench.estimators import Pathwise, ScoreFunction

import varbench


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedCorrect(ScoreFunction):
    """The plain score function under another name: every check must pass."""

    name = "planted_correct"


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedBiased(Pathwise):
    """Pathwise scaled by 1.03: a 3% relative bias that claims to be unbiased."""

    name = "planted_biased"

    def estimate_from_noise(self, problem, params, state, noise):
        return jax.tree_util.tree_map(lambda g: 1.03 * g, super().estimate_from_noise(problem, params, state, noise))


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedNaN(Pathwise):
    """Pathwise, except NaN whenever the first noise value is below −3 (about 1 estimate in 740)."""

    name = "planted_nan"

    def estimate_from_noise(self, problem, params, state, noise):
        g = super().estimate_from_noise(problem, params, state, noise)
        bad = jnp.ravel(jax.tree_util.tree_leaves(noise)[0])[0] < -3.0
        return jax.tree_util.tree_map(lambda x: jnp.where(bad, jnp.nan, x), g)


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedLiar(Pathwise):
    """Pathwise with two samples that declares one cost evaluation."""

    name = "planted_liar"
    samples: int = varbench.option(2, "samples", kind=int)

    def evaluations_per_estimate(self, problem):
        return 1


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedRecompiler(Pathwise):
    """Pathwise that keeps a fresh object in a static field (a closure or optimizer built per instance is the
    usual way this happens): every new instance is a new kernel structure, so it recompiles on every call."""

    name = "planted_recompiler"
    token: object = dataclasses.field(default=None, metadata=dict(static=True))

    def __post_init__(self):
        object.__setattr__(self, "token", object())

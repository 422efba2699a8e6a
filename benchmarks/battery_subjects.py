"""Estimators written the way a user writes a plugin, correct and with planted defects, for measuring the error
rates of ``varbench check`` (``benchmarks/battery_error_rates.py`` loads this file as a plugin).

All are written from scratch against the public plugin contract (``varbench.Estimator``, ``varbench.option``,
``varbench.KeyedEstimator``), not derived from the built-ins:

* ``user_pathwise``: the reparameterization gradient ∇θ f(x(θ, ε)) of any reparameterizable problem (Kingma &
  Welling 2014; Rezende, Mohamed & Wierstra 2014). 1 cost evaluation. Correct.
* ``user_keyed_score``: the score function f(x) ∇θ log q(x; θ) (Williams 1992) for location-scale Gaussians,
  drawing its own normals from a PRNG key (the Monte Carlo-only route). 1 evaluation. Correct.
* ``defect_bias:bias=b``: ``user_pathwise`` × (1 + b): a relative bias of exactly b in every coordinate.
* ``defect_nan:rate=r``: ``user_pathwise``, NaN when the first noise scalar's normal CDF is below r (probability r
  per estimate).
* ``defect_miscount``: the mean of two ``user_pathwise`` draws, declaring 1 evaluation instead of 2.
* ``defect_dropped_scale``: Gaussian pathwise with the log-scale gradient's chain-rule factor exp(log_scale)
  dropped, a defect that vanishes at log_scale = 0 (parameter-dependent).

The defects need the first noise block to be standard normal and the params ``mean`` and ``log_scale``: they apply
to location-scale Gaussians only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

import varbench
from varbench.capabilities import LOCATION_SCALE, REPARAMETERIZABLE, require


@varbench.register_estimator
@varbench.pytree_dataclass
class UserPathwise(varbench.Estimator):
    """∇θ f(θ, x(θ, ε)) for one draw ε of the problem's latent noise (1 evaluation)."""

    name = "user_pathwise"

    def check_applies(self, problem):
        require(problem, REPARAMETERIZABLE, f"estimator {self.name!r}", "use user_keyed_score")

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        return jax.grad(lambda p: problem.cost(p, problem.latent(p, noise)))(params)


@varbench.register_estimator
@varbench.pytree_dataclass
class UserKeyedScore(varbench.KeyedEstimator):
    """f(x) ∇θ log q(x; θ) with x drawn from the key given (1 evaluation; Monte Carlo only)."""

    name = "user_keyed_score"

    def check_applies(self, problem):
        require(problem, LOCATION_SCALE, f"estimator {self.name!r}", "use user_pathwise")

    def evaluations_per_estimate(self, problem):
        return 1

    def estimate(self, problem, params, state, key):
        noise = jax.random.normal(key, params["mean"].shape, params["mean"].dtype)
        x = jax.lax.stop_gradient(params["mean"] + jnp.exp(params["log_scale"]) * noise)
        score = jax.grad(problem.log_prob)(params, x)
        return jax.tree_util.tree_map(lambda s: s * problem.cost(params, x), score)


@varbench.pytree_dataclass
class _GaussianDefect(UserPathwise):
    """Base of the planted defects: location-scale Gaussians only."""

    name = "defect_base"

    def check_applies(self, problem):
        require(problem, LOCATION_SCALE, f"estimator {self.name!r}", "the defects are planted in Gaussian code")


@varbench.register_estimator
@varbench.pytree_dataclass
class DefectBias(_GaussianDefect):
    """``user_pathwise`` × (1 + bias): relative bias ``bias`` in every coordinate."""

    name = "defect_bias"
    bias: float = varbench.option(0.01, "relative bias planted", static=False)

    def estimate_from_noise(self, problem, params, state, noise):
        g = super().estimate_from_noise(problem, params, state, noise)
        return jax.tree_util.tree_map(lambda x: (1.0 + self.bias) * x, g)


@varbench.register_estimator
@varbench.pytree_dataclass
class DefectNaN(_GaussianDefect):
    """``user_pathwise``, NaN with probability ``rate`` per estimate (the first noise scalar in its lower tail)."""

    name = "defect_nan"
    rate: float = varbench.option(1e-3, "probability of a NaN estimate", static=False)

    def estimate_from_noise(self, problem, params, state, noise):
        g = super().estimate_from_noise(problem, params, state, noise)
        bad = ndtr(jnp.ravel(jax.tree_util.tree_leaves(noise)[0])[0]) < self.rate
        return jax.tree_util.tree_map(lambda x: jnp.where(bad, jnp.nan, x), g)


@varbench.register_estimator
@varbench.pytree_dataclass
class DefectMiscount(_GaussianDefect):
    """The mean of two ``user_pathwise`` draws, declaring 1 cost evaluation (it makes 2)."""

    name = "defect_miscount"

    def noise(self, problem, params):
        return (problem.latent_noise(params), problem.latent_noise(params))

    def estimate_from_noise(self, problem, params, state, noise):
        first, second = (UserPathwise.estimate_from_noise(self, problem, params, state, n) for n in noise)
        return jax.tree_util.tree_map(lambda a, b: 0.5 * (a + b), first, second)


@varbench.register_estimator
@varbench.pytree_dataclass
class DefectDroppedScale(_GaussianDefect):
    """Gaussian pathwise with the log-scale gradient's factor exp(log_scale) dropped: f'(x) ε instead of
    f'(x) σ ε. Exact at log_scale = 0 only."""

    name = "defect_dropped_scale"

    def estimate_from_noise(self, problem, params, state, noise):
        eps = jax.tree_util.tree_leaves(noise)[0]
        x = problem.latent(params, noise)
        slope = jax.grad(lambda y: problem.cost(params, y))(x)
        return {"mean": slope, "log_scale": slope * eps}

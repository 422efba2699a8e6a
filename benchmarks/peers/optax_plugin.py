"""optax 0.1.8's ``optax.monte_carlo`` estimators as varbench plugins, unchanged, and defects planted in wrappers.

Loaded by ``benchmarks/peer_battery.py`` in the environment ``benchmarks/compare.py --setup-peers`` builds
(``.peers/optax``: optax 0.1.8 with varbench installed beside it). Each estimator calls optax's own function with
one sample per estimate, in the layout optax uses (``params = [mean, log_scale]`` of a diagonal Gaussian built by
``optax.multi_normal``), drawing its noise from the PRNG key varbench hands it: the key-based route
(``varbench.KeyedEstimator``), checked by Monte Carlo.

The estimators, each citing what optax implements (Mohamed, Rosca, Figurnov & Mnih 2020, "Monte Carlo Gradient
Estimation in Machine Learning", JMLR 21, is the survey optax's module follows):

* ``optax_score_function``: ``score_function_jacobians`` (Williams 1992; survey section 4). 1 cost evaluation.
* ``optax_pathwise``: ``pathwise_jacobians`` (survey section 5). 1 evaluation.
* ``optax_measure_valued`` / ``optax_measure_valued_uncoupled``: ``measure_valued_jacobians`` with and without
  coupling (survey section 6): a positive and a negative sample per parameter scalar, 4 × dim evaluations.
* ``optax_delta_cv``: ``control_variates_jacobians`` with ``control_delta_method`` (Paisley, Blei & Jordan 2012,
  the second-order Taylor expansion at the mean) and the score function: the sample and the expansion point,
  2 evaluations.
* ``optax_moving_average``: ``moving_avg_baseline`` driven as ``control_variates_jacobians`` drives it: the
  average is updated with the estimate's own sample before it is used, so the baseline depends on the sample and
  the estimate is BIASED (the battery must say so).
* ``optax_moving_average_fresh``: the same optax baseline functions, its average advanced by ``update`` from
  fresh samples and read as it is by the estimate (the route for stateful estimators in
  docs/how-to/write-a-plugin.md): unbiased.

Planted defects (each claims to be unbiased and correct; each must fail the named check):

* ``planted_dropped_scale``: optax's pathwise with the chain-rule factor exp(log_scale) of the log-scale gradient
  dropped: exact at log_scale = 0, biased everywhere else (``unbiased``).
* ``planted_missing_score_term``: optax's score function over a distribution whose ``log_prob`` omits the
  normalizer's −log σ, so the log-scale score misses its −1 term (``unbiased``).
* ``planted_rare_nan``: optax's pathwise returning NaN with probability 10⁻³ per estimate (``runs`` or
  ``unbiased``).
* ``planted_miscounted``: optax's coupled measure-valued estimator declaring 1 cost evaluation (``evaluations``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from optax import monte_carlo

import varbench
from varbench.capabilities import LOCATION_SCALE, require


def _cost(problem, params):
    """The problem's cost as optax's ``function`` argument: one sample in, one float out."""
    return lambda x: problem.cost(params, x)


def _as_params(params):
    return [params["mean"], params["log_scale"]]


def _first_sample(jacobians):
    """optax returns ``num_samples × shape`` jacobians per param; one estimate is the first (only) sample's."""
    return {"mean": jacobians[0][0], "log_scale": jacobians[1][0]}


@varbench.pytree_dataclass
class OptaxEstimator(varbench.KeyedEstimator):
    """Base of the wrappers: diagonal Gaussians only (optax's ``multi_normal``), one sample per estimate."""

    name = "optax_base"
    jacobians = None  # optax's function, set by each subclass
    evaluations_per_dim = 0  # cost evaluations per latent coordinate (0: one per estimate)

    def check_applies(self, problem):
        require(problem, LOCATION_SCALE, f"estimator {self.name!r}", "optax's estimators take diagonal Gaussians")

    def evaluations_per_estimate(self, problem):
        return self.evaluations_per_dim * problem.dim or 1

    def estimate(self, problem, params, state, key):
        jacobians = type(self).jacobians(_cost(problem, params), _as_params(params), optax.multi_normal, key, 1)
        return _first_sample(jacobians)


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxScoreFunction(OptaxEstimator):
    """``optax.monte_carlo.score_function_jacobians``, one sample per estimate (1 evaluation)."""

    name = "optax_score_function"
    jacobians = staticmethod(monte_carlo.score_function_jacobians)


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxPathwise(OptaxEstimator):
    """``optax.monte_carlo.pathwise_jacobians``, one sample per estimate (1 evaluation)."""

    name = "optax_pathwise"
    jacobians = staticmethod(monte_carlo.pathwise_jacobians)


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxMeasureValued(OptaxEstimator):
    """``optax.monte_carlo.measure_valued_jacobians`` with coupling (4 × dim evaluations)."""

    name = "optax_measure_valued"
    coupling = True
    evaluations_per_dim = 4

    def estimate(self, problem, params, state, key):
        return _first_sample(monte_carlo.measure_valued_jacobians(
            _cost(problem, params), _as_params(params), optax.multi_normal, key, 1, coupling=self.coupling))


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxMeasureValuedUncoupled(OptaxMeasureValued):
    """``optax.monte_carlo.measure_valued_jacobians`` without coupling (4 × dim evaluations)."""

    name = "optax_measure_valued_uncoupled"
    coupling = False


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxDeltaControlVariate(OptaxEstimator):
    """``control_variates_jacobians`` with ``control_delta_method`` and the score function (2 evaluations: the
    sample, and the Taylor expansion's point, the mean)."""

    name = "optax_delta_cv"

    def evaluations_per_estimate(self, problem):
        return 2

    def estimate(self, problem, params, state, key):
        jacobians, _ = monte_carlo.control_variates_jacobians(
            _cost(problem, params), monte_carlo.control_delta_method, monte_carlo.score_function_jacobians,
            _as_params(params), optax.multi_normal, key, 1)
        return _first_sample(jacobians)


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxMovingAverage(OptaxEstimator):
    """``moving_avg_baseline`` with the score function, driven as ``control_variates_jacobians`` drives it: the
    estimate updates the average with its own sample, then subtracts it (biased). ``update`` advances the state
    the same way, with a fresh sample."""

    name = "optax_moving_average"
    stateful = True
    unbiased = True  # claimed, as optax's documentation does not say otherwise; the battery must find the bias

    def init(self, problem, params, key):
        return (jnp.zeros(()), jnp.zeros((), jnp.int32))

    def _run(self, problem, params, state, key):
        return monte_carlo.control_variates_jacobians(
            _cost(problem, params), monte_carlo.moving_avg_baseline, monte_carlo.score_function_jacobians,
            _as_params(params), optax.multi_normal, key, 1, control_variate_state=state)

    def estimate(self, problem, params, state, key):
        return _first_sample(self._run(problem, params, state, key)[0])

    def update(self, problem, params, state, key):
        return self._run(problem, params, state, key)[1]


@varbench.register_estimator
@varbench.pytree_dataclass
class OptaxMovingAverageFresh(OptaxMovingAverage):
    """optax's ``moving_avg_baseline`` functions, as docs/how-to/write-a-plugin.md drives a state: ``update``
    advances the average with a fresh sample (optax's ``update_state``), the estimate subtracts the average as it
    is (optax's control variate) from the cost inside the score function: unbiased, since the baseline does not
    depend on the estimate's sample."""

    name = "optax_moving_average_fresh"

    def estimate(self, problem, params, state, key):
        cost = _cost(problem, params)
        baseline, _, _ = monte_carlo.moving_avg_baseline(cost)
        frozen = jax.lax.stop_gradient(_as_params(params))
        jacobians = monte_carlo.score_function_jacobians(lambda x: cost(x) - baseline(frozen, x, state),
                                                         _as_params(params), optax.multi_normal, key, 1)
        return _first_sample(jacobians)

    def update(self, problem, params, state, key):
        _, _, update_state = monte_carlo.moving_avg_baseline(_cost(problem, params))
        samples = optax.multi_normal(*_as_params(params)).sample((1,), seed=key)
        return update_state(_as_params(params), samples, state)


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedDroppedScale(OptaxPathwise):
    """Planted: optax's pathwise with the log-scale gradient divided by exp(log_scale), i.e. the chain-rule factor
    dropped; the defect vanishes at log_scale = 0."""

    name = "planted_dropped_scale"

    def estimate(self, problem, params, state, key):
        g = super().estimate(problem, params, state, key)
        return {"mean": g["mean"], "log_scale": g["log_scale"] * jnp.exp(-params["log_scale"])}


class _UnnormalizedNormal(type(optax.multi_normal(jnp.zeros(1), jnp.zeros(1)))):
    """optax's diagonal normal with a log density that forgets the normalizer's −Σ log σ."""

    def log_prob(self, x):
        return super().log_prob(x) + jnp.sum(self.log_scale)


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedMissingScoreTerm(OptaxScoreFunction):
    """Planted: optax's score function over :class:`_UnnormalizedNormal`, whose log-scale score misses its −1."""

    name = "planted_missing_score_term"

    def estimate(self, problem, params, state, key):
        return _first_sample(monte_carlo.score_function_jacobians(
            _cost(problem, params), _as_params(params), _UnnormalizedNormal, key, 1))


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedRareNaN(OptaxPathwise):
    """Planted: optax's pathwise, NaN with probability 10⁻³ per estimate (drawn from the estimate's own key)."""

    name = "planted_rare_nan"

    def estimate(self, problem, params, state, key):
        draw, rare = jax.random.split(key)
        g = super().estimate(problem, params, state, draw)
        bad = jax.random.uniform(rare) < 1e-3
        return jax.tree_util.tree_map(lambda x: jnp.where(bad, jnp.nan, x), g)


@varbench.register_estimator
@varbench.pytree_dataclass
class PlantedMiscounted(OptaxMeasureValued):
    """Planted: optax's coupled measure-valued estimator declaring 1 cost evaluation instead of 4 × dim."""

    name = "planted_miscounted"

    def evaluations_per_estimate(self, problem):
        return 1

"""Throughput of optax 0.1.8's Monte Carlo gradient estimators; run by compare.py with the optax venv's python.

Reads a JSON job from argv[1] and prints one JSON list of {estimator, dim, num_samples, estimates_per_second}.
optax differentiates a vector of per-sample surrogates with ``jax.jacfwd``, which holds num_samples × dim × dim
tangents, so the samples are drawn in calls of ``chunk`` (a power of two keeping that under 256 MB; num_samples
is static in optax's API, so one jitted function serves every call) until the requested count is reached. The
estimates are reduced to their mean and variance inside the jit so that, like varbench, only summaries leave the
device. The best of ``repeats`` timed passes (blocking on the results) is reported.
"""

import jax
import jax.numpy as jnp
import optax
from optax import monte_carlo
from runner_common import best_rate, power_of_two_at_most, run_job


def rate(estimator: str, dim: int, n: int, job: dict) -> float:
    k = job["k"]
    chunk = power_of_two_at_most(min(n, 2 ** 26 // (dim * dim)))
    jacobians = {"score_function": monte_carlo.score_function_jacobians,
                 "pathwise": monte_carlo.pathwise_jacobians}[estimator]
    params = [jnp.full((dim,), job["mean"], jnp.float32), jnp.full((dim,), job["log_scale"], jnp.float32)]

    @jax.jit
    def run(params, rng):
        jacs = jacobians(lambda x: jnp.sum((x - k) ** 2), params, optax.multi_normal, rng, chunk)
        return [(jnp.mean(j, 0), jnp.var(j, 0)) for j in jacs]

    jax.block_until_ready(run(params, jax.random.PRNGKey(0)))  # compile outside the timing
    return best_rate(lambda seed: jax.block_until_ready(run(params, jax.random.PRNGKey(seed))),
                     max(n // chunk, 1), chunk, job["repeats"])


if __name__ == "__main__":
    run_job(rate, f"optax {optax.__version__}, jax {jax.__version__}")


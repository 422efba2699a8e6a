"""Test plugin: the plain score function, held at a gate: tracing it waits until a file exists.

``gated:file=PATH`` lets a test stop a run at a known point (every other cell finished, the gated ones running)
without racing the scheduler with sleeps. It waits at most ``GIVE_UP`` seconds, so a test that forgets to open the
gate fails instead of hanging.
"""

import os
import time

import jax

import varbench

GIVE_UP = 300.0


@varbench.register_estimator
@varbench.pytree_dataclass
class Gated(varbench.Estimator):
    """Plain score function (Williams 1992), traced only once the file ``file`` exists."""

    name = "gated"
    file: str = varbench.option("", "file that must exist before the estimator is traced", kind=str)

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        deadline = time.monotonic() + GIVE_UP
        while self.file and not os.path.exists(self.file) and time.monotonic() < deadline:
            time.sleep(0.05)
        x = problem.latent(params, noise)
        score = jax.grad(lambda p: problem.log_prob(p, x))(params)
        return jax.tree_util.tree_map(lambda s: s * problem.cost(params, x), score)

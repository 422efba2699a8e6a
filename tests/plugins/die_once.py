"""Test plugin: the plain score function, except that the first Dask worker to trace it dies on the spot.

``die_once:marker=PATH``: a worker process that traces this estimator while ``PATH`` does not exist creates
``PATH`` and exits at once (``os._exit``, as a killed or crashed worker would), so exactly one worker dies, and the
cell is retried on another. Outside a Dask worker (the local executor) it never exits: its estimates are those of
``my_score`` whatever happened, so a run that lost a worker can be compared with a local one.
"""

import os

import jax

import varbench


def _in_a_dask_worker() -> bool:
    try:
        from distributed import get_worker
        get_worker()
        return True
    except (ImportError, ValueError):
        return False


@varbench.register_estimator
@varbench.pytree_dataclass
class DieOnce(varbench.Estimator):
    """Plain score function (Williams 1992); kills the first Dask worker that traces it."""

    name = "die_once"
    marker: str = varbench.option("", "file whose absence makes a Dask worker exit while tracing", kind=str)

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        if self.marker and not os.path.exists(self.marker) and _in_a_dask_worker():
            with open(self.marker, "w") as fh:
                fh.write(str(os.getpid()))
            os._exit(17)
        x = problem.latent(params, noise)
        score = jax.grad(lambda p: problem.log_prob(p, x))(params)
        return jax.tree_util.tree_map(lambda s: s * problem.cost(params, x), score)

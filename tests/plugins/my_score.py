"""A plugin as a researcher writes one: it imports only varbench's public names (the README's example)."""

import jax

import varbench


@varbench.register_estimator
@varbench.pytree_dataclass
class MyScore(varbench.Estimator):
    """Plain score function (Williams 1992), one sample; one cost evaluation per estimate."""

    name = "my_score"

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        x = problem.latent(params, noise)
        score = jax.grad(lambda p: problem.log_prob(p, x))(params)
        return jax.tree_util.tree_map(lambda s: s * problem.cost(params, x), score)

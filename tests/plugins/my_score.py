"""A plugin as a researcher writes one: it imports only varbench's public names (the README's example)."""

import jax

import varbench


@varbench.register_estimator
@varbench.pytree_dataclass
class MyScore(varbench.Estimator):
    """Plain score function (Williams 1992), one sample; one cost evaluation per estimate."""

    name = "my_score"
    summary = "plain score function, one sample (Williams 1992)"

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        x = problem.latent(params, noise)
        f = problem.cost(params, x)
        # f(x) ∇θ log q(x), plus ∇θ f(θ, x) where the cost depends on the params (linear_vae, sbn, ...)
        return jax.grad(lambda p: problem.log_prob(p, x) * f + problem.cost(p, x))(params)

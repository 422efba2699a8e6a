"""A plugin whose estimator leaves out an abstract method."""

import varbench


@varbench.register_estimator
@varbench.pytree_dataclass
class Incomplete(varbench.Estimator):
    name = "incomplete"

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

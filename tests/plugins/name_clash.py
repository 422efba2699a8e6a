"""A plugin that registers a name a built-in estimator already has."""

from varbench.estimators import Pathwise

import varbench


@varbench.register_estimator
@varbench.pytree_dataclass
class AnotherPathwise(Pathwise):
    name = "pathwise"

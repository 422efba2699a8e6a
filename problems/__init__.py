"""Reference problems with exact answers wherever mathematics allows."""

from problems.base import Params, Problem
from problems.bernoulli import Bernoulli
from problems.categorical import Categorical
from problems.gaussian import Gaussian

__all__ = ["Bernoulli", "Categorical", "Gaussian", "Params", "Problem"]

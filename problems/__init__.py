"""Reference problems with exact answers wherever mathematics allows."""

from problems.base import Params, Problem
from problems.gaussian import Gaussian

__all__ = ["Gaussian", "Params", "Problem"]

"""Reference problems with exact answers wherever mathematics allows."""

from problems.base import Params, Problem
from problems.bernoulli import Bernoulli
from problems.categorical import Categorical
from problems.gaussian import Gaussian
from problems.hmm import HMM
from problems.lgssm import LGSSM
from problems.sequential import SequentialProblem

__all__ = ["Bernoulli", "Categorical", "Gaussian", "HMM", "LGSSM", "Params", "Problem", "SequentialProblem"]

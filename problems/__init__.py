"""Reference problems with exact answers wherever mathematics allows."""

from problems.base import Params, Problem
from problems.bernoulli import Bernoulli
from problems.categorical import Categorical
from problems.gaussian import Gaussian
from problems.hmm import HMM
from problems.lgssm import LGSSM
from problems.logistic_regression import LogisticRegression
from problems.sbn import SBN
from problems.sequential import SequentialProblem
from problems.vae import GaussianVAE, LinearVAE

__all__ = ["Bernoulli", "Categorical", "Gaussian", "GaussianVAE", "HMM", "LGSSM", "LinearVAE", "LogisticRegression",
           "Params", "Problem", "SBN", "SequentialProblem"]

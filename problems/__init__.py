"""Reference problems with exact answers wherever mathematics allows."""

from varbench.problems.bernoulli import Bernoulli
from varbench.problems.categorical import Categorical
from varbench.problems.gaussian import Gaussian, gaussian_with_cost
from varbench.problems.hmm import HMM
from varbench.problems.lgssm import LGSSM
from varbench.problems.logistic_regression import LogisticRegression
from varbench.problems.lqr import LQR
from varbench.problems.nile import Nile
from varbench.problems.sbn import SBN
from varbench.problems.sequential import SequentialProblem
from varbench.problems.vae import GaussianVAE, LinearVAE

from varbench.core.problem import Params, Problem

__all__ = ["Bernoulli", "Categorical", "Gaussian", "GaussianVAE", "HMM", "LGSSM", "LQR", "LinearVAE", "LogisticRegression",
           "Nile", "Params", "Problem", "SBN", "SequentialProblem", "gaussian_with_cost"]

"""Reference problems with exact answers wherever mathematics allows."""

from problems.base import Params, Problem
from problems.gaussian import Gaussian
from problems.logistic_regression import LogisticRegression
from problems.sbn import SBN
from problems.vae import GaussianVAE, LinearVAE

__all__ = ["Gaussian", "GaussianVAE", "LinearVAE", "LogisticRegression", "Params", "Problem", "SBN"]

"""Gradient estimators: one estimate per call, vmapped by the harness."""

from estimators.amortized import DReG, NVIL, VIMCO, StickingTheLanding
from estimators.arm import ARM
from estimators.base import Estimator, State, batched_noise
from estimators.disarm import DisARM
from estimators.gumbel_softmax import GumbelSoftmax
from estimators.measure_valued import MeasureValued
from estimators.pathwise import Pathwise
from estimators.rebar import REBAR
from estimators.relax import RELAX
from estimators.rloo import RLOO
from estimators.score_function import ScoreFunction
from estimators.sequential import GAE, ActorCritic, NStep
from estimators.straight_through import StraightThrough

__all__ = ["ARM", "ActorCritic", "DReG", "DisARM", "Estimator", "GAE", "GumbelSoftmax", "MeasureValued", "NStep",
           "NVIL", "Pathwise", "REBAR", "RELAX", "RLOO", "ScoreFunction", "State", "StickingTheLanding",
           "StraightThrough", "VIMCO", "batched_noise"]

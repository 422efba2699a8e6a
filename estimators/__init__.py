"""Gradient estimators: one estimate per call, vmapped by the harness."""

from estimators.base import Estimator, State, batched_noise
from estimators.measure_valued import MeasureValued
from estimators.pathwise import Pathwise
from estimators.score_function import ScoreFunction
from estimators.sequential import GAE, ActorCritic, NStep

__all__ = ["ActorCritic", "Estimator", "GAE", "MeasureValued", "NStep", "Pathwise", "ScoreFunction", "State",
           "batched_noise"]

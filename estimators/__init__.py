"""Gradient estimators: one estimate per call, vmapped by the harness."""

from estimators.amortized import DReG, NVIL, VIMCO, StickingTheLanding
from estimators.base import Estimator, State, batched_noise
from estimators.measure_valued import MeasureValued
from estimators.pathwise import Pathwise
from estimators.score_function import ScoreFunction

__all__ = ["DReG", "Estimator", "MeasureValued", "NVIL", "Pathwise", "ScoreFunction", "State", "StickingTheLanding",
           "VIMCO", "batched_noise"]

"""Gradient estimators: one estimate per call, vmapped by the harness."""

from varbench.estimators.amortized import NVIL, VIMCO, DReG, StickingTheLanding
from varbench.estimators.arm import ARM
from varbench.estimators.arms import ARMS
from varbench.estimators.control_variates import DeltaControlVariate
from varbench.estimators.disarm import DisARM
from varbench.estimators.double_cv import DoubleCV
from varbench.estimators.gumbel_softmax import GumbelSoftmax
from varbench.estimators.measure_valued import MeasureValued
from varbench.estimators.model_based import ModelPathwise
from varbench.estimators.muprop import MuProp
from varbench.estimators.pathwise import Pathwise
from varbench.estimators.rebar import REBAR
from varbench.estimators.relax import RELAX
from varbench.estimators.rloo import RLOO
from varbench.estimators.rodeo import RODEO
from varbench.estimators.score_function import ScoreFunction
from varbench.estimators.sequential import GAE, ActorCritic, NStep, SequentialScoreFunction
from varbench.estimators.straight_through import StraightThrough
from varbench.estimators.unordered_set import UnorderedSet
from varbench.estimators.vimco_disarm import VIMCODisARM

from varbench.core.estimator import Estimator, State, batched_noise

#: Wrapper estimators that a base estimator's spec switches on (``pathwise:control_variate=delta``); each has
#: ``accepts(cls)``, ``spec_options()`` and ``from_spec(base, options)`` (see :mod:`varbench.catalog`).
WRAPPERS = (DeltaControlVariate,)

__all__ = ["ARM", "ARMS", "ActorCritic", "DReG", "DeltaControlVariate", "DisARM", "DoubleCV", "Estimator", "GAE",
           "GumbelSoftmax", "MeasureValued", "ModelPathwise", "MuProp", "NStep", "NVIL", "Pathwise", "REBAR", "RELAX",
           "RLOO", "RODEO", "ScoreFunction", "SequentialScoreFunction", "State", "StickingTheLanding",
           "StraightThrough", "UnorderedSet", "VIMCO", "VIMCODisARM", "WRAPPERS", "batched_noise"]

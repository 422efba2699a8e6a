"""The problems and params points that ``varbench check`` runs an estimator on.

Each built-in problem gets a few points. The first, which every level checks, is a *generic* point: the family's
default params with every special value moved away by a seeded offset (:func:`generic_params`), because a defect
can vanish at a special value: a pathwise estimator that drops the chain-rule factor exp(log_scale) is exact at
log_scale = 0, and a critic looks unbiased where uniform transition logits make every state alike. Later points
are places where estimators break (the REBAR/RELAX toy at logit 0, near-deterministic Bernoulli logits, large
scales, peaked categorical logits, longer horizons); the levels take the first one, two or three points. The specs
are small (few data points, short horizons) so that exact mode applies where the noise permits and a check stays
quick.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from varbench.core.generic import GENERIC_OFFSET, generic_defaults

#: Seed of the generic points: the same points in every run, named in each point's label.
GENERIC_SEED = 0
__all__ = ["CHECK_POINTS", "GENERIC_OFFSET", "GENERIC_SEED", "CheckPoint", "generic_params", "generic_point",
           "points_for"]


class CheckPoint(NamedTuple):
    """One place an estimator is checked at: a problem spec and the params of the measurement (a generic point's
    params are drawn from :data:`GENERIC_SEED` when the point is used, see :func:`points_for`)."""

    label: str
    problem: str
    params: dict[str, Any]
    generic: bool = False


def generic_params(problem: Any, seed: int = GENERIC_SEED) -> dict[str, np.ndarray]:
    """The problem's default params, with every array whose values are special (a 0 or ±1, or all equal) moved by a
    seeded offset of 0.15 to 0.45 in either direction per coordinate; other arrays (random initial weights) stay.

    Args:
      problem: a :class:`varbench.Problem`.
      seed: the draw's seed.

    Returns:
      ``{name: array}`` shaped as ``problem.param_shapes()``.
    """
    return dict(sorted(generic_defaults(problem.default_params(), seed, only_special=True).items()))


def generic_point(label: str, spec: str, problem: Any) -> CheckPoint:
    """A check point at :func:`generic_params` of ``problem`` (built from ``spec``), its seed stated in the label."""
    return CheckPoint(f"{label} (generic point, seed {GENERIC_SEED})", spec, generic_params(problem), True)


CHECK_POINTS: dict[str, tuple[CheckPoint, ...]] = {
    "gaussian": (
        CheckPoint("square cost", "gaussian:cost=square,k=0", {}, True),
        CheckPoint("cos cost, large scale", "gaussian:cost=cos,k=2,dim=2", {"mean": [0.3, -0.5], "log_scale": 1.0}),
        CheckPoint("exp-square cost, small scale", "gaussian:cost=exp_square,k=0.5,dim=2",
                   {"mean": [0.5, -1.0], "log_scale": -1.0}),
    ),
    "bernoulli": (
        CheckPoint("the REBAR/RELAX toy's target", "bernoulli", {}, True),
        CheckPoint("logit 0 (REBAR/RELAX toy)", "bernoulli", {"logits": 0.0}),
        CheckPoint("near-deterministic logits", "bernoulli:dim=2,target=[0.45,0.6]", {"logits": [4.0, -5.0]}),
        CheckPoint("mixed logits", "bernoulli:dim=3,target=[0.1,0.5,0.9]", {"logits": [-2.0, 0.5, 3.0]}),
    ),
    "categorical": (
        CheckPoint("default costs", "categorical", {}, True),
        CheckPoint("uniform logits", "categorical", {"logits": 0.0}),
        CheckPoint("peaked logits", "categorical:dim=2,classes=3", {"logits": [[4.0, 0.0, -4.0], [0.0, 3.0, 0.0]]}),
    ),
    "lgssm": (CheckPoint("T = 3", "lgssm:T=3", {}, True),
              CheckPoint("T = 6, noisy observations", "lgssm:T=6,obs_var=2", {"log_scale": -0.5})),
    "hmm": (CheckPoint("K = 2, T = 3", "hmm:K=2,T=3", {}, True), CheckPoint("K = 3, T = 4", "hmm:K=3,T=4", {})),
    "lqr": (CheckPoint("T = 3, default plant", "lqr:T=3", {}, True), CheckPoint("T = 8", "lqr:T=8", {"log_std": -1.0})),
    "nile": (CheckPoint("4-year window", "nile:T=4", {}, True), CheckPoint("20-year window", "nile:T=20", {})),
    "linear_vae": (
        CheckPoint("4 points, batch 2", "linear_vae:data_subset=4,batch_size=2,latent=2", {}, True),
        CheckPoint("K = 2 particles", "linear_vae:data_subset=4,batch_size=2,latent=2,particles=2", {}),
    ),
    "gaussian_vae": (
        CheckPoint("4 points, batch 2", "gaussian_vae:data_subset=4,batch_size=2,latent=2,hidden=4", {}, True),
    ),
    "sbn": (
        CheckPoint("2 points, 2 latents", "sbn:data_subset=2,batch_size=2,latent=2", {}, True),
        CheckPoint("K = 2 particles, hidden layer", "sbn:data_subset=4,batch_size=2,latent=2,particles=2,hidden=3",
                   {}),
    ),
    "logistic_regression": (
        CheckPoint("8 points, batch 4", "logistic_regression:data_subset=8,batch_size=4", {}, True),
    ),
}


def points_for(problem_name: str, count: int, build: Any) -> tuple[CheckPoint, ...]:
    """The first ``count`` check points of a built-in problem (a generic point of its default spec if it has none
    listed), generic points with their params drawn; ``build`` makes a problem from a spec."""
    listed = CHECK_POINTS.get(problem_name, (CheckPoint("default", problem_name, {}, True),))[:count]
    return tuple(generic_point(p.label, p.problem, build(p.problem)) if p.generic else p for p in listed)

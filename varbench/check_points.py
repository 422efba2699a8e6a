"""The problems and params points that ``varbench check`` runs an estimator on.

Each built-in problem gets a few points, from easy to hard: the first is the default of its family, later ones
are places where estimators break (near-deterministic Bernoulli logits, large scales, peaked categorical logits,
longer horizons). The levels take the first one, two or three points. The specs are small (few data points,
short horizons) so that exact mode applies where the noise permits and a check stays quick.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class CheckPoint(NamedTuple):
    """One place an estimator is checked at: a problem spec and the params of the measurement."""

    label: str
    problem: str
    params: dict[str, Any]


CHECK_POINTS: dict[str, tuple[CheckPoint, ...]] = {
    "gaussian": (
        CheckPoint("square cost", "gaussian:cost=square,k=0", {"mean": 1.0, "log_scale": 0.0}),
        CheckPoint("cos cost, large scale", "gaussian:cost=cos,k=2,dim=2", {"mean": [0.3, -0.5], "log_scale": 1.0}),
        CheckPoint("exp-square cost, small scale", "gaussian:cost=exp_square,k=0.5,dim=2",
                   {"mean": [0.5, -1.0], "log_scale": -1.0}),
    ),
    "bernoulli": (
        CheckPoint("logit 0 (REBAR/RELAX toy)", "bernoulli", {"logits": 0.0}),
        CheckPoint("near-deterministic logits", "bernoulli:dim=2,target=[0.45,0.6]", {"logits": [4.0, -5.0]}),
        CheckPoint("mixed logits", "bernoulli:dim=3,target=[0.1,0.5,0.9]", {"logits": [-2.0, 0.5, 3.0]}),
    ),
    "categorical": (
        CheckPoint("uniform logits", "categorical", {"logits": 0.0}),
        CheckPoint("peaked logits", "categorical:dim=2,classes=3", {"logits": [[4.0, 0.0, -4.0], [0.0, 3.0, 0.0]]}),
    ),
    "lgssm": (CheckPoint("T = 3", "lgssm:T=3", {}),
              CheckPoint("T = 6, noisy observations", "lgssm:T=6,obs_var=2", {"log_scale": -0.5})),
    "hmm": (CheckPoint("K = 2, T = 3", "hmm:K=2,T=3", {}), CheckPoint("K = 3, T = 4", "hmm:K=3,T=4", {})),
    "lqr": (CheckPoint("T = 3, default plant", "lqr:T=3", {}), CheckPoint("T = 8", "lqr:T=8", {"log_std": -1.0})),
    "nile": (CheckPoint("4-year window", "nile:T=4", {}), CheckPoint("20-year window", "nile:T=20", {})),
    "linear_vae": (
        CheckPoint("4 points, batch 2", "linear_vae:data_subset=4,batch_size=2,latent=2", {}),
        CheckPoint("K = 2 particles", "linear_vae:data_subset=4,batch_size=2,latent=2,particles=2", {}),
    ),
    "gaussian_vae": (
        CheckPoint("4 points, batch 2", "gaussian_vae:data_subset=4,batch_size=2,latent=2,hidden=4", {}),
    ),
    "sbn": (
        CheckPoint("2 points, 2 latents", "sbn:data_subset=2,batch_size=2,latent=2", {}),
        CheckPoint("K = 2 particles, hidden layer", "sbn:data_subset=4,batch_size=2,latent=2,particles=2,hidden=3",
                   {}),
    ),
    "logistic_regression": (
        CheckPoint("8 points, batch 4", "logistic_regression:data_subset=8,batch_size=4", {}),
    ),
}


def points_for(problem_name: str, count: int) -> tuple[CheckPoint, ...]:
    """The first ``count`` check points of a built-in problem (its default spec if it has none listed)."""
    return CHECK_POINTS.get(problem_name, (CheckPoint("default", problem_name, {}),))[:count]

"""How a trace optimises and measures, with its defaults written once (the CLI, the suite and the API use them)."""

from __future__ import annotations

import dataclasses
from typing import Any

from varbench.core.errors import VarbenchError
from varbench.core.options import is_finite_real, is_integer


def check_count(name: str, value: Any, low: int) -> int:
    """``value`` as an int if it is an integer (not a bool) from ``low``, else a one-line error."""
    if not is_integer(value) or value < low:
        raise VarbenchError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class TraceSettings:
    """The optimisation and the measurements of :func:`varbench.trace.trace`, validated on construction.

    Attributes:
      lr: Adam's learning rate for the params (a positive number).
      steps: optimisation steps; checkpoints at 0, ``every``, 2·``every``, ... and at ``steps`` (an integer >= 0).
      every: steps between checkpoints (an integer >= 1).
      num_samples: estimates per variance measurement (``method="mc"``; an integer >= 1).
      ema_decay: decay of the exponential moving averages of the driver's estimate g and of g² along training, whose
        difference is the papers' variance figure (``paper_ema_variance``; a number in (0, 1); 0.999 as in the
        discrete-VAE papers' code).
      objective_samples: cost draws of the Monte Carlo estimate of the objective at each checkpoint
        (``objective_mc``; an integer >= 0, 0: none).

    Example:
      >>> TraceSettings(steps=200, every=50).num_samples
      10000
    """

    lr: float = 0.01
    steps: int = 1000
    every: int = 100
    num_samples: int = 10_000
    ema_decay: float = 0.999
    objective_samples: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", check_count("steps", self.steps, 0))
        object.__setattr__(self, "every", check_count("every", self.every, 1))
        object.__setattr__(self, "num_samples", check_count("num_samples", self.num_samples, 1))
        object.__setattr__(self, "objective_samples", check_count("objective_samples", self.objective_samples, 0))
        decay = self.ema_decay
        if not is_finite_real(decay) or not 0 < decay < 1:
            raise VarbenchError(f"ema_decay must be a number in (0, 1), e.g. 0.999; got {decay!r}")
        object.__setattr__(self, "ema_decay", float(decay))
        lr = self.lr
        if not is_finite_real(lr) or lr <= 0:
            raise VarbenchError(f"lr must be a positive number; got {lr!r}")

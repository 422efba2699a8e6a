"""Noise descriptors, the public names a plugin uses to state the noise one estimate consumes.

An estimator's ``noise(problem, params)`` returns a pytree of these; the harness samples it for Monte Carlo and
exact mode integrates over it (Gauss rules for continuous noise, enumeration for discrete noise). See
:mod:`varbench.core.noise` for the quadrature rules.
"""

from varbench.core.noise import (
                                 CONTINUOUS_KINDS,
                                 Bernoulli,
                                 Categorical,
                                 Discrete,
                                 Noise,
                                 is_noise,
                                 noise_dimension,
                                 sample_noise,
)

__all__ = ["CONTINUOUS_KINDS", "Bernoulli", "Categorical", "Discrete", "Noise", "is_noise", "noise_dimension",
           "sample_noise"]

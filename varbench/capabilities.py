"""Capabilities of problems, the public names a plugin estimator uses to state which problems it applies to.

An estimator's ``check_applies(problem)`` calls :func:`require` with the capability it needs (for instance
``require(problem, REPARAMETERIZABLE, "estimator 'my_pathwise'", "use score_function")``); the one-line error
names the registered problems that have it. See :mod:`varbench.core.capabilities` for the protocols.
"""

from varbench.core.capabilities import (
                                        AMORTIZED,
                                        ANALYTIC_KL,
                                        BINARY,
                                        CAPABILITIES,
                                        DISCRETE,
                                        HAS_ENTROPY,
                                        KNOWN_DYNAMICS,
                                        LOCATION_SCALE,
                                        REPARAMETERIZABLE,
                                        SEQUENTIAL,
                                        Capability,
                                        capabilities_of,
                                        require,
)

__all__ = ["AMORTIZED", "ANALYTIC_KL", "BINARY", "CAPABILITIES", "DISCRETE", "HAS_ENTROPY", "KNOWN_DYNAMICS",
           "LOCATION_SCALE", "REPARAMETERIZABLE", "SEQUENTIAL", "Capability", "capabilities_of", "require"]

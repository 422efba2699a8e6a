"""The core that problems, estimators and plugins build on: pytree dataclasses and options, noise descriptors and
quadrature rules, errors, the :class:`Problem` / :class:`Estimator` base classes, capability protocols and
registration. It imports nothing from the engine, the application edge, ``varbench.problems`` or
``varbench.estimators``."""

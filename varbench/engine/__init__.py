"""The engine: it takes problem and estimator *objects* (spec strings are parsed at the application edge,
:mod:`varbench.catalog`) and measures them.

- :mod:`.harness`: the entry points ``measure`` and ``measure_batch``; private modules do one job each: input checks
  (``_checks``), chunk sizing and memory (``_chunks``), the compiled Monte Carlo kernels (``_kernels``), a stateful
  estimator's state (``_state``) and Result assembly (``_assemble``).
- :mod:`.exact`: exact mode (its grid kernel in ``_grid``, adaptive refinement in ``_adaptive``).
- :mod:`.stats` (moments and intervals), :mod:`.sharding` (several devices), :mod:`.result` (:class:`.result.Result`),
  :mod:`.subject` (what is measured), :mod:`.settings` (``configure``: XLA flags, compilation cache, compile tier).
"""

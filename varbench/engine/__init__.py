"""The engine: compiled streaming kernels (:mod:`.harness`), exact mode (:mod:`.exact`), moments and intervals
(:mod:`.stats`), sharding over devices, and :class:`.result.Result`. It takes problem and estimator *objects*;
spec strings are parsed at the application edge (:mod:`varbench.catalog`)."""

"""Which problems and references the battery uses by default: one problem per family, the family's references."""

from __future__ import annotations

from varbench import catalog
from varbench.core.capabilities import (
    AMORTIZED,
    BINARY,
    DISCRETE,
    REPARAMETERIZABLE,
    SEQUENTIAL,
    capabilities_of,
)
from varbench.core.problem import Problem


def default_references(problem: Problem) -> list[str]:
    """Built-in estimators to rank a new one against on ``problem``: the plain score function always, then the
    reference of each family the problem belongs to.

    Args:
      problem: the problem the variance is compared on.

    Returns:
      Estimator specs, the plain score function first.
    """
    refs = ["score_function"]
    if DISCRETE.satisfied_by(problem):
        refs.append("rloo:samples=2")
        if BINARY.satisfied_by(problem):
            refs.append("disarm")
    if REPARAMETERIZABLE.satisfied_by(problem):
        refs.append("pathwise")
    if SEQUENTIAL.satisfied_by(problem):
        refs.append("score_function:returns=to_go,baseline=value")
    if AMORTIZED.satisfied_by(problem) and getattr(problem, "particles", 1) > 1:
        refs.append("vimco")
    return refs


def family_representatives(names: list[str]) -> list[str]:
    """One problem per family (set of capabilities), preferring problems with an exact gradient, in catalog order."""
    chosen: dict[frozenset, str] = {}
    for name in sorted(names, key=lambda n: (not catalog.PROBLEMS[n].has_exact_objective, n)):
        chosen.setdefault(frozenset(capabilities_of(catalog.PROBLEMS[name])), name)
    return [n for n in names if n in chosen.values()]

"""Exact mode's adaptive refinement, for integrands the Gauss rules at two resolutions do not settle.

Where the Gauss rules disagree (a cost with a narrow peak, such as ``exp(−k x²)`` at large k, an oscillating one
such as ``cos(k x)``, or a relaxation steep near a threshold), exact mode refines adaptively instead of refusing
(:func:`adaptive_moments`): a greedy, dimension-adaptive tensor refinement (in the spirit of Gerstner & Griebel
2003, "Dimension-adaptive tensor-product quadrature", Computing 71) raises the resolution of one continuous noise
scalar at a time, keeping a raise when it changes the mean or variance by more than ``rtol``, until raising ANY
one scalar changes nothing beyond ``rtol`` (two resolutions agree). Two families of one-dimensional rules are
tried in turn (:data:`FAMILIES`): the scalar's own Gauss rule with its order raised by 1.5× (exponentially
convergent for smooth integrands), then composite Gauss–Legendre panels on the density's truncated support,
1.5× more panels per step (for peaks and kinks). The budget is stated: at most :data:`ADAPTIVE_MAX_POINTS` points
in one tensor grid and :data:`ADAPTIVE_BUDGET` points evaluated per family; only when both families exhaust it is
the cell refused, naming the cell, the scalar that would not settle and its last relative change.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

from varbench.core.errors import QuadratureNotConvergedError
from varbench.core.noise import Noise, gauss_rule, piecewise_uniform_rule, tensor_table
from varbench.engine._grid import ExactMoments, Integrand, integrate_tables, relative_change

#: Most nodes of a one-dimensional Gauss rule (the rules of the Rayleigh and Maxwell densities come from a
#: 6000-point discretization: trusted to 200 nodes).
MAX_NODES_PER_DIM = 200
#: Adaptive refinement: most points in one tensor grid (discrete configurations included), and most points
#: evaluated over all refinement steps of one cell by each family of rules (FAMILIES: Gauss orders, then composite
#: panels): at most about a minute on two CPU cores for a cheap cost.
ADAPTIVE_MAX_POINTS = 2 ** 24
ADAPTIVE_BUDGET = {"gauss": 2 ** 25, "composite": 2 ** 27}
#: Gauss–Legendre nodes per panel of the composite rules. Each continuous kind has a core interval that is cut
#: into equal panels (refined adaptively) and tails with fixed panels (mass beyond the core below 1e-8, beyond
#: the tails below 1e-31): the standard normal and double-sided Maxwell core [−6, 6] and tails out to ±12, the
#: Rayleigh core [0, 6] and tail to 12. Uniforms are cut geometrically towards 0 and 1 (at 16^-j, j <= 6), where
#: the Gumbel and logistic transforms of the relaxation estimators put logarithmic singularities.
PANEL_NODES = 8
#: Panels grow by this factor per refinement of one scalar.
GROWTH = 1.5
CORE = {"normal": (-6.0, 6.0), "double_sided_maxwell": (-6.0, 6.0), "rayleigh": (0.0, 6.0), "uniform": (0.0, 1.0)}
TAILS = {"normal": (-12.0, -9.0, 9.0, 12.0), "double_sided_maxwell": (-12.0, -9.0, 9.0, 12.0),
         "rayleigh": (9.0, 12.0), "uniform": tuple(16.0 ** -np.arange(1, 7)) + tuple(1 - 16.0 ** -np.arange(1, 7))}
DENSITY = {"normal": lambda x: np.exp(-0.5 * x * x), "double_sided_maxwell": lambda x: x * x * np.exp(-0.5 * x * x),
           "rayleigh": lambda x: x * np.exp(-0.5 * x * x), "uniform": np.ones_like}


def composite_rule(kind: str, panels: int, breakpoints: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A composite Gauss–Legendre rule for the density of ``kind``.

    Args:
      kind: a continuous noise kind (a key of :data:`CORE`).
      panels: equal panels on the kind's core (its fixed tail panels are added).
      breakpoints: more cuts, such as the kinks of a piecewise integrand; shape ``(cuts,)``.

    Returns:
      ``(nodes, weights)``, shape ``(points,)`` each, with :data:`PANEL_NODES` nodes per panel, the weights
      including the density and normalised to sum to 1.
    """
    lo, hi = CORE[kind]
    edges = np.unique(np.concatenate([np.linspace(lo, hi, panels + 1), TAILS[kind]]))
    if breakpoints is not None:
        edges = np.unique(np.concatenate([edges, np.clip(np.ravel(breakpoints), edges[0], edges[-1])]))
    x, w = np.polynomial.legendre.leggauss(PANEL_NODES)
    a, b = edges[:-1, None], edges[1:, None]
    nodes = (a + (b - a) * (x + 1) / 2).ravel()
    weights = ((b - a) * w / 2).ravel() * DENSITY[kind](nodes)
    return nodes, weights / weights.sum()


class Family(NamedTuple):
    """A sequence of one-dimensional rules for one noise scalar, refined by raising ``level``."""

    name: str
    rule: Callable  # (kind, level, start, breakpoints or None) -> (nodes, weights summing to 1)
    size: Callable  # (kind, level, start, number of breakpoints) -> number of nodes
    start: Callable  # number of continuous scalars -> the starting parameter


def _gauss_order(level: int, start: int) -> int:
    return int(round(start * GROWTH ** level))


def _gauss_rule(kind: str, level: int, start: int, cuts: Any) -> tuple[np.ndarray, np.ndarray]:
    n = _gauss_order(level, start)
    return gauss_rule(kind, n) if cuts is None else piecewise_uniform_rule(cuts, n)


def _gauss_size(kind: str, level: int, start: int, num_cuts: int) -> int:
    n = _gauss_order(level, start)
    return n if n <= MAX_NODES_PER_DIM else ADAPTIVE_MAX_POINTS + 1


def _composite_rule(kind: str, level: int, start: int, cuts: Any) -> tuple[np.ndarray, np.ndarray]:
    return composite_rule(kind, _gauss_order(level, start), cuts)


def _composite_size(kind: str, level: int, start: int, num_cuts: int) -> int:
    return (_gauss_order(level, start) + len(TAILS[kind]) + num_cuts) * PANEL_NODES


#: Refinement families, tried in order: raising the Gauss order per scalar (fast for smooth integrands, whose
#: Gauss rules converge exponentially), then composite rules with more panels (for narrow peaks and kinks).
FAMILIES = (
    Family("gauss", _gauss_rule, _gauss_size, lambda scalars: 8),
    # Core panels 0.75 standard units wide in one dimension, coarser with more (the grid is a product).
    Family("composite", _composite_rule, _composite_size, lambda scalars: {1: 16, 2: 8}.get(scalars, 4)),
)


class _Unsettled(Exception):
    """A family's next refinement would exceed its grid or budget before two resolutions agreed (the reason)."""


def _cuts(leaf: Noise) -> list:
    if leaf.breakpoints is None:
        return [None] * leaf.size
    bp = np.asarray(leaf.breakpoints, np.float64)
    return list(np.broadcast_to(bp, leaf.shape + (bp.shape[-1],)).reshape(leaf.size, -1))


class _Layout(NamedTuple):
    """The noise blocks as refinement sees them: the continuous scalars refined one by one, the rest fixed."""

    adaptive: list  # per block: refined (a continuous Noise block) or fixed
    scalars: list  # (block, index in the block) of every refined scalar
    cuts: dict  # block -> per scalar, its breakpoints or None
    fixed: dict  # block -> its table (discrete blocks)
    configurations: int  # points of the product of the fixed tables


def _layout(leaves: list) -> _Layout:
    adaptive = [isinstance(leaf, Noise) and leaf.size > 0 for leaf in leaves]
    fixed = {b: leaf.table(1) for b, leaf in enumerate(leaves) if not adaptive[b]}
    return _Layout(adaptive, [(b, j) for b, leaf in enumerate(leaves) if adaptive[b] for j in range(leaf.size)],
                   {b: _cuts(leaf) for b, leaf in enumerate(leaves) if adaptive[b]}, fixed,
                   int(np.prod([len(t[1]) for t in fixed.values()], dtype=np.float64)))


class _FamilyGrids:
    """The tensor grids of one family of rules, one level per refined scalar; counts points evaluated and seconds
    spent compiling."""

    def __init__(self, integrand: Integrand, layout: _Layout, family: Family, budget: int) -> None:
        self.integrand, self.layout, self.family, self.budget = integrand, layout, family, budget
        self.start = family.start(len(layout.scalars))
        self.spent, self.compile_seconds = 0, 0.0

    def points(self, levels: list[int]) -> float:
        """Points of the grid at ``levels`` (discrete configurations included)."""
        leaves, cuts = self.integrand.leaves, self.layout.cuts
        sizes = [self.family.size(leaves[b].kind, level, self.start, 0 if cuts[b][j] is None else len(cuts[b][j]))
                 for (b, j), level in zip(self.layout.scalars, levels)]
        return float(np.prod(sizes, dtype=np.float64)) * self.layout.configurations

    def integrate(self, levels: list[int]) -> tuple[tuple, int]:
        """``((mean, variance), points)`` over the grid at ``levels``."""
        layout, rule = self.layout, self.family.rule
        tables = [layout.fixed[b] if not layout.adaptive[b] else tensor_table(leaf.shape, [
            rule(leaf.kind, level, self.start, layout.cuts[b][j])
            for (bb, j), level in zip(layout.scalars, levels) if bb == b])
            for b, leaf in enumerate(self.integrand.leaves)]
        # Powers of 4: refinement grows one table by 1.5x at a time, so most steps reuse a compiled kernel.
        out = integrate_tables(self.integrand.subject, tables, self.integrand.treedef, base_bits=2)
        self.compile_seconds += out.compile_seconds
        self.spent += out.points
        return (out.mean, out.var), out.points


def _refine(grids: _FamilyGrids, rtol: float) -> ExactMoments:
    """Greedy refinement by one family until refining any one scalar changes nothing beyond ``rtol``; raises
    :class:`_Unsettled` when the grid or the family's budget would be exceeded first."""
    name, scalars = grids.family.name, grids.layout.scalars
    levels = [0] * len(scalars)
    # The last change that made each scalar refine: the one reported if the budget runs out.
    changes = [math.inf] * len(scalars)
    # A family must be able to evaluate its first grid and refine it once, or it cannot judge convergence.
    if min(grids.points(levels[:i] + [1] + levels[i + 1:]) for i in range(len(scalars))) > ADAPTIVE_MAX_POINTS:
        raise _Unsettled(f"{name} rules: {len(scalars)} scalars make the refined grid larger than "
                         f"{ADAPTIVE_MAX_POINTS} points")
    current, points = grids.integrate(levels)
    while True:
        refined = False
        for i in range(len(scalars)):
            trial = levels.copy()
            trial[i] += 1
            size = grids.points(trial)
            if size > ADAPTIVE_MAX_POINTS or grids.spent + size > grids.budget:
                raise _Unsettled(_unsettled(grids, changes))
            candidate, used = grids.integrate(trial)
            change = relative_change(candidate, current)
            if change > rtol:
                levels, current, points, refined = trial, candidate, used, True
                changes[i] = change
            else:
                changes[i] = min(changes[i], change)
        if not refined:
            # Refining any one scalar changed nothing beyond rtol: two resolutions agree.
            return ExactMoments(current[0], current[1], points, max(changes))


def _unsettled(grids: _FamilyGrids, changes: list[float]) -> str:
    """The scalar that would not settle, and its last relative change."""
    worst = int(np.argmax(changes))
    b, j = grids.layout.scalars[worst]
    leaf = grids.integrand.leaves[b]
    what = (f"still changed the result by {changes[worst]:.2e}" if np.isfinite(changes[worst]) else
            "could not be refined within the budget")
    return f"{grids.family.name} rules: scalar {j} of its {leaf.kind} noise {list(leaf.shape)} {what}"


def adaptive_moments(integrand: Integrand, rtol: float, gauss_discrepancy: tuple[float, int, int],
                     max_points: int | None = None) -> ExactMoments:
    """Greedy dimension-adaptive refinement (see the module docstring) by each family in turn, within the budget.

    Args:
      integrand: what is integrated.
      rtol: the agreement required between two resolutions, relative to the estimate's scale.
      gauss_discrepancy: ``(relative change, coarse nodes, fine nodes)`` of the Gauss rules that disagreed.
      max_points: most points evaluated by all families together (None: :data:`ADAPTIVE_BUDGET`'s sum); each
        family also keeps within its own share of :data:`ADAPTIVE_BUDGET`.

    Returns:
      The moments at the first grid where refining any one scalar changes nothing beyond ``rtol``.

    Raises:
      QuadratureNotConvergedError: a noise block has no adaptive rule, or both families exhausted the budget.
    """
    layout = _layout(integrand.leaves)
    if any(leaf.continuous_size and not a for leaf, a in zip(integrand.leaves, layout.adaptive)):
        change, n_coarse, n = gauss_discrepancy
        raise QuadratureNotConvergedError(
            f"method=exact: quadrature did not converge for {integrand.where} (relative change {change:.2e} between "
            f"{n_coarse} and {n} nodes per dimension; a noise block has no adaptive rule); use method=mc")
    budget = sum(ADAPTIVE_BUDGET.values()) if max_points is None else int(max_points)
    spent, compiling, failures = 0, 0.0, []
    for family in FAMILIES:
        if family.name == "gauss" and gauss_discrepancy[2] >= MAX_NODES_PER_DIM:
            continue  # the Gauss rules already failed at their largest trusted order
        if budget <= spent:
            failures.append(f"{family.name} rules: not tried (budget spent)")
            continue
        grids = _FamilyGrids(integrand, layout, family, min(ADAPTIVE_BUDGET[family.name], budget - spent))
        try:
            found = _refine(grids, rtol)
            return found._replace(compile_seconds=compiling + grids.compile_seconds)
        except _Unsettled as reason:
            failures.append(str(reason))
        spent, compiling = spent + grids.spent, compiling + grids.compile_seconds
    raise QuadratureNotConvergedError(
        f"method=exact: adaptive quadrature for {integrand.where} exhausted its budget ({ADAPTIVE_MAX_POINTS} points "
        f"per grid, {budget} in all, {spent} spent) without two resolutions agreeing to rtol "
        f"{rtol:g} ({'; '.join(failures)}); the integrand is too rough for tensor quadrature: use method=mc")

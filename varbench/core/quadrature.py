"""Quadrature rules for the continuous noise of exact mode: a Gauss rule per noise kind, a piecewise
Gauss–Legendre rule for uniforms with jumps, and the tensor product of one-dimensional rules.

Exact mode (:mod:`varbench.engine.exact`) integrates an estimate over its noise with these rules; the noise
descriptors (:mod:`varbench.core.noise`) hand them out per block.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from varbench.core.errors import NotApplicableError

#: Kinds of continuous noise with a Gauss rule, and their densities on the real line.
CONTINUOUS_KINDS = ("normal", "uniform", "rayleigh", "double_sided_maxwell")


def piecewise_uniform_rule(cuts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A rule for U(0, 1) exact for piecewise polynomials with jumps at ``cuts``: Gauss–Legendre on each piece.

    Args:
      cuts: points in [0, 1], shape (B,); those outside are clipped, repeated ones merged.
      n: about how many nodes in all (at least 2 per piece).

    Returns:
      ``(nodes, weights)``, 1-D arrays; the weights sum to 1.
    """
    edges = np.unique(np.concatenate([[0.0], np.clip(cuts, 0.0, 1.0), [1.0]]))
    pieces = len(edges) - 1
    x, w = np.polynomial.legendre.leggauss(max(2, n // pieces))
    nodes = np.concatenate([a + (b - a) * (x + 1) / 2 for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) * w / 2 for a, b in zip(edges[:-1], edges[1:])])
    return nodes, weights


def tensor_table(shape: tuple[int, ...], rules: list) -> tuple[np.ndarray, np.ndarray]:
    """The tensor product of one-dimensional rules, one per scalar of a block.

    Args:
      shape: the block's shape.
      rules: ``(nodes, weights)`` per scalar of the block, in row-major order.

    Returns:
      ``(values, weights)``: every combination of nodes, values of shape ``(N,) + shape``, with the product of
      their weights.
    """
    if not rules:
        return np.zeros((1,) + tuple(shape)), np.ones(1)
    nodes = np.stack([g.ravel() for g in np.meshgrid(*[r[0] for r in rules], indexing="ij")], axis=-1)
    weights = np.ones(nodes.shape[0])
    for g in np.meshgrid(*[r[1] for r in rules], indexing="ij"):
        weights = weights * g.ravel()
    return nodes.reshape((-1,) + tuple(shape)), weights


def _density(kind: str) -> tuple[Any, float, float]:
    """Unnormalised density and a support interval outside which its mass is below 1e-300."""
    if kind == "rayleigh":
        return (lambda w: w * np.exp(-0.5 * w * w)), 0.0, 40.0
    if kind == "double_sided_maxwell":
        return (lambda m: m * m * np.exp(-0.5 * m * m)), -40.0, 40.0
    raise AssertionError(kind)


def _stieltjes_rule(kind: str, n: int, discretization: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Gauss rule for a density by the discretized Stieltjes procedure (Gautschi 2004, §2.2.3).

    The density is discretized with a fine Gauss–Legendre rule on its (truncated) support; the three-term
    recurrence of the orthogonal polynomials is then built from that discrete measure and the Jacobi matrix's
    eigen-decomposition gives nodes and weights (Golub & Welsch 1969).
    """
    density, lo, hi = _density(kind)
    # Split the support so the Legendre nodes cluster where the mass is.
    edges = np.unique(np.concatenate([np.linspace(lo, hi, 81), np.linspace(max(lo, -12.0), 12.0, 241)]))
    leg_x, leg_w = np.polynomial.legendre.leggauss(max(discretization // (len(edges) - 1), 8))
    xs, ws = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        xs.append(0.5 * (b - a) * leg_x + 0.5 * (a + b))
        ws.append(0.5 * (b - a) * leg_w)
    x = np.concatenate(xs)
    w = np.concatenate(ws) * density(x)
    w = w / w.sum()
    alpha = np.zeros(n)
    beta = np.zeros(n)
    p_prev = np.zeros_like(x)
    p = np.ones_like(x)
    norm_prev = 1.0
    for j in range(n):
        norm = np.sum(w * p * p)
        alpha[j] = np.sum(w * x * p * p) / norm
        beta[j] = norm / norm_prev if j > 0 else 1.0
        p_next = (x - alpha[j]) * p - (beta[j] * p_prev if j > 0 else 0.0)
        # Rescale to avoid overflow; the recurrence coefficients are scale-invariant once normalised.
        scale = np.sqrt(np.sum(w * p_next * p_next)) or 1.0
        p_prev, p = p / scale, p_next / scale
        norm_prev = norm / (scale * scale)
    off = np.sqrt(beta[1:])
    nodes, vectors = np.linalg.eigh(np.diag(alpha) + np.diag(off, 1) + np.diag(off, -1))
    weights = vectors[0, :] ** 2
    return nodes, weights / weights.sum()


@functools.lru_cache(maxsize=256)
def gauss_rule(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n``-point Gauss rule of a noise kind, exact for polynomials of degree ``2n − 1``.

    Args:
      kind: one of :data:`CONTINUOUS_KINDS`.
      n: the number of nodes (>= 1).

    Returns:
      ``(nodes, weights)``, read-only 1-D arrays of length ``n``; the weights sum to 1.
    """
    if n < 1:
        raise ValueError("a Gauss rule needs at least one node")
    if kind == "normal":
        x, w = np.polynomial.hermite_e.hermegauss(n)
    elif kind == "uniform":
        x, w = np.polynomial.legendre.leggauss(n)
        x = 0.5 * (x + 1.0)
    elif kind == "rayleigh":
        x, w = _stieltjes_rule(kind, n)
    elif kind == "double_sided_maxwell":
        x, w = _stieltjes_rule(kind, n)
        # The density is even: symmetrize away the rounding so odd moments vanish exactly.
        x, w = 0.5 * (x - x[::-1]), 0.5 * (w + w[::-1])
    else:
        raise NotApplicableError(f"no quadrature rule for noise kind {kind!r}; valid kinds: {', '.join(CONTINUOUS_KINDS)}")
    x.setflags(write=False)
    w = w / w.sum()
    w.setflags(write=False)
    return x, w

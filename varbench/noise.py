"""Descriptors of the random numbers an estimator consumes.

An estimator states *what* noise one estimate needs (a pytree of :class:`Noise`), and computes its estimate as a
deterministic function of that noise. The harness then either samples the noise (Monte Carlo) or integrates over
it exactly with a Gauss quadrature rule per scalar (``method="exact"``), so the two modes evaluate literally the
same function.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from varbench.errors import NotApplicableError

#: Kinds of continuous noise with a Gauss rule, and their densities on the real line.
CONTINUOUS_KINDS = ("normal", "uniform", "rayleigh", "double_sided_maxwell")


@dataclasses.dataclass(frozen=True)
class Noise:
    """``shape`` independent draws of one standard distribution.

    Kinds: ``normal`` (N(0, 1)), ``uniform`` (U(0, 1)), ``rayleigh`` (density w·exp(−w²/2) on w > 0) and
    ``double_sided_maxwell`` (density m²·exp(−m²/2)/√(2π) on the real line).
    """

    kind: str
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in CONTINUOUS_KINDS:
            raise ValueError(f"unknown noise kind {self.kind!r}; valid kinds: {', '.join(CONTINUOUS_KINDS)}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        if self.kind == "normal":
            return jax.random.normal(key, self.shape, dtype)
        if self.kind == "uniform":
            return jax.random.uniform(key, self.shape, dtype)
        if self.kind == "rayleigh":
            # W = sqrt(2E), E ~ Exp(1). (jax.random.rayleigh returns inf when its uniform draw is exactly 0.)
            return jnp.sqrt(2.0 * jax.random.exponential(key, self.shape, dtype))
        return jax.random.double_sided_maxwell(key, 0.0, 1.0, self.shape, dtype)

    def rule(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """An ``n``-point Gauss rule (nodes, weights summing to 1) for one scalar of this noise."""
        return gauss_rule(self.kind, int(n))


def is_noise(x: Any) -> bool:
    return isinstance(x, Noise)


def sample_noise(spec: Any, key: jax.Array, dtype: Any = jnp.float32) -> Any:
    """Draw every :class:`Noise` leaf of ``spec`` with its own independent key."""
    leaves, treedef = jax.tree_util.tree_flatten(spec, is_leaf=is_noise)
    keys = jax.random.split(key, max(len(leaves), 1))
    return jax.tree_util.tree_unflatten(treedef, [n.sample(k, dtype) for n, k in zip(leaves, keys)])


def noise_dimension(spec: Any) -> int:
    """Total number of scalar random variables in ``spec``."""
    return sum(n.size for n in jax.tree_util.tree_leaves(spec, is_leaf=is_noise))


# --- Gauss rules -----------------------------------------------------------------------------------------------

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
    """``n``-point Gauss rule for a noise kind, exact for polynomials of degree ``2n − 1``; weights sum to 1."""
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

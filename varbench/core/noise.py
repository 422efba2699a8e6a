"""Descriptors of the random numbers an estimator consumes.

An estimator states *what* noise one estimate needs (a pytree of :class:`Noise`), and computes its estimate as a
deterministic function of that noise. The harness then either samples the noise (Monte Carlo) or integrates over
it exactly with a Gauss quadrature rule per scalar (``method="exact"``), so the two modes evaluate literally the
same function.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import NotApplicableError

#: Kinds of continuous noise with a Gauss rule, and their densities on the real line.
CONTINUOUS_KINDS = ("normal", "uniform", "rayleigh", "double_sided_maxwell")


class NoiseLeaf:
    """A block of random numbers one estimate consumes: sampled in Monte Carlo, integrated in exact mode.

    ``table(n)`` returns every value the block can take on a quadrature grid (or every configuration, for a
    discrete block) as ``(values, weights)`` with ``values.shape == (N,) + shape`` and weights summing to 1; the
    harness takes the tensor product of the blocks' tables. ``continuous_size`` is the number of scalars that
    need a quadrature rule (0 for discrete blocks, whose tables are exact).
    """

    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def continuous_size(self) -> int:
        return 0

    def num_points(self, n: int) -> int:
        """Rows of ``table(n)``."""
        raise NotImplementedError

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        raise NotImplementedError

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def repeated(self, count: int) -> "NoiseLeaf":
        """``count`` independent copies, stacked on a new leading axis."""
        return Repeated(self, count)


@dataclasses.dataclass(frozen=True, eq=False)
class Noise(NoiseLeaf):
    """``shape`` independent draws of one standard continuous distribution.

    Kinds: ``normal`` (N(0, 1)), ``uniform`` (U(0, 1)), ``rayleigh`` (density w·exp(−w²/2) on w > 0) and
    ``double_sided_maxwell`` (density m²·exp(−m²/2)/√(2π) on the real line).

    ``breakpoints`` (uniform only; shape ``shape + (B,)``) are points in (0, 1) where the estimate may jump, such
    as the thresholds ``σ(±φ)`` of ARM. Exact mode then integrates each piece with its own Gauss–Legendre rule,
    which is exact for piecewise polynomials; Monte Carlo ignores them.
    """

    kind: str
    shape: tuple[int, ...] = ()
    breakpoints: Any = None

    def __post_init__(self) -> None:
        if self.kind not in CONTINUOUS_KINDS:
            raise ValueError(f"unknown noise kind {self.kind!r}; valid kinds: {', '.join(CONTINUOUS_KINDS)}")
        if self.breakpoints is not None and self.kind != "uniform":
            raise ValueError("breakpoints apply to uniform noise only")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def continuous_size(self) -> int:
        return self.size

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        # Drawn as one flat vector, then reshaped: with the default threefry generator the values are the same
        # (JAX generates a shape's bits flat), but XLA's CPU back end vectorizes the generator along the last axis,
        # and a batch of estimates of 10 noise scalars each, drawn as (65536, 10), ran at a fifth of the flat
        # draw's rate (benchmarks/RESULTS.md).
        flat = (self.size,)
        if self.kind == "normal":
            draw = jax.random.normal(key, flat, dtype)
        elif self.kind == "uniform":
            # jax.random.uniform returns multiples of eps on [0, 1), including 0, where log u = -inf (and a
            # product with u can flush to zero). Shifting by eps/2 gives the symmetric midpoint lattice on the
            # OPEN interval (0, 1): every value is exactly representable and the law is uniform to within eps/2.
            draw = jax.random.uniform(key, flat, dtype) + jnp.asarray(0.5 * jnp.finfo(dtype).eps, dtype)
        elif self.kind == "rayleigh":
            # W = sqrt(2E), E ~ Exp(1). (jax.random.rayleigh returns inf when its uniform draw is exactly 0.)
            draw = jnp.sqrt(2.0 * jax.random.exponential(key, flat, dtype))
        else:
            draw = jax.random.double_sided_maxwell(key, 0.0, 1.0, flat, dtype)
        return draw.reshape(self.shape)

    def rule(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """An ``n``-point Gauss rule (nodes, weights summing to 1) for one scalar of this noise."""
        return gauss_rule(self.kind, int(n))

    def _scalar_rules(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if self.breakpoints is None:
            return [self.rule(n)] * self.size
        cuts = np.broadcast_to(np.asarray(self.breakpoints, np.float64), self.shape + (np.shape(self.breakpoints)[-1],))
        return [piecewise_uniform_rule(c, n) for c in cuts.reshape(self.size, -1)]

    def num_points(self, n: int) -> int:
        return int(np.prod([len(r[0]) for r in self._scalar_rules(n)], dtype=np.int64)) if self.size else 1

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return tensor_table(self.shape, self._scalar_rules(n))

    def repeated(self, count: int) -> "Noise":
        bp = None if self.breakpoints is None else jnp.broadcast_to(
            self.breakpoints, (count,) + self.shape + (jnp.shape(self.breakpoints)[-1],))
        return Noise(self.kind, (count,) + self.shape, bp)


def piecewise_uniform_rule(cuts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre on each piece of [0, 1] cut at ``cuts``; about ``n`` nodes in all."""
    edges = np.unique(np.concatenate([[0.0], np.clip(cuts, 0.0, 1.0), [1.0]]))
    pieces = len(edges) - 1
    x, w = np.polynomial.legendre.leggauss(max(2, n // pieces))
    nodes = np.concatenate([a + (b - a) * (x + 1) / 2 for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(b - a) * w / 2 for a, b in zip(edges[:-1], edges[1:])])
    return nodes, weights


class Discrete(NoiseLeaf):
    """A discrete block: exact mode enumerates its configurations with their probabilities."""

    def num_points(self, n: int) -> int:
        return self.num_configurations

    @property
    def num_configurations(self) -> int:
        raise NotImplementedError

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.enumerate()

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class _ShapedLikeItsParameter(Discrete):
    """A discrete block described by one array (probabilities, logits) shaped like the values it draws."""

    #: the name of the array field
    parameter: ClassVar[str]

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(np.shape(getattr(self, self.parameter)))

    def repeated(self, count: int) -> "_ShapedLikeItsParameter":
        return type(self)(jnp.broadcast_to(getattr(self, self.parameter), (count,) + self.shape))


@dataclasses.dataclass(frozen=True, eq=False)
class Bernoulli(_ShapedLikeItsParameter):
    """Independent ``b_i ~ Bernoulli(probs_i)`` with values 0.0/1.0 (``probs`` may be traced)."""

    parameter = "probs"
    probs: Any

    @property
    def num_configurations(self) -> int:
        return 2 ** self.size

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        u = jax.random.uniform(key, (self.size,), self.probs.dtype).reshape(self.shape)  # flat: see Noise.sample
        return (u < self.probs).astype(dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(self.probs, np.float64).ravel()
        bits = (np.arange(2 ** p.size)[:, None] >> np.arange(p.size)[None, :]) & 1
        weights = np.prod(np.where(bits == 1, p, 1.0 - p), axis=1)
        return bits.astype(np.float64).reshape((-1,) + self.shape), weights


@dataclasses.dataclass(frozen=True, eq=False)
class Categorical(_ShapedLikeItsParameter):
    """Independent one-hot categorical vectors with ``logits`` of shape ``(..., K)``; values are one-hot floats."""

    parameter = "logits"
    logits: Any

    @property
    def num_configurations(self) -> int:
        k = self.shape[-1]
        return k ** (self.size // k)

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        # Gumbel-max (``argmax(logits + G)``) on logits shifted so that their largest is 0. The distribution is the
        # same, but large logits (1e6, where float32's spacing is 0.0625) would round the Gumbel noise away, and
        # the resulting ties go to the first class: a biased sampler. After the shift the noise keeps its
        # resolution; where the largest logit is already 0 (the defaults) the draws are bit-identical.
        logits = self.logits - jnp.max(self.logits, axis=-1, keepdims=True)
        index = jax.random.categorical(key, logits, axis=-1)
        return jax.nn.one_hot(index, self.shape[-1], dtype=dtype)

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        logits = np.asarray(self.logits, np.float64)
        k = logits.shape[-1]
        flat = logits.reshape(-1, k)
        log_p = flat - np.logaddexp.reduce(flat, axis=-1, keepdims=True)
        m = flat.shape[0]
        index = np.stack(np.unravel_index(np.arange(k ** m), (k,) * m), axis=-1) if m else np.zeros((1, 0), int)
        weights = np.exp(np.sum(log_p[np.arange(m)[None, :], index], axis=1))
        values = np.eye(k)[index].reshape((-1,) + self.shape)
        return values, weights


@dataclasses.dataclass(frozen=True, eq=False)
class Repeated(NoiseLeaf):
    """``count`` independent copies of any block (used when a block cannot broadcast its own parameters)."""

    base: NoiseLeaf
    count: int

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self.count,) + tuple(self.base.shape)

    @property
    def continuous_size(self) -> int:
        return self.count * self.base.continuous_size

    def num_points(self, n: int) -> int:
        return self.base.num_points(n) ** self.count

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        return jax.vmap(lambda k: self.base.sample(k, dtype))(jax.random.split(key, self.count))

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        values, weights = self.base.table(n)
        index = np.stack(np.unravel_index(np.arange(len(weights) ** self.count), (len(weights),) * self.count), -1)
        return values[index], np.prod(weights[index], axis=1)


def tensor_table(shape: tuple[int, ...], rules: list) -> tuple[np.ndarray, np.ndarray]:
    """The tensor product of one-dimensional rules ``(nodes, weights)``, one per scalar of a block of ``shape``:
    every combination of nodes (rows shaped like the block) with the product of their weights."""
    if not rules:
        return np.zeros((1,) + tuple(shape)), np.ones(1)
    nodes = np.stack([g.ravel() for g in np.meshgrid(*[r[0] for r in rules], indexing="ij")], axis=-1)
    weights = np.ones(nodes.shape[0])
    for g in np.meshgrid(*[r[1] for r in rules], indexing="ij"):
        weights = weights * g.ravel()
    return nodes.reshape((-1,) + tuple(shape)), weights


def is_noise(x: Any) -> bool:
    return isinstance(x, NoiseLeaf)


def sample_noise(spec: Any, key: jax.Array, dtype: Any = jnp.float32) -> Any:
    """Draw every noise leaf of ``spec`` with its own independent key."""
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

"""Descriptors of the random numbers an estimator consumes.

An estimator states *what* noise one estimate needs (a pytree of :class:`Noise`), and computes its estimate as a
deterministic function of that noise. The harness then either samples the noise (Monte Carlo) or integrates over
it exactly with a Gauss quadrature rule per scalar (``method="exact"``), so the two modes evaluate literally the
same function. The quadrature rules themselves are in :mod:`varbench.core.quadrature`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.quadrature import CONTINUOUS_KINDS, gauss_rule, piecewise_uniform_rule, tensor_table


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
        """The number of scalars in the block (the product of ``shape``)."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def continuous_size(self) -> int:
        """The number of scalars that need a quadrature rule in exact mode (0 for a discrete block)."""
        return 0

    def num_points(self, n: int) -> int:
        """The rows of ``table(n)``, computed without building it (to size exact mode's grid).

        Args:
          n: Gauss nodes per continuous scalar.

        Returns:
          The number of rows.
        """
        raise NotImplementedError

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        """One draw of the block (Monte Carlo).

        Args:
          key: a JAX PRNG key.
          dtype: the floating dtype of the values.

        Returns:
          An array of shape ``shape``.
        """
        raise NotImplementedError

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Every value the block takes in exact mode, with its weight.

        Args:
          n: Gauss nodes per continuous scalar (discrete blocks enumerate their configurations whatever ``n``).

        Returns:
          ``(values, weights)``: values of shape ``(N,) + shape`` and N weights summing to 1.
        """
        raise NotImplementedError

    def repeated(self, count: int) -> "NoiseLeaf":
        """Independent copies of the block.

        Args:
          count: the number of copies.

        Returns:
          A block of shape ``(count,) + shape``.
        """
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
        """An ``n``-point Gauss rule for one scalar of this noise.

        Args:
          n: the number of nodes.

        Returns:
          ``(nodes, weights)`` (see :func:`gauss_rule`).
        """
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


class Discrete(NoiseLeaf):
    """A discrete block: exact mode enumerates its configurations with their probabilities."""

    def num_points(self, n: int) -> int:
        return self.num_configurations

    @property
    def num_configurations(self) -> int:
        """The number of values the block can take (the rows of :meth:`enumerate`)."""
        raise NotImplementedError

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.enumerate()

    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        """Every configuration with its probability.

        Returns:
          ``(values, probabilities)``: values of shape ``(num_configurations,) + shape`` (float64) and their
          probabilities, summing to 1.
        """
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

    def sample(self, key: jax.Array, dtype: Any = jnp.float32) -> jax.Array:
        # Gumbel-max (``argmax(logits + G)``) on logits shifted so that their largest is 0. The distribution is the
        # same, but large logits (1e6, where float32's spacing is 0.0625) would round the Gumbel noise away, and
        # the resulting ties go to the first class: a biased sampler. After the shift the noise keeps its
        # resolution; where the largest logit is already 0 (the defaults) the draws are bit-identical.
        logits = self.logits - jnp.max(self.logits, axis=-1, keepdims=True)
        index = jax.random.categorical(key, logits, axis=-1)
        return jax.nn.one_hot(index, self.shape[-1], dtype=dtype)

    @property
    def num_configurations(self) -> int:
        k = self.shape[-1]
        return k ** (self.size // k)

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


def is_noise(x: Any) -> bool:
    """Whether ``x`` is a noise block (the ``is_leaf`` of tree maps over noise pytrees).

    Args:
      x: any object.

    Returns:
      True for a :class:`NoiseLeaf`.
    """
    return isinstance(x, NoiseLeaf)


def sample_noise(spec: Any, key: jax.Array, dtype: Any = jnp.float32) -> Any:
    """Draw every noise leaf of ``spec`` with its own independent key.

    Args:
      spec: a pytree of :class:`NoiseLeaf`.
      key: a JAX PRNG key.
      dtype: the floating dtype of the values.

    Returns:
      The pytree with each leaf replaced by an array of its shape.
    """
    leaves, treedef = jax.tree_util.tree_flatten(spec, is_leaf=is_noise)
    keys = jax.random.split(key, max(len(leaves), 1))
    return jax.tree_util.tree_unflatten(treedef, [n.sample(k, dtype) for n, k in zip(leaves, keys)])


def noise_dimension(spec: Any) -> int:
    """The total number of scalar random variables in ``spec``.

    Args:
      spec: a pytree of :class:`NoiseLeaf`.

    Returns:
      The sum of the leaves' sizes.
    """
    return sum(n.size for n in jax.tree_util.tree_leaves(spec, is_leaf=is_noise))

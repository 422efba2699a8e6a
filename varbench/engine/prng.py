"""Choice of the pseudo-random number generator that draws the estimators' noise.

``threefry`` (JAX's default ``threefry2x32``, Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3")
is counter-based and splits into statistically independent streams, so it is the default. ``rbg`` and
``unsafe_rbg`` use XLA's RngBitGenerator, which is faster on some backends; ``unsafe_rbg`` also derives split
keys with a cheap hash whose streams JAX does not guarantee to be independent, so treat its answers as a speed
experiment, not as a measurement. The implementation is part of the key's dtype, so each choice compiles its own
kernel and changing it never reuses a kernel built for another.
"""

from __future__ import annotations

from typing import Any

from varbench.core.errors import VarbenchError
from varbench.core.options import is_integer

#: User-facing names and the JAX PRNG implementations they select.
PRNG_IMPLS = {"threefry": "threefry2x32", "rbg": "rbg", "unsafe_rbg": "unsafe_rbg"}
DEFAULT_PRNG = "threefry"
#: Largest seed. With 64-bit types off (JAX's default) a key holds 32 bits of its seed: seed 2**32 gives the same
#: key as seed 0, so larger seeds would silently repeat an earlier experiment; they are refused instead.
MAX_SEED = 2 ** 32 - 1


def check_prng(name: str) -> str:
    """``name`` if it is a valid choice, else a one-line error naming the valid ones.

    Args:
      name: a key of :data:`PRNG_IMPLS`.

    Returns:
      ``name``.
    """
    if name not in PRNG_IMPLS:
        raise VarbenchError(f"unknown prng {name!r}; valid choices: {', '.join(PRNG_IMPLS)}")
    return name


def check_seed(seed: Any) -> int:
    """``seed`` as an int if it is an integer in [0, :data:`MAX_SEED`], else a one-line error.

    Args:
      seed: the seed asked for.

    Returns:
      It, as an int.
    """
    if not is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise VarbenchError(f"seed must be a non-negative integer up to {MAX_SEED}; got {seed!r}")
    return int(seed)


def make_key(seed: int, name: str = DEFAULT_PRNG) -> Any:
    """A typed PRNG key for ``seed`` with the implementation selected by ``name``.

    Args:
      seed: an integer in [0, :data:`MAX_SEED`].
      name: a key of :data:`PRNG_IMPLS`.

    Returns:
      A typed key, ``jax.random.key(seed, impl=...)``.
    """
    import jax  # here, so that the CLI can name the choices without importing JAX
    return jax.random.key(check_seed(seed), impl=PRNG_IMPLS[check_prng(name)])

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

#: User-facing names and the JAX PRNG implementations they select.
PRNG_IMPLS = {"threefry": "threefry2x32", "rbg": "rbg", "unsafe_rbg": "unsafe_rbg"}
DEFAULT_PRNG = "threefry"


def check_prng(name: str) -> str:
    """``name`` if it is a valid choice, else a one-line error naming the valid ones."""
    if name not in PRNG_IMPLS:
        raise VarbenchError(f"unknown prng {name!r}; valid choices: {', '.join(PRNG_IMPLS)}")
    return name


def make_key(seed: int, name: str = DEFAULT_PRNG) -> Any:
    """A typed PRNG key for ``seed`` with the implementation selected by ``name``."""
    import jax  # here, so that the CLI can name the choices without importing JAX
    return jax.random.key(int(seed), impl=PRNG_IMPLS[check_prng(name)])

"""Compiled kernels kept in memory, within the operating system's limit on a process's memory mappings.

Every XLA CPU executable maps its JIT-compiled code into the process: 20-30 mappings for a tiny function, and about
80 per compilation over the default suite (35 300 mappings held at its end, persistent cache off, ~440
compilations). The engine kept every kernel it compiled, and JAX's own caches keep up to 2048 executables alive.
Linux refuses mappings beyond ``vm.max_map_count`` (65 530 by default); LLVM then reports "Cannot allocate memory"
and the process dies with a segmentation fault: a sweep compiling about twice the default suite's kernels in one
process would end that way, with no error a user could act on.

So before each compilation :func:`make_room` counts the process's mappings (Linux; a read of ``/proc/self/maps``:
~10 ms at 35 000 mappings, against the ~500 ms of a compilation), and past :data:`EVICT_FRACTION` of the limit
drops every compiled kernel held in memory (the engine's :class:`KernelCache` entries and JAX's caches), which
brings the count back to about 2 000. A kernel needed again is read back from the persistent compilation cache
(:mod:`varbench.engine.compile_cache`), or compiled again where that is off. Elsewhere (no ``/proc``) nothing is
counted and nothing evicted.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

#: Evict when the process holds more than this fraction of the allowed mappings: the rest is head room for the
#: next compilation and for what compiles outside the engine's kernels (helpers, eager operations).
EVICT_FRACTION = 0.75
MAPS = Path("/proc/self/maps")
MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")

_caches: weakref.WeakSet[KernelCache] = weakref.WeakSet()
_evictions = {"count": 0}


class KernelCache:
    """Compiled executables by signature, with the number ever compiled into it (which evictions do not reset, so a
    block's count of compiled kernels stays true). Every instance is emptied by :func:`evict_all`."""

    def __init__(self) -> None:
        self.entries: dict[Any, Any] = {}
        self.compiled = 0
        _caches.add(self)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, signature: Any) -> Any:
        """The executable for ``signature``, or None."""
        return self.entries.get(signature)

    def put(self, signature: Any, executable: Any) -> None:
        """Keep a newly compiled ``executable``."""
        self.entries[signature] = executable
        self.compiled += 1

    def reset(self) -> None:
        """Forget every kernel and the count (tests and benchmarks of compilation)."""
        self.entries.clear()
        self.compiled = 0


def mappings() -> int | None:
    """The number of memory mappings this process holds, or None where the system does not say (no ``/proc``)."""
    try:
        with MAPS.open("rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return None


def mappings_limit() -> int | None:
    """The most memory mappings a process may hold (``vm.max_map_count``), or None where unknown."""
    try:
        return int(MAX_MAP_COUNT.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def evict_all() -> None:
    """Drop every compiled kernel held in memory: the engine's caches and JAX's (tracing and compilation)."""
    import jax

    for cache in list(_caches):
        cache.entries.clear()
    jax.clear_caches()
    gc.collect()  # executables are freed (and their code unmapped) when the last reference goes
    _evictions["count"] += 1


def make_room() -> bool:
    """Evict every in-memory kernel if the process is past :data:`EVICT_FRACTION` of its mapping limit; True if
    it did. Called before each compilation."""
    limit = mappings_limit()
    held = mappings() if limit else None
    if held is None or held <= EVICT_FRACTION * limit:
        return False
    evict_all()
    return True


def evictions() -> int:
    """How many times this process has dropped its in-memory kernels to stay under the mapping limit."""
    return _evictions["count"]


def info() -> dict[str, Any]:
    """The process's memory mappings against their limit, for ``varbench info``."""
    held, limit = mappings(), mappings_limit()
    if held is None or limit is None:
        return {"memory_maps": "not reported by this system (in-memory kernels are never dropped)"}
    return {"memory_maps": f"{held} of {limit} (in-memory kernels dropped past {EVICT_FRACTION:.0%}; "
                           f"{evictions()} times so far)"}

"""JAX's persistent compilation cache, so a second process reuses compiled kernels.

Compiling dominates a suite's wall time (most kernels take seconds on CPU; running them often takes less), and
every new process compiled everything again. XLA executables are written to a per-user directory and looked up
by a hash of the program, the compiler options, the JAX/jaxlib versions and the backend, so a stale entry is never
reused for a different program. Which directory (or none) is a setting (:mod:`varbench.engine.settings`): in
order of precedence ``varbench --cache-dir DIR`` or ``varbench.configure(cache_dir=DIR)``, the environment variable
``VARBENCH_CACHE_DIR`` (``off`` disables the cache), a directory the user already gave JAX itself
(``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``), then ``$XDG_CACHE_HOME/varbench/jax``
(``~/.cache/varbench/jax`` when ``XDG_CACHE_HOME`` is unset). ``varbench info`` shows what is in use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: Cache every executable that took at least this long to compile: the harness's kernels take 0.3-10 s on CPU, the
#: helpers around them (states, pilots, exact values) 0.02-0.1 s against about 6 ms to read one back; the many tiny
#: eager-op executables below this are cheaper to rebuild than to read. (Warm quick suite, one run each: 17.5 s
#: caching from 0.1 s, 14.8 s from 0.02 s, 14.4 s from 0.005 s with twice the entries.)
MIN_COMPILE_SECONDS = 0.02

_state: dict[str, Any] = {"dir": None, "source": "not configured", "set": None}


def default_dir() -> Path:
    """The per-user default: ``$XDG_CACHE_HOME/varbench/jax`` or ``~/.cache/varbench/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "varbench" / "jax"


def jax_own_dir() -> str | None:
    """A cache directory the user gave JAX itself (not one varbench set), or None."""
    import jax

    own = jax.config.jax_compilation_cache_dir
    return own if own and own != _state["set"] else None


def use(directory: Path | None, source: str) -> None:
    """Point JAX's persistent compilation cache at ``directory``, or turn it off (None).

    Called by :func:`varbench.engine.settings.configure`; before the first compile it applies to every kernel, later
    it switches directories for later compiles.

    Args:
      directory: the cache's directory, or None for no cache.
      source: where the choice comes from, shown by ``varbench info``.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    if directory is None:
        cc.reset_cache()
        jax.config.update("jax_enable_compilation_cache", False)
    elif _state["dir"] != directory:
        cc.reset_cache()  # JAX initializes its cache once per process; a new directory needs a fresh start
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(directory))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _state["set"] = str(directory)
    _state.update(dir=directory, source=source)


def directory() -> Path | None:
    """The cache's directory, or None when the cache is off (or not configured yet)."""
    return _state["dir"]


def info() -> dict[str, Any]:
    """Where the cache is, why, and what it holds, for ``varbench info``.

    Returns:
      ``{"compilation_cache": directory or None, "enabled": bool, "source": str, "entries": int, "bytes": int}``.
    """
    path = _state["dir"]
    entries, size = 0, 0
    if path is not None and path.is_dir():
        for entry in path.iterdir():
            if entry.is_file():
                entries += 1
                size += entry.stat().st_size
    return {"compilation_cache": str(path) if path is not None else None, "enabled": path is not None,
            "source": _state["source"], "entries": entries, "bytes": size}

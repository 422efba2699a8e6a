"""JAX's persistent compilation cache, on by default, so a second process reuses compiled kernels.

Compiling dominates a suite's wall time (most kernels take seconds on CPU; running them often takes less), and
every new process compiled everything again. XLA executables are written to a per-user directory and looked up
by a hash of the program, the compiler options, the JAX/jaxlib versions and the backend, so a stale entry is never
reused for a different program. The directory is, in order of precedence:

1. ``varbench --cache-dir DIR`` (or :func:`enable` called with a path),
2. the environment variable ``VARBENCH_CACHE_DIR`` (``off`` / ``none`` / empty disables the cache),
3. ``$XDG_CACHE_HOME/varbench/jax`` (``~/.cache/varbench/jax`` when ``XDG_CACHE_HOME`` is unset).

A directory the user already gave JAX itself (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) is kept when
neither 1 nor 2 is set. ``varbench info`` shows what is in use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV = "VARBENCH_CACHE_DIR"
OFF = ("", "off", "none", "0", "false")
#: Cache every executable that took at least this long to compile: the harness's kernels take 0.3-10 s on CPU;
#: the many tiny eager-op executables below this are cheaper to rebuild than to read back.
MIN_COMPILE_SECONDS = 0.1

_state: dict[str, Any] = {"dir": None, "source": "not configured"}


def default_dir() -> Path:
    """The per-user default: ``$XDG_CACHE_HOME/varbench/jax`` or ``~/.cache/varbench/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "varbench" / "jax"


def enable(directory: str | os.PathLike | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at ``directory`` (default: the environment, then the per-user
    directory); returns the directory in use, or None when the cache is off. Call before the first compile for it
    to apply to every kernel; later calls switch directories for later compiles."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    source = "--cache-dir"
    if directory is None:
        env = os.environ.get(ENV)
        if env is not None:
            directory, source = (None if env.strip().lower() in OFF else env), ENV
            if directory is None:
                return _disable(jax, cc, f"{ENV}={env!r}")
        elif jax.config.jax_compilation_cache_dir:
            directory, source = jax.config.jax_compilation_cache_dir, "JAX's own setting"
        else:
            directory, source = default_dir(), "per-user default"
    elif str(directory).strip().lower() in OFF:
        return _disable(jax, cc, "--cache-dir off")
    path = Path(directory).expanduser()
    if _state["dir"] != path:
        cc.reset_cache()  # JAX initializes its cache once per process; a new directory needs a fresh start
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _state.update(dir=path, source=source)
    return path


def ensure_enabled() -> None:
    """:func:`enable` with the defaults unless a caller already chose (``enable("off")`` before importing the
    harness must stay off)."""
    if _state["source"] == "not configured":
        enable()


def _disable(jax: Any, cc: Any, source: str) -> None:
    cc.reset_cache()
    jax.config.update("jax_enable_compilation_cache", False)
    _state.update(dir=None, source=source)
    return None


def info() -> dict[str, Any]:
    """Where the cache is, why, and what it holds (entries and bytes)."""
    path = _state["dir"]
    entries, size = 0, 0
    if path is not None and path.is_dir():
        for entry in path.iterdir():
            if entry.is_file():
                entries += 1
                size += entry.stat().st_size
    return {"compilation_cache": str(path) if path is not None else None, "enabled": path is not None,
            "source": _state["source"], "entries": entries, "bytes": size}

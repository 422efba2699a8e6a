"""The process-wide settings of the engine, applied by :func:`configure`, never by importing varbench.

Three settings, one :class:`Settings` value:

- ``cache_dir``: JAX's persistent compilation cache (:mod:`varbench.engine.compile_cache`), so a new process
  reuses kernels compiled before; None turns it off.
- ``optimize``: how hard XLA optimizes a kernel (:mod:`varbench.engine.compile_tier`): ``auto``, ``fast`` or
  ``full``.
- ``xla_multi_thread_eigen``: whether XLA's CPU matrix kernels use Eigen's thread pool. Off by default:
  single-threaded Eigen changed no kernel's rate for the worse here (0.98-2.3x, benchmarks/RESULTS.md) and makes
  results independent of the number of cores. It was first set against a hang of the default suite that it did not
  cure: that was two of jaxlib's batched LAPACK calls in flight at once deadlocking the intra-op pool (fixed in the
  critic fits, see varbench.core.numerics.after). Off means ``--xla_cpu_multi_thread_eigen=false`` is added to
  ``XLA_FLAGS``, unless ``XLA_FLAGS`` already names that flag (the user's choice wins). XLA reads ``XLA_FLAGS``
  once, when JAX starts its CPU backend: this setting takes effect only if :func:`configure` runs before that (the
  CLI configures first thing; :func:`varbench.measure` configures before it touches JAX).

:func:`configure` takes each setting as a keyword; one not given comes from its environment variable
(``VARBENCH_CACHE_DIR``, ``VARBENCH_OPTIMIZE``, ``VARBENCH_XLA_MULTI_THREAD_EIGEN``; this module is the only reader
of them) or its default. The engine calls :func:`ensure_configured` before it compiles, which applies the defaults
if nobody configured. A :class:`Settings` is plain data: ``configure(**dataclasses.asdict(settings))`` applies
the same settings in another process (a Dask worker).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from varbench.core.errors import VarbenchError
from varbench.engine import compile_cache

CACHE_ENV = "VARBENCH_CACHE_DIR"
OPTIMIZE_ENV = "VARBENCH_OPTIMIZE"
EIGEN_ENV = "VARBENCH_XLA_MULTI_THREAD_EIGEN"
#: Set (to anything but empty): the CLI shows the traceback of an internal error.
DEBUG_ENV = "VARBENCH_DEBUG"
#: Compile tiers: ``auto`` picks by the run's length, ``fast`` and ``full`` force one.
OPTIMIZE_CHOICES = ("auto", "fast", "full")
#: Spellings of "no cache" for ``cache_dir`` (and ``VARBENCH_CACHE_DIR``), compared lower-cased and stripped.
OFF = ("", "off", "none", "0", "false")
#: Spellings of "off" for ``VARBENCH_XLA_MULTI_THREAD_EIGEN``.
FALSE = ("", "0", "false", "no", "off")
#: Where a cache directory given to :func:`configure` is reported to come from (``varbench info``).
GIVEN = "given (--cache-dir or varbench.configure)"
_EIGEN = "xla_cpu_multi_thread_eigen"
_SINGLE_THREADED = f"--{_EIGEN}=false"
#: XLA's CPU backend (jaxlib 0.10) can compile a reduction and a contraction with a broadcast scalar into one
#: YNNPACK "reduce" fusion that reads uninitialised memory: ``jit(lambda a, c, w: c @ broadcast_to(w, (4, 784)) +
#: a.sum((1, 2)))`` returns NaN and values near 1e37 (tests/varbench/test_xla_settings.py). A score-function
#: estimate whose decoder scores are all zero built exactly that (NaN in RLOO's and Double CV's gradients of a
#: binary VAE on MNIST). Correctness is not a setting: this flag is always added, unless XLA_FLAGS names it.
_YNN = "xla_cpu_experimental_ynn_fusion_type"
_NO_YNN_REDUCE = f"--{_YNN}=-LIBRARY_FUSION_TYPE_REDUCE"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The engine's settings (see the module docstring).

    Attributes:
      cache_dir: the persistent compilation cache's directory, or None when the cache is off.
      optimize: the compile tier rule, one of :data:`OPTIMIZE_CHOICES`.
      xla_multi_thread_eigen: whether XLA's CPU backend may run Eigen multi-threaded.
    """

    cache_dir: str | None
    optimize: str
    xla_multi_thread_eigen: bool

    def __post_init__(self) -> None:
        if self.cache_dir is not None and not isinstance(self.cache_dir, str):
            raise VarbenchError(f"cache_dir must be a directory name or None (off); got {self.cache_dir!r}")
        _check_optimize(self.optimize, "optimize")
        if not isinstance(self.xla_multi_thread_eigen, bool):
            raise VarbenchError(f"xla_multi_thread_eigen must be True or False; got {self.xla_multi_thread_eigen!r}")


class _Unset:
    """A keyword :func:`configure` was not given (None is a value: no cache)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_state: dict[str, Any] = {"current": None, "added_flag": False}


def configure(*, cache_dir: str | os.PathLike | None = UNSET, optimize: str = UNSET,
              xla_multi_thread_eigen: bool = UNSET) -> Settings:
    """Apply the engine's settings to this process; each one not given comes from the environment or its default.

    Args:
      cache_dir: the persistent compilation cache's directory; None or ``"off"`` turns the cache off. Default:
        ``VARBENCH_CACHE_DIR`` (``off`` disables), else a directory already given to JAX itself
        (``JAX_COMPILATION_CACHE_DIR``), else ``$XDG_CACHE_HOME/varbench/jax`` (``~/.cache/varbench/jax``).
      optimize: the compile tier rule, ``"auto"``, ``"fast"`` or ``"full"``. Default: ``VARBENCH_OPTIMIZE``,
        else ``"auto"``.
      xla_multi_thread_eigen: let XLA's CPU backend run Eigen multi-threaded. Default:
        ``VARBENCH_XLA_MULTI_THREAD_EIGEN`` (``1`` for on), else False. Takes effect only before JAX starts its
        CPU backend.

    Returns:
      The :class:`Settings` now in force.
    """
    source = GIVEN
    if cache_dir is UNSET:
        cache_dir, source = _cache_dir_from_environment()
    elif cache_dir is not None:
        cache_dir = None if str(cache_dir).strip().lower() in OFF else str(Path(cache_dir).expanduser())
    if optimize is UNSET:
        optimize = os.environ.get(OPTIMIZE_ENV, "auto").strip().lower() or "auto"
        _check_optimize(optimize, OPTIMIZE_ENV, os.environ.get(OPTIMIZE_ENV))
    if xla_multi_thread_eigen is UNSET:
        xla_multi_thread_eigen = os.environ.get(EIGEN_ENV, "0").strip().lower() not in FALSE
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        # JAX would only warn, on every compile, and run without a cache
        raise VarbenchError(f"the compilation cache {cache_dir!r} ({source}) is an existing file; give a directory, "
                            "or 'off' for no cache")
    settings = Settings(cache_dir, optimize, xla_multi_thread_eigen)
    _apply_eigen(settings.xla_multi_thread_eigen)
    if _YNN not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_NO_YNN_REDUCE}".strip()
    compile_cache.use(None if settings.cache_dir is None else Path(settings.cache_dir), source)
    _state["current"] = settings
    return settings


def ensure_configured() -> Settings:
    """The settings in force: those of the last :func:`configure`, or the defaults, applied now if nobody
    configured. The engine calls it before it first touches JAX.

    Returns:
      The :class:`Settings` in force.
    """
    return _state["current"] if _state["current"] is not None else configure()


def current() -> Settings:
    """The settings in force (for ``varbench info``, or to send to another process); the defaults are applied
    first if nobody configured, as :func:`ensure_configured` does.

    Returns:
      The :class:`Settings` in force.
    """
    return ensure_configured()


def _check_optimize(value: Any, name: str, raw: Any = None) -> None:
    """Refuse a compile tier rule not in :data:`OPTIMIZE_CHOICES`, naming ``name`` and what was given (``raw``, the
    environment's text, when given)."""
    if value not in OPTIMIZE_CHOICES:
        got = value if raw is None else raw
        raise VarbenchError(f"{name} must be one of {', '.join(OPTIMIZE_CHOICES)}; got {got!r}")


def _cache_dir_from_environment() -> tuple[str | None, str]:
    """The default cache directory and where it comes from: ``VARBENCH_CACHE_DIR``, JAX's own setting, or the
    per-user directory."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        if env.strip().lower() in OFF:
            return None, f"{CACHE_ENV}={env!r}"
        return str(Path(env).expanduser()), CACHE_ENV
    own = compile_cache.jax_own_dir()
    if own is not None:
        return own, "JAX's own setting"
    return str(compile_cache.default_dir()), "per-user default"


def _apply_eigen(multi_thread: bool) -> None:
    """Add (or take back) ``--xla_cpu_multi_thread_eigen=false`` in ``XLA_FLAGS``; a flag the user set stays."""
    flags = os.environ.get("XLA_FLAGS", "")
    if multi_thread and _state["added_flag"]:
        os.environ["XLA_FLAGS"] = " ".join(f for f in flags.split() if f != _SINGLE_THREADED)
        _state["added_flag"] = False
    elif not multi_thread and _EIGEN not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_SINGLE_THREADED}".strip()
        _state["added_flag"] = True


def show_tracebacks() -> bool:
    """Whether ``VARBENCH_DEBUG`` asks the CLI to show an internal error's traceback (read here, with the other
    ``VARBENCH_*`` variables)."""
    return bool(os.environ.get(DEBUG_ENV))

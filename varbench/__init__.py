"""varbench: the bias, variance and cost of Monte Carlo gradient estimators, measured with statistical tests.

The public names are loaded on first use, so ``import varbench.reports`` (which never needs JAX) and
``varbench --help`` stay fast, and importing varbench changes nothing in the process (no environment variable, no
JAX setting): :func:`varbench.configure` applies the settings (XLA flags, compilation cache, compile tier), and the
engine applies the defaults before it first compiles if nobody did. A plugin imports only these names and
:mod:`varbench.noise` and :mod:`varbench.capabilities`.

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
import sys
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "Estimator": "varbench.core.estimator",
    "KeyedEstimator": "varbench.core.estimator",
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
    "configure": "varbench.engine.settings",
    "Result": "varbench.engine.result",
    "RESULT_FIELDS": "varbench.engine.result",
}

__all__ = sorted(_PUBLIC) + ["__version__"]

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
_SUBMODULES = ("noise", "capabilities", "testing", "problems", "estimators", "reports", "catalog", "core", "engine")


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

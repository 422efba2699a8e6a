"""The catalog: names to classes, the built-in packages and plugins, and objects built from spec strings.

This is the application edge's door to the core registry (:mod:`varbench.core.registry`). It imports the built-in
packages (every module of ``varbench.problems`` and ``varbench.estimators``, so a new built-in is one file), the
plugins named by the ``varbench.plugins`` entry-point group, and any module passed to :func:`load_plugin`
(``--plugin MODULE`` on the CLI, ``plugins = [...]`` in a suite config). Spec strings are parsed here, once, and
turned into validated objects; the engine below only ever sees objects.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import math
import numbers
import os
import pkgutil
import sys
from typing import Any

from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.naming import plain, spec_of
from varbench.core.problem import Problem
from varbench.core.pytree import options_of
from varbench.core.registry import ESTIMATORS, PROBLEMS, origin
from varbench.spec import parse_spec

__all__ = ["ESTIMATORS", "PROBLEMS", "build", "describe", "estimator_names", "load_builtins", "load_plugin",
           "origin", "problem_names", "resolve_estimator", "resolve_problem", "spec_of"]

#: The entry-point group whose entries name plugin modules (``[project.entry-points."varbench.plugins"]``).
ENTRY_POINT_GROUP = "varbench.plugins"
_BUILTIN_PACKAGES = ("varbench.problems", "varbench.estimators")
_loaded = False
#: Largest magnitude of an integer option (sizes and counts are 32-bit integers in compiled kernels).
MAX_INT_OPTION = 2 ** 31 - 1


def load_builtins() -> None:
    """Import every built-in problem and estimator module, then the entry-point plugins (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package_name in _BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, package_name + "."):
            importlib.import_module(info.name)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        load_plugin(entry.value.split(":")[0], source=f"entry point {entry.name!r} of group {ENTRY_POINT_GROUP!r}")


def load_plugin(module: str, *, source: str | None = None) -> Any:
    """Import the plugin ``module`` (a dotted module name), whose ``@register_problem`` / ``@register_estimator``
    decorators add its classes; returns the module.

    A module that cannot be imported, or that registers a name which already exists, is a one-line
    :class:`VarbenchError` naming the plugin. Importing the same module again is harmless.
    """
    if not isinstance(module, str) or not module.strip():
        raise VarbenchError(f"a plugin is a module name such as 'my_package.my_estimators'; got {module!r}")
    load_builtins()
    name = module.strip()
    label = f"plugin {name!r}" + (f" ({source})" if source else "")
    if name in sys.modules:
        return sys.modules[name]
    # A plugin file in the working directory is found as `python -m` would find it, also from the console
    # script (whose sys.path lacks the working directory); appended, so it never shadows an installed package.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(name)
    except VarbenchError as err:
        raise VarbenchError(f"{label}: {err}") from None
    except ModuleNotFoundError as err:
        missing = f"no module named {err.name!r}" if err.name else str(err)
        raise VarbenchError(f"{label} could not be imported: {missing} (is it installed, on PYTHONPATH, or in the working directory?)") from None
    except Exception as err:  # noqa: BLE001 - any failure inside a user's module is reported as one line
        raise VarbenchError(f"{label} failed to import: {type(err).__name__}: {err}".replace("\n", " ")) from None


def problem_names() -> list[str]:
    load_builtins()
    return sorted(PROBLEMS)


def estimator_names() -> list[str]:
    load_builtins()
    return sorted(ESTIMATORS)


def _finite_number(value: Any) -> bool:
    """A real number (not a bool) that is finite as a float (``10**400`` is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _check_option(owner: str, key: str, field: dataclasses.Field, value: Any) -> Any:
    meta = field.metadata
    kind = meta.get("kind")
    where = f"option {key!r} of {owner}"
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise VarbenchError(f"{where} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
    if kind is int:  # sizes and counts: 32-bit, as XLA indexes them
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or abs(value) > MAX_INT_OPTION:
            raise VarbenchError(f"{where} must be an integer up to {MAX_INT_OPTION}; got {value!r}")
        value = int(value)
    elif kind is float:
        if not _finite_number(value):
            raise VarbenchError(f"{where} must be a number, and finite; got {value!r}")
        value = float(value)
    elif kind is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(_finite_number(v) for v in items):
            raise VarbenchError(f"{where} must be a number or a list of numbers, all finite; got {value!r}")
        value = list(items)  # a scalar is a list of one, so converters see one form
    elif kind is str and not isinstance(value, str):
        raise VarbenchError(f"{where} must be a string; got {value!r}")
    minimum = meta.get("minimum")
    if minimum is not None and kind in (int, float) and value < minimum:
        raise VarbenchError(f"{where} must be >= {minimum}; got {value!r}")
    convert = meta.get("convert")
    return convert(value) if convert else value


def build(registry: dict[str, type], what: str, name: str, options: dict[str, Any]) -> Any:
    """Instantiate ``registry[name]`` with validated ``options``."""
    load_builtins()
    if name not in registry:
        raise VarbenchError(f"unknown {what} {name!r}; valid {what}s: {', '.join(sorted(registry))}")
    cls = registry[name]
    fields = options_of(cls)
    unknown = sorted(set(options) - set(fields))
    if unknown:
        valid = ", ".join(fields) if fields else "(none)"
        raise VarbenchError(f"unknown option {unknown[0]!r} for {what} {name!r}; valid options: {valid}")
    checked = {fields[k].name: _check_option(f"{what} {name!r}", k, fields[k], v) for k, v in options.items()}
    instance = cls(**checked)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        validate()
    return instance


def resolve_problem(spec: Any) -> Problem:
    """A :class:`Problem` from a spec string (``"gaussian:cost=square,k=0"``), or the object itself."""
    return _resolve(spec, PROBLEMS, "problem", Problem)


def resolve_estimator(spec: Any) -> Estimator:
    """An :class:`Estimator` from a spec string (``"score_function:baseline=mean,samples=4"``), or the object."""
    return _resolve(spec, ESTIMATORS, "estimator", Estimator)


def _resolve(spec_or_obj: Any, registry: dict[str, type], what: str, base: type) -> Any:
    if isinstance(spec_or_obj, base):
        return spec_or_obj
    if isinstance(spec_or_obj, str):
        name, options = parse_spec(spec_or_obj)
        return build(registry, what, name, options)
    raise VarbenchError(f"expected a {what} spec string or varbench.{base.__name__}, got {type(spec_or_obj).__name__}")


def describe(cls: type) -> list[dict[str, Any]]:
    """Option table of a class for ``varbench list``."""
    rows = []
    for key, f in options_of(cls).items():
        rows.append(dict(name=key, default=plain(f.default), doc=f.metadata.get("doc", ""),
                         choices=f.metadata.get("choices")))
    return rows

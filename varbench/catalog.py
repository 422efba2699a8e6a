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
import importlib.util
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
    """Import the plugin ``module``, whose ``@register_problem`` / ``@register_estimator`` decorators add its
    classes; returns the module.

    Args:
      module: a dotted module name (``my_package.my_estimators``), or the path of a Python file
        (``path/to/my_estimators.py``; relative paths from the working directory), imported as a module named
        after the file.
      source: where the plugin was named (a config file), for messages.

    Returns:
      The imported module.

    Raises:
      VarbenchError: one line naming the plugin: it cannot be imported, or it registers a name that exists.
        Importing the same module again is harmless.
    """
    if not isinstance(module, str) or not module.strip():
        raise VarbenchError(f"a plugin is a module name such as 'my_package.my_estimators' or a .py file; got "
                            f"{module!r}")
    load_builtins()
    name = module.strip()
    label = f"plugin {name!r}" + (f" ({source})" if source else "")
    if name.endswith(".py"):
        return _load_plugin_file(name, label)
    if name in sys.modules:
        return sys.modules[name]
    # A plugin file in the working directory is found as `python -m` would find it, also from the console
    # script (whose sys.path lacks the working directory); appended, so it never shadows an installed package, and
    # removed again, so that later imports of the process never pick up files from the working directory.
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = f"no module named {err.name!r}" if err.name else str(err)
        raise VarbenchError(f"{label} could not be imported: {missing} (is it installed, on PYTHONPATH, or in the "
                            "working directory?)") from None
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure inside a user's module is one line
        raise _import_failure(label, err) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _import_failure(label: str, err: BaseException) -> VarbenchError:
    """What a plugin's failure to import is reported as: one line naming the plugin."""
    if isinstance(err, VarbenchError):
        return VarbenchError(f"{label}: {err}")
    return VarbenchError(f"{label} failed to import: {type(err).__name__}: {err}".replace("\n", " "))


def _load_plugin_file(path: str, label: str) -> Any:
    """Import the Python file ``path`` as the module named after it (so that pickled objects of its classes find
    it again, in this process and in a Dask worker that loads the same file)."""
    file = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(file))[0]
    if not os.path.isfile(file):
        raise VarbenchError(f"{label} could not be imported: no file {file!r}")
    loaded = sys.modules.get(name)
    if loaded is not None:
        if os.path.abspath(getattr(loaded, "__file__", "") or "") == file:
            return loaded
        raise VarbenchError(f"{label}: a module named {name!r} is already imported (from "
                            f"{getattr(loaded, '__file__', None) or 'elsewhere'}); rename the file")
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - a failure inside a user's file is one line
        del sys.modules[name]
        raise _import_failure(label, err) from None
    return module


def problem_names() -> list[str]:
    """The registered problem names, sorted (built-ins and entry-point plugins loaded first)."""
    load_builtins()
    return sorted(PROBLEMS)


def estimator_names() -> list[str]:
    """The registered estimator names, sorted (built-ins and entry-point plugins loaded first)."""
    load_builtins()
    return sorted(ESTIMATORS)


def build(registry: dict[str, type], what: str, name: str, options: dict[str, Any]) -> Any:
    """Instantiate ``registry[name]`` with ``options`` (by the names users write), checked on construction.

    An estimator's spec may also carry the options of a class it selects by them (``spec_variants``:
    ``score_function:returns=to_go`` builds the sequential score function) and those of a wrapper that accepts it
    (``pathwise:control_variate=delta`` builds ``DeltaControlVariate(base=Pathwise())``).

    Args:
      registry: :data:`PROBLEMS` or :data:`ESTIMATORS`.
      what: ``"problem"`` or ``"estimator"``, for messages.
      name: the registered name.
      options: the spec's options, by key.

    Returns:
      The object.
    """
    load_builtins()
    if name not in registry:
        raise VarbenchError(f"unknown {what} {name!r}; valid {what}s: {', '.join(sorted(registry))}")
    cls = registry[name]
    keys = [key for key, _ in _spec_fields(cls)]
    unknown = sorted(set(options) - set(keys))
    if unknown:
        valid = ", ".join(dict.fromkeys(keys)) if keys else "(none)"
        raise VarbenchError(f"unknown option {unknown[0]!r} for {what} {name!r}; valid options: {valid}")
    wrapped = [(w, {k: v for k, v in options.items() if k in w.spec_options()}) for w in _wrappers(cls)]
    rest = {k: v for k, v in options.items() if not any(k in given for _, given in wrapped)}
    obj = _construct(name, cls, rest)
    for wrapper, given in wrapped:
        obj = wrapper.from_spec(obj, given) if given else obj
    return obj


def _construct(name: str, cls: type, options: dict[str, Any]) -> Any:
    """``cls``, or the variant the options select, built from them (checked on construction: core.options)."""
    chosen = next((v for v in getattr(cls, "spec_variants", ()) if v.selected_by(options)), cls)
    fields = options_of(chosen)
    if chosen is not cls:
        foreign = [k for k in options if k not in fields]
        if foreign:
            raise VarbenchError(f"option {foreign[0]!r} of estimator {name!r} does not apply with the options of "
                                f"{chosen.__name__} given; valid options there: {', '.join(fields)}")
    # Keys of an unselected variant are at that variant's defaults, which is what ``cls`` does: dropped.
    return chosen(**{fields[k].name: v for k, v in options.items() if k in fields})


def _wrappers(cls: type) -> list[type]:
    """The wrapper estimators (:data:`varbench.estimators.WRAPPERS`) that accept estimators of class ``cls``."""
    if not issubclass(cls, Estimator):
        return []
    return [w for w in importlib.import_module("varbench.estimators").WRAPPERS if w.accepts(cls)]


def _spec_fields(cls: type) -> list[tuple[str, dataclasses.Field]]:
    """The options a spec of ``cls`` may carry, by key: its own, then its wrappers', then its variants' (a key
    may appear more than once when a variant shares it)."""
    fields = list(options_of(cls).items())
    for wrapper in _wrappers(cls):
        fields += list(wrapper.spec_options().items())
    for variant in getattr(cls, "spec_variants", ()):
        fields += list(options_of(variant).items())
    return fields


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
    """Option table of a class for ``varbench list``: every option its spec may carry (:func:`build`).

    Args:
      cls: a registered problem or estimator class.

    Returns:
      One row per option key (``name``, ``default``, ``doc``, ``choices``); a key that a variant shares takes the
      first class's default and doc and every class's choices.
    """
    rows: dict[str, dict[str, Any]] = {}
    for key, f in _spec_fields(cls):
        choices = f.metadata.get("choices")
        if key in rows:
            known = rows[key]["choices"]
            if known is not None and choices is not None:
                rows[key]["choices"] = known + tuple(c for c in choices if c not in known)
            continue
        rows[key] = dict(name=key, default=plain(f.default), doc=f.metadata.get("doc", ""), choices=choices)
    return list(rows.values())

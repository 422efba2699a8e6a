"""Registries of problems and estimators, and construction from spec strings with validated options."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, TypeVar

from varbench.errors import VarbenchError
from varbench.pytree import options_of
from varbench.spec import format_spec, parse_spec

T = TypeVar("T")

PROBLEMS: dict[str, type] = {}
ESTIMATORS: dict[str, type] = {}


def register_problem(cls: type[T]) -> type[T]:
    PROBLEMS[cls.name] = cls
    return cls


def register_estimator(cls: type[T]) -> type[T]:
    ESTIMATORS[cls.name] = cls
    return cls


def _load_plugins() -> None:
    # Importing the packages runs their @register decorators. Done lazily so that `problems` and `estimators`
    # may import from `varbench` without an import cycle.
    import estimators  # noqa: F401
    import problems  # noqa: F401


def problem_names() -> list[str]:
    _load_plugins()
    return sorted(PROBLEMS)


def estimator_names() -> list[str]:
    _load_plugins()
    return sorted(ESTIMATORS)


def _check_option(owner: str, key: str, field: dataclasses.Field, value: Any) -> Any:
    meta = field.metadata
    kind = meta.get("kind")
    where = f"option {key!r} of {owner}"
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise VarbenchError(f"{where} must be one of {', '.join(map(str, meta['choices']))}; got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise VarbenchError(f"{where} must be an integer; got {value!r}")
        value = int(value)
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise VarbenchError(f"{where} must be a number; got {value!r}")
        value = float(value)
    elif kind is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in items):
            raise VarbenchError(f"{where} must be a number or a list of numbers; got {value!r}")
    elif kind is str and not isinstance(value, str):
        raise VarbenchError(f"{where} must be a string; got {value!r}")
    minimum = meta.get("minimum")
    if minimum is not None and kind in (int, float) and value < minimum:
        raise VarbenchError(f"{where} must be >= {minimum}; got {value!r}")
    convert = meta.get("convert")
    return convert(value) if convert else value


def build(registry: dict[str, type], what: str, name: str, options: dict[str, Any]) -> Any:
    """Instantiate ``registry[name]`` with validated ``options``."""
    _load_plugins()
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


def resolve(spec_or_obj: Any, registry: dict[str, type], what: str, base: type) -> Any:
    if isinstance(spec_or_obj, base):
        return spec_or_obj
    if isinstance(spec_or_obj, str):
        name, options = parse_spec(spec_or_obj)
        return build(registry, what, name, options)
    raise VarbenchError(f"expected a {what} spec string or {base.__name__}, got {type(spec_or_obj).__name__}")


def resolve_problem(spec: Any) -> Any:
    from problems.base import Problem
    _load_plugins()
    return resolve(spec, PROBLEMS, "problem", Problem)


def resolve_estimator(spec: Any) -> Any:
    from estimators.base import Estimator
    _load_plugins()
    return resolve(spec, ESTIMATORS, "estimator", Estimator)


def spec_of(obj: Any) -> str:
    """The canonical spec string of a problem or estimator.

    A problem lists every option (the point of comparison should be explicit in every record); an estimator
    lists only options that differ from their defaults (estimators have many options that most uses leave
    alone, such as the critic of sequential variants), so ``"score_function"`` stays ``"score_function"``.
    """
    from problems.base import Problem
    values = {}
    for key, f in options_of(type(obj)).items():
        value, default = _plain(getattr(obj, f.name)), f.default
        if f.metadata.get("convert") and default is not None:
            default = f.metadata["convert"](default)
        if isinstance(obj, Problem) or value != _plain(default):
            values[key] = value
    return format_spec(obj.name, values)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def describe(cls: type) -> list[dict[str, Any]]:
    """Option table of a class for ``varbench list``."""
    rows = []
    for key, f in options_of(cls).items():
        rows.append(dict(name=key, default=_plain(f.default), doc=f.metadata.get("doc", ""),
                         choices=f.metadata.get("choices")))
    return rows


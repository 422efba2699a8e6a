"""Registration of problem and estimator classes, built in or from plugins.

``@register_problem`` and ``@register_estimator`` only record a class under its ``name``; they import nothing.
The application edge (:mod:`varbench.catalog`) imports the built-in packages and the plugins, whose decorators
then fill these tables, and builds instances from spec strings.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import TypeVar

from varbench.core.errors import VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.problem import Problem

T = TypeVar("T", bound=type)

PROBLEMS: dict[str, type[Problem]] = {}
ESTIMATORS: dict[str, type[Estimator]] = {}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def origin(cls: type) -> str:
    """Where a registered class comes from.

    Args:
      cls: a problem or estimator class.

    Returns:
      ``"built in"``, or the name of the plugin module that defines it.
    """
    module = cls.__module__
    return "built in" if module == "varbench" or module.startswith("varbench.") else module


def _register(registry: dict[str, type], what: str, base: type, cls: T) -> T:
    where = f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else repr(cls)
    if not isinstance(cls, type) or not issubclass(cls, base):
        raise VarbenchError(f"register_{what} takes a subclass of varbench.{base.__name__}; got {where}")
    if not dataclasses.is_dataclass(cls) or "__dataclass_fields__" not in vars(cls):
        raise VarbenchError(f"{what} class {where} must be decorated with @varbench.pytree_dataclass (below "
                            f"@varbench.register_{what})")
    name = vars(cls).get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise VarbenchError(f"{what} class {where} needs its own class attribute name = '...' (lower-case letters, "
                            f"digits and '_', starting with a letter); got {name!r}")
    if inspect.isabstract(cls):
        missing = ", ".join(f"{m}()" for m in sorted(cls.__abstractmethods__))
        raise VarbenchError(f"{what} class {where} does not implement {missing}, which every {what} must define")
    existing = registry.get(name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        raise VarbenchError(f"{what} name {name!r} of {where} ({origin(cls)}) is already registered by "
                            f"{existing.__module__}.{existing.__qualname__} ({origin(existing)}); choose another name")
    registry[name] = cls  # re-registering the same class (a module imported again) replaces it
    return cls


def register_problem(cls: T) -> T:
    """Class decorator: make a :class:`Problem` subclass available by its ``name`` in specs, suites and the CLI.

    Apply it above :func:`varbench.pytree_dataclass`.

    Args:
      cls: a :class:`Problem` subclass decorated with ``@pytree_dataclass``, with its own class attribute ``name``.

    Returns:
      ``cls``, recorded in :data:`PROBLEMS` under its name.

    Raises:
      VarbenchError: one line naming the class, if it leaves an abstract method undefined, has no ``name`` of its
        own, is not a pytree dataclass, or reuses a name another class registered.
    """
    return _register(PROBLEMS, "problem", Problem, cls)


def register_estimator(cls: T) -> T:
    """Class decorator: make an :class:`Estimator` subclass available by its ``name`` in specs, suites and the CLI.

    Args:
      cls: an :class:`Estimator` subclass decorated with ``@pytree_dataclass``, with its own class attribute
        ``name``.

    Returns:
      ``cls``, recorded in :data:`ESTIMATORS` under its name.

    Raises:
      VarbenchError: as :func:`register_problem`.
    """
    return _register(ESTIMATORS, "estimator", Estimator, cls)

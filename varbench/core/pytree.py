"""Frozen dataclasses that are JAX pytrees, with documented, validated options.

Problems and estimators are such dataclasses. Fields marked ``static`` (choices such as a cost's name, shapes,
sample counts) are part of the pytree's structure, so changing them compiles a new kernel; every other field
(numbers such as ``k`` or a decay rate) is a leaf, traced by ``jit`` and batchable by ``vmap``, so changing it
does not recompile.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax

from varbench.core.options import check_option

_MISSING = dataclasses.MISSING


def option(
    default: Any,
    doc: str,
    *,
    static: bool = True,
    choices: Sequence[Any] | None = None,
    kind: type | None = None,
    minimum: float | None = None,
    convert: Callable[[Any], Any] | None = None,
    key: str | None = None,
    listed_at_default: bool = True,
) -> Any:
    """A user-settable option (``spec:key=value``) with its documentation and validation rules.

    Args:
      default: value when the option is not given.
      doc: one line for ``varbench list``.
      static: if True the value is part of the compiled kernel's structure (recompiles when changed).
      choices: the allowed values, if finite.
      kind: ``int``, ``float``, ``str`` or ``list`` (a scalar or list of floats); checked on construction.
      minimum: smallest allowed value for numbers.
      convert: turns a validated value into the stored value (e.g. a list into a tuple).
      key: the name users write, when it differs from the field's name.
      listed_at_default: a problem's canonical spec lists this option even at its default (False for options
        added after records were written, so existing specs keep their spelling).

    Returns:
      A dataclass field carrying these rules in its metadata; the object is checked against them when it is built.
    """
    meta = dict(static=static, doc=doc, choices=None if choices is None else tuple(choices), kind=kind,
                minimum=minimum, convert=convert, option=True, key=key,
                listed_at_default=listed_at_default)
    return dataclasses.field(default=default, metadata=meta)


def static_field(default: Any = _MISSING, **kwargs: Any) -> Any:
    """A field that belongs to the pytree structure (like a static option) but that users do not set in specs.

    Args:
      default: the value when not given (none: the field is required).
      **kwargs: passed to :func:`dataclasses.field` (``default_factory``, ``repr``, ...).

    Returns:
      The dataclass field.
    """
    return dataclasses.field(default=default, metadata=dict(static=True), **kwargs)


def pytree_dataclass(cls: type) -> type:
    """Make ``cls`` a frozen dataclass registered as a pytree (static fields as metadata).

    Registered with ``register_pytree_with_keys`` rather than ``register_dataclass``: with the latter (jax 0.10),
    tree structures of two *different* classes with the same field names compare equal (e.g. ``ARM()`` and
    ``DisARM()``, or ``Pathwise(samples=2)`` and ``RLOO(samples=2)``), and JAX's caches, which trust that
    equality, can then hand one estimator's traced kernel to another. Here the class is part of the structure.

    Args:
      cls: a :class:`varbench.Problem` or :class:`varbench.Estimator` subclass whose fields are made with
        :func:`option` or :func:`static_field` (or plain annotations: leaves).

    Returns:
      ``cls`` as a frozen dataclass whose construction checks every option (then calls ``validate()``).
    """
    _check_options_on_construction(cls)
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten_with_keys(obj: Any) -> tuple:
        return tuple((jax.tree_util.GetAttrKey(n), getattr(obj, n)) for n in data), tuple(getattr(obj, n) for n in meta)

    def flatten(obj: Any) -> tuple:
        return tuple(getattr(obj, n) for n in data), tuple(getattr(obj, n) for n in meta)

    def unflatten(aux: tuple, children: Any) -> Any:
        # Leaves may be tracers or placeholders: bypass __init__ (and its validation), as register_dataclass does.
        obj = object.__new__(cls)
        for name, value in zip(data + meta, tuple(children) + tuple(aux)):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def _check_options_on_construction(cls: type) -> None:
    """Give ``cls`` a ``__post_init__`` that checks every option against its rules, stores the converted value and
    then calls ``validate()`` (the class's checks of option combinations).

    A value that IS the field's default is taken as it is (None can mean "computed from the other options").
    An object is checked wherever it is built: from a spec string by the catalog, or in Python. Values that are JAX
    arrays (tracers of an object rebuilt inside a compiled kernel, such as ``dataclasses.replace`` on an estimator
    whose numeric options are traced) are left alone: the object they came from was checked when it was built.
    """
    previous = cls.__dict__.get("__post_init__")

    def __post_init__(self: Any) -> None:
        owner = f"{getattr(type(self), 'role', 'object')} {getattr(type(self), 'name', type(self).__name__)!r}"
        traced = False
        for key, field in options_of(type(self)).items():
            value = getattr(self, field.name)
            if isinstance(value, jax.Array):
                traced = True
                continue
            if value is field.default:  # a default such as None ("computed") needs no rule
                continue
            object.__setattr__(self, field.name, check_option(owner, key, field, value))
        if previous is not None:
            previous(self)
        validate = getattr(self, "validate", None)
        if validate is not None and not traced:
            validate()

    cls.__post_init__ = __post_init__


def options_of(cls: type) -> dict[str, dataclasses.Field]:
    """The user-settable option fields of a problem or estimator class.

    Args:
      cls: a class decorated with :func:`pytree_dataclass`.

    Returns:
      ``{key: field}`` in field order, keyed by the name users write in specs (the option's ``key`` if it has one).
    """
    return {f.metadata.get("key") or f.name: f for f in dataclasses.fields(cls) if f.metadata.get("option")}

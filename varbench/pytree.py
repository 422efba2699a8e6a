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
    """
    meta = dict(static=static, doc=doc, choices=None if choices is None else tuple(choices), kind=kind,
                minimum=minimum, convert=convert, option=True, key=key)
    return dataclasses.field(default=default, metadata=meta)


def static_field(default: Any = _MISSING, **kwargs: Any) -> Any:
    """A non-option field that belongs to the pytree structure."""
    return dataclasses.field(default=default, metadata=dict(static=True), **kwargs)


def pytree_dataclass(cls: type) -> type:
    """Make ``cls`` a frozen dataclass registered as a pytree (static fields as metadata)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def options_of(cls: type) -> dict[str, dataclasses.Field]:
    """The user-settable option fields of a problem or estimator class, by the name users write."""
    return {f.metadata.get("key") or f.name: f for f in dataclasses.fields(cls) if f.metadata.get("option")}

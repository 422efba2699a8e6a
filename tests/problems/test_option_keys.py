"""Spec keys equal field names, except where the field would hide a method or attribute of the base class."""

from __future__ import annotations

import dataclasses
import keyword

import pytest

from varbench import catalog
from varbench.core.estimator import Estimator
from varbench.core.problem import Problem
from varbench.core.pytree import options_of
from varbench.core.registry import ESTIMATORS, PROBLEMS

catalog.load_builtins()


def _renamed(registry: dict[str, type]) -> list[tuple[str, str, str]]:
    return [(name, key, field.name) for name, cls in sorted(registry.items())
            for key, field in options_of(cls).items() if key != field.name]


@pytest.mark.parametrize("base,registry", [(Problem, PROBLEMS), (Estimator, ESTIMATORS)], ids=["problem", "estimator"])
def test_a_key_differs_from_its_field_only_where_the_field_cannot_take_its_name(base, registry):
    for name, key, field in _renamed(registry):
        assert keyword.iskeyword(key) or hasattr(base, key), \
            f"{name}: option {key!r} is the field {field!r}; name the field {key!r}"


def test_the_renamed_keys_build_the_same_objects():
    gaussian, vae = PROBLEMS["gaussian"], PROBLEMS["linear_vae"]
    assert catalog.build(PROBLEMS, "problem", "gaussian", {"cost": "cos"}) == gaussian(cost_name="cos")
    assert dataclasses.replace(vae(), latent_dim=3) == catalog.build(PROBLEMS, "problem", "linear_vae", {"latent": 3})

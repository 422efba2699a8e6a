"""Adding a built-in problem or estimator is one file plus its test: this fails when a registered built-in has no
test that names it (as a spec, ``"name"`` or ``"name:..."``, or by constructing its class) in the test package that
mirrors its own."""

from __future__ import annotations

import pathlib
import re

import pytest

from varbench import catalog

TESTS = pathlib.Path(__file__).resolve().parent


def _named_in(folder: str, cls: type) -> bool:
    pattern = re.compile(r"""["']""" + re.escape(cls.name) + r"""["':]|\b""" + re.escape(cls.__name__) + r"\(")
    return any(pattern.search(p.read_text(encoding="utf-8")) for p in (TESTS / folder).glob("test_*.py"))


@pytest.mark.parametrize("name", catalog.problem_names())
def test_problem_has_a_test(name):
    if catalog.origin(catalog.PROBLEMS[name]) == "built in":
        assert _named_in("problems", catalog.PROBLEMS[name]), f"built-in problem {name!r} is named by no test in tests/problems"


@pytest.mark.parametrize("name", catalog.estimator_names())
def test_estimator_has_a_test(name):
    if catalog.origin(catalog.ESTIMATORS[name]) == "built in":
        assert _named_in("estimators", catalog.ESTIMATORS[name]), f"built-in estimator {name!r} is named by no test in tests/estimators"

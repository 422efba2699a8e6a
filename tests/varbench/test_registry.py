import pytest
from varbench.estimators import Pathwise, ScoreFunction
from varbench.problems import Gaussian

from varbench.catalog import (
    describe,
    estimator_names,
    problem_names,
    resolve_estimator,
    resolve_problem,
    spec_of,
)
from varbench.core.errors import VarbenchError


def test_registries_list_the_foundation():
    assert "gaussian" in problem_names()
    assert {"score_function", "pathwise", "measure_valued"} <= set(estimator_names())


def test_resolve_builds_validated_instances():
    p = resolve_problem("gaussian:cost=cos,k=2,dim=3")
    assert isinstance(p, Gaussian) and p.cost_name == "cos" and p.k == 2.0 and p.dim == 3
    e = resolve_estimator("score_function:baseline=optimal,samples=4")
    assert isinstance(e, ScoreFunction) and e.baseline == "optimal" and e.samples == 4
    assert resolve_estimator(Pathwise()) == Pathwise()


@pytest.mark.parametrize("spec, fragment", [
    ("nope", "valid problems: .*gaussian"),
    ("gaussian:foo=1", "valid options: cost, k, dim"),
    ("gaussian:cost=tan", "must be one of linear, square, exp_square, cos"),
    ("gaussian:dim=0", "must be >= 1"),
    ("gaussian:dim=1.5", "must be an integer"),
    ("gaussian:k=abc", "must be a number"),
    ("gaussian:cost=exp_square,k=-1", "must be >= 0 for cost exp_square"),
])
def test_bad_problem_specs_name_the_valid_choices(spec, fragment):
    with pytest.raises(VarbenchError, match=fragment):
        resolve_problem(spec)


@pytest.mark.parametrize("spec, fragment", [
    ("nope", "valid estimators:"),
    ("score_function:baseline=fancy", "must be one of none, mean, optimal"),
    ("score_function:baseline=mean", "needs samples >= 2"),
    ("pathwise:samples=0", "must be >= 1"),
])
def test_bad_estimator_specs_name_the_valid_choices(spec, fragment):
    with pytest.raises(VarbenchError, match=fragment):
        resolve_estimator(spec)


def test_spec_of_is_canonical_and_round_trips():
    p = resolve_problem("gaussian:dim=2,cost=cos")
    assert spec_of(p) == "gaussian:cost=cos,k=1,dim=2"
    assert resolve_problem(spec_of(p)) == p
    assert spec_of(resolve_estimator("pathwise")) == "pathwise"
    assert spec_of(resolve_estimator("score_function:samples=3,baseline=mean")) == "score_function:baseline=mean,samples=3"
    assert spec_of(resolve_estimator("measure_valued")) == "measure_valued"


def test_describe_lists_options_with_defaults_and_docs():
    rows = {r["name"]: r for r in describe(Gaussian)}
    assert rows["cost"]["default"] == "square" and rows["cost"]["choices"][:4] == ("linear", "square", "exp_square",
                                                                                  "cos")
    assert rows["k"]["doc"]

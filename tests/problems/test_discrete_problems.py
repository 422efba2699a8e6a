"""The bernoulli and categorical problems against independent derivations (enumeration, finite differences)."""

import itertools

import numpy as np
import pytest
from varbench.problems import Bernoulli, Categorical
from varbench.problems.categorical import default_cost_table

import varbench
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _bernoulli_objective(logits, target):
    """Brute-force enumeration of the 2^dim outcomes."""
    p = _sigmoid(np.asarray(logits, float))
    total = 0.0
    for bits in itertools.product([0, 1], repeat=len(p)):
        b = np.array(bits, float)
        total += np.prod(np.where(b == 1, p, 1 - p)) * np.sum((b - target) ** 2)
    return total


def _categorical_objective(logits, table):
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    total = 0.0
    for classes in itertools.product(range(logits.shape[1]), repeat=logits.shape[0]):
        weight = np.prod([probs[d, k] for d, k in enumerate(classes)])
        total += weight * sum(table[d, k] for d, k in enumerate(classes))
    return total


def _finite_difference(f, x, h=1e-6):
    x = np.asarray(x, float)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        grad[idx] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("spec, logits, target", [
    ("bernoulli", [0.0], np.array([0.499])),
    ("bernoulli:dim=3,target=[0.1,0.7,-0.5]", [0.3, -1.2, 2.0], np.array([0.1, 0.7, -0.5])),
    ("bernoulli:dim=2,target=0.25", [-0.4, 0.9], np.array([0.25, 0.25])),
])
def test_bernoulli_exact_objective_and_gradient(spec, logits, target):
    problem = resolve_problem(spec)
    params = prepare_params(problem, {"logits": logits}, np.float64)
    value, grad = exact_objective_and_gradient(problem, params)
    assert value == pytest.approx(_bernoulli_objective(logits, target), rel=1e-12)
    fd = _finite_difference(lambda x: _bernoulli_objective(x, target), logits)
    np.testing.assert_allclose(grad["logits"], fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("spec, logits", [
    ("categorical", [[0.3, -0.2, 0.5]]),
    ("categorical:dim=2,classes=4", [[0.3, -0.2, 0.5, 1.0], [0.0, 2.0, -1.0, 0.1]]),
    ("categorical:dim=2,classes=2,costs=[1,-2,0.5,3]", [[0.7, -0.1], [1.5, 0.2]]),
])
def test_categorical_exact_objective_against_enumeration(spec, logits):
    problem = resolve_problem(spec)
    logits = np.asarray(logits, float)
    table = (np.asarray(problem.costs, float).reshape(problem.dim, problem.classes) if problem.costs is not None
             else default_cost_table(problem.dim, problem.classes))
    params = prepare_params(problem, {"logits": logits}, np.float64)
    value, grad = exact_objective_and_gradient(problem, params)
    assert value == pytest.approx(_categorical_objective(logits, table), rel=1e-12)
    fd = _finite_difference(lambda x: _categorical_objective(x, table), logits)
    np.testing.assert_allclose(grad["logits"], fd, rtol=1e-6, atol=1e-10)


def test_default_cost_table_is_documented_formula():
    table = default_cost_table(2, 4)
    assert table.shape == (2, 4)
    assert table[1, 2] == pytest.approx((2.5 / 4 - 2 / 3) ** 2)
    assert len(np.unique(table.argmin(1))) == 2  # the two variables prefer different classes


def test_score_function_exact_mode_enumerates_the_latent():
    # REINFORCE at target 0.499, logit 0: g = (b - 1/2)(b - t)^2, b ~ Bernoulli(1/2); variance by hand.
    res = varbench.measure("bernoulli", "score_function", params={"logits": 0.0}, method="exact")
    g1, g0 = 0.5 * 0.501 ** 2, -0.5 * 0.499 ** 2
    assert res.grad_mean["logits"][0] == pytest.approx(0.0005, rel=1e-10)
    assert res.variance["logits"][0] == pytest.approx((g1 ** 2 + g0 ** 2) / 2 - 0.0005 ** 2, rel=1e-10)
    assert res.variance["logits"][0] == pytest.approx(1.5625e-2, rel=1e-4)
    assert np.log(res.variance["logits"][0]) == pytest.approx(-4.159, abs=1e-3)
    assert res.num_samples == 2


@pytest.mark.parametrize("spec, fragment", [
    ("bernoulli:dim=2,target=[0.1,0.2,0.3]", "one number or a list of dim=2"),
    ("bernoulli:target=[true]", "number or a list of numbers"),
    ("categorical:classes=3,costs=[1,2]", "classes=3 or dim\\*classes=3"),
    ("categorical:costs=[[1,2,3]]", "flat list of numbers"),
    ("categorical:classes=1", ">= 2"),
])
def test_bad_options_are_one_line_errors(spec, fragment):
    with pytest.raises(VarbenchError, match=fragment):
        resolve_problem(spec)


def test_problem_flags():
    for cls in (Bernoulli, Categorical):
        assert cls.discrete and not cls.reparameterizable and cls.has_exact_objective

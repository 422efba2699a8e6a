import json

import numpy as np
import pytest

import varbench
from varbench.cli import main
from varbench.core.errors import VarbenchError
from varbench.engine import harness
from varbench.engine.prng import PRNG_IMPLS, make_key
from varbench.testing import bias_test

PROBLEM = "gaussian:cost=square,dim=2"


def test_unknown_prng_is_one_line_naming_the_choices(capsys):
    with pytest.raises(VarbenchError, match="valid choices: threefry, rbg, unsafe_rbg"):
        varbench.measure(PROBLEM, "pathwise", num_samples=100, prng="mersenne")
    assert main(["run", "--problem", PROBLEM, "--estimator", "pathwise", "--prng", "mersenne"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threefry" in err and "unsafe_rbg" in err


def test_key_carries_the_chosen_implementation():
    dtypes = {name: str(make_key(0, name).dtype) for name in PRNG_IMPLS}
    assert dtypes == {"threefry": "key<fry>", "rbg": "key<rbg>", "unsafe_rbg": "key<urbg>"}


def test_each_generator_compiles_its_own_kernel_then_reuses_it():
    harness.clear_cache()
    assert varbench.measure(PROBLEM, "pathwise", num_samples=500, prng="threefry").compile_seconds > 0
    first = varbench.measure(PROBLEM, "pathwise", num_samples=500, seed=3, prng="rbg")
    again = varbench.measure(PROBLEM, "pathwise", num_samples=900, seed=4, prng="rbg")
    assert first.compile_seconds > 0 and again.compile_seconds == 0.0


def test_generators_draw_different_streams_from_one_seed():
    means = [varbench.measure(PROBLEM, "score_function", num_samples=1000, seed=7, prng=p).grad_mean["mean"]
             for p in PRNG_IMPLS]
    assert not np.array_equal(means[0], means[1]) and not np.array_equal(means[1], means[2])


@pytest.mark.parametrize("prng", ["rbg", "unsafe_rbg"])
@pytest.mark.parametrize("estimator", ["score_function", "pathwise"])
def test_faster_generators_stay_unbiased_with_the_exact_variance(estimator, prng):
    # Holm-corrected z-test of the mean against the exact gradient, and the exact variance (quadrature) inside
    # the kurtosis-aware 99.9% band implied by the measured interval.
    test = bias_test(PROBLEM, estimator, num_samples=200_000, seed=11, prng=prng)
    assert not any(r.any() for r in test.rejected.values()), test.z
    exact = varbench.measure(PROBLEM, estimator, method="exact")
    for name, ci in test.result.variance_ci.items():
        lo, hi = ci[..., 0], ci[..., 1]
        width = (np.log(hi) - np.log(lo)) * (3.29 / 1.96) / 2  # widen the 95% log-interval to 99.9%
        assert np.all(np.abs(np.log(test.result.variance[name] / exact.variance[name])) < width), name


def test_cli_passes_the_generator_through(capsys):
    assert main(["run", "--problem", PROBLEM, "--estimator", "pathwise", "--samples", "1000", "--prng",
                 "unsafe_rbg", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    direct = varbench.measure(PROBLEM, "pathwise", num_samples=1000, prng="unsafe_rbg")
    assert out["grad_mean"]["mean"] == pytest.approx(direct.grad_mean["mean"].tolist())

import dataclasses

import numpy as np
import pytest

import varbench
from varbench.core.errors import VarbenchError
from varbench.engine import compile_tier, harness, settings


@pytest.fixture
def optimize():
    """``optimize(rule)`` sets the compile tier rule for one test; the process's settings come back after it."""
    before = settings.current()
    yield lambda rule: settings.configure(**{**dataclasses.asdict(before), "optimize": rule})
    settings.configure(**dataclasses.asdict(before))


def test_short_runs_compile_fast_long_runs_fully_and_accelerators_always_fully(optimize):
    optimize("auto")
    assert compile_tier.tier(compile_tier.OPTIMIZE_FROM - 1, "cpu") == "fast"
    assert compile_tier.tier(compile_tier.OPTIMIZE_FROM, "cpu") == "full"
    assert compile_tier.tier(10, "gpu") == "full"
    assert compile_tier.compiler_options("full") == {}
    assert compile_tier.compiler_options("fast") == compile_tier.FAST_OPTIONS
    optimize("full")
    assert compile_tier.tier(10, "cpu") == "full"
    optimize("fast")
    assert compile_tier.tier(10 ** 9, "cpu") == "fast" and "always compile fast" in compile_tier.info()["optimize"]


def test_an_unknown_setting_is_refused_naming_the_choices(monkeypatch, optimize):
    monkeypatch.setenv(settings.OPTIMIZE_ENV, "fastest")
    with pytest.raises(VarbenchError, match="VARBENCH_OPTIMIZE must be one of auto, fast, full; got 'fastest'"):
        varbench.configure()
    with pytest.raises(VarbenchError, match="optimize must be one of auto, fast, full; got 'fastest'"):
        varbench.configure(optimize="fastest")
    monkeypatch.setenv(settings.OPTIMIZE_ENV, " Fast ")  # the environment's spelling is forgiven
    assert varbench.configure().optimize == "fast"


def test_each_tier_is_its_own_deterministic_kernel_and_both_measure_the_same_thing(monkeypatch, optimize):
    # A "long" run that stays cheap here: each estimate is 3 scalars (one noise draw, two gradient coordinates), so
    # 2^16 - 1 estimates fall short of the threshold and 2^16 reach it.
    monkeypatch.setattr(compile_tier, "OPTIMIZE_FROM", 3 * 2 ** 16)
    optimize("auto")  # the rule itself (the test run sets the fast tier)
    harness.clear_cache()
    short = varbench.measure("gaussian:cost=cos,k=2", "pathwise", num_samples=2 ** 16 - 1, chunk_size=1024)
    assert harness.compile_count() == 1 and short.compile_seconds > 0
    again = varbench.measure("gaussian:cost=cos,k=2", "pathwise", num_samples=2 ** 16 - 1, chunk_size=1024)
    assert again.compile_seconds == 0 and again.grad_mean["mean"][0] == short.grad_mean["mean"][0]
    long = varbench.measure("gaussian:cost=cos,k=2", "pathwise", num_samples=2 ** 16, chunk_size=1024)
    assert harness.compile_count() == 2 and long.compile_seconds > 0
    # The first 2^16 - 1 estimates are the same draws in both runs (one more in the long one): the tiers may round
    # differently, nothing more.
    for name in ("mean", "log_scale"):
        np.testing.assert_allclose(long.grad_mean[name], short.grad_mean[name], atol=0.02 * short.grad_se[name][0])
        np.testing.assert_allclose(long.variance[name], short.variance[name], rtol=1e-3)


def test_helpers_around_the_kernels_compile_at_the_short_run_tier_unless_told_otherwise(monkeypatch, optimize):
    import jax

    seen = []
    real_jit = jax.jit
    monkeypatch.setattr(compile_tier.jax, "jit", lambda fn, **kw: seen.append(kw.get("compiler_options")) or
                        real_jit(fn, **kw))
    optimize("auto")
    step = compile_tier.jit(lambda x: x * 2 + 1)
    assert step(np.float32(1)) == 3 and step(np.float32(2)) == 5
    optimize("full")
    assert step(np.float32(1)) == 3
    assert seen == [compile_tier.FAST_OPTIONS, None]  # one jitted function per tier, each built once


def test_options_this_xla_does_not_know_are_left_out(monkeypatch):
    # jax >= 0.4.30 is allowed; older XLA releases refuse a compilation that names an option they lack.
    monkeypatch.setattr(compile_tier, "FAST_OPTIONS", {**compile_tier.FAST_OPTIONS, "xla_no_such_option": True})
    assert "xla_no_such_option" not in compile_tier.compiler_options("fast")
    assert "xla_backend_optimization_level" in compile_tier.compiler_options("fast")

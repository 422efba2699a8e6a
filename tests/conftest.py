import os

import pytest

import varbench

# Keep the test run predictable on small CI machines: one host device unless a test asks for more.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The persistent compilation cache stays out of the default test run (tests/varbench/test_compile_cache.py tests it
# with directories of its own): a run neither depends on nor fills the user's cache, and every run measures the
# same (cold) compile times. Writing the run's thousands of kernels to one cache also once crashed JAX's cache
# writer here (a segfault in put_executable_and_time, not reproduced in isolation).
os.environ.setdefault("VARBENCH_CACHE_DIR", "off")
# Tests stream short runs, where compiling dominates: every kernel at the fast compile tier. The rule that picks a
# tier, and the agreement of the two tiers' results, are tested in tests/varbench/test_compile_tier.py.
os.environ.setdefault("VARBENCH_OPTIMIZE", "fast")
# The defaults above travel through the environment, so the subprocesses that tests start (the CLI, sharding over
# forced host devices) get them too. Applied here, before any test starts JAX's CPU backend, as the CLI does first
# thing: importing varbench applies nothing (tests/varbench/test_xla_settings.py), and XLA reads XLA_FLAGS (the
# single-threaded Eigen setting) only when its CPU backend starts.
varbench.configure()

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks")


def pytest_ignore_collect(collection_path, config):
    # tests/benchmarks is not part of the default run; `python -m pytest tests/benchmarks --benchmark-only`
    # runs it (pytest-benchmark's own switch).
    if str(collection_path) == BENCHMARKS and not config.getoption("benchmark_only", default=False):
        return True
    return None


def pytest_xdist_auto_num_workers(config):
    # pytest-benchmark measures nothing under xdist (its fixture's stats are None there): `-n auto` from pyproject
    # becomes one process when benchmarks are run.
    return 0 if config.getoption("benchmark_only", default=False) else None


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_kernels():
    """Forget compiled kernels after each test module. The default run compiles thousands of XLA executables in one
    process; kept alive they exhausted the process's memory mappings and XLA aborted mid-run (always at the same
    test, never when that test ran alone; the engine now also drops kernels near that limit, see
    varbench/engine/kernel_cache.py, and this keeps each worker's memory low). Kernels are still shared within a
    module."""
    yield
    import jax

    from varbench.engine import harness

    harness.clear_cache()
    jax.clear_caches()

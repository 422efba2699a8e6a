import os

# Keep the test run predictable on small CI machines: one host device unless a test asks for more.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmarks")


def pytest_ignore_collect(collection_path, config):
    # tests/benchmarks is not part of the default run; `python -m pytest tests/benchmarks --benchmark-only`
    # runs it (pytest-benchmark's own switch).
    if str(collection_path) == BENCHMARKS and not config.getoption("benchmark_only", default=False):
        return True
    return None

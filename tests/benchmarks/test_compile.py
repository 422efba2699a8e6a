"""Ahead-of-time compilation of the streaming kernel (``jit(...).lower(...).compile()``), cold caches each round."""

import jax
import pytest

from varbench.engine import harness, settings


@pytest.fixture
def no_persistent_cache():
    settings.configure(cache_dir=None)  # a disk hit would time reading a file, not compiling
    yield
    settings.configure()


def test_compile_kernel(benchmark, kernel_args, no_persistent_cache):
    args, chunk = kernel_args

    def cold_caches():
        harness.clear_cache()
        jax.clear_caches()  # JAX's own in-memory lowering/executable caches, or later rounds take microseconds

    def compile_kernel():
        _, seconds = harness.compiled_kernel(*args, chunk)
        assert seconds > 0  # really compiled, not served from varbench's cache

    benchmark.pedantic(compile_kernel, setup=cold_caches, rounds=3, iterations=1)

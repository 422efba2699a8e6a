"""Execution of the compiled kernel over 2^16 estimates, blocking on the result (compilation excluded)."""

import jax
import numpy as np

from varbench.engine import harness, stats

NUM_SAMPLES = 2 ** 16


def test_execute_kernel(benchmark, kernel_args):
    args, chunk = kernel_args
    compiled, _ = harness.compiled_kernel(*args, chunk)
    num_full, remainder = divmod(NUM_SAMPLES, chunk)

    def run():
        return jax.block_until_ready(compiled(*args, np.int32(num_full), np.int32(remainder)))

    moments = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert float(stats.to_moments(moments["mean"]).count) == NUM_SAMPLES  # the kernel returns power sums
    benchmark.extra_info["estimates_per_second"] = NUM_SAMPLES / benchmark.stats.stats.min

"""Per-chunk moment accumulation variants, timed inside the harness's loop (for accelerators).

The GPU profile (RESULTS.md) puts three quarters of the kernel's time in the per-chunk power sums. This times,
on the gaussian dim-``--dim`` pathwise estimates with the harness's chunk size: ``harness`` (stats.accumulate:
pilot cond on the first chunk, an unmasked pass, a masked fallback under a cond), ``masked`` (always one masked
pass, no fallback cond), ``bound`` (an unmasked pass with a fixed shift: no cond at all; a lower bound), and
``gemv`` (the bound's sums as one matrix-vector product over [u, u², u³, u⁴])::

    python benchmarks/moments_variants.py --dim 100 --chunk 131072 --samples 4194304
"""

from __future__ import annotations

import argparse
import time


def build(variant: str, dim: int, chunk: int):
    import jax
    import jax.numpy as jnp

    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.engine import columns, stats
    from varbench.engine._kernels import chunk_estimator
    from varbench.engine.subject import Subject

    problem = resolve_problem(f"gaussian:cost=square,dim={dim}")
    estimator = resolve_estimator("pathwise")
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    draw = chunk_estimator(Subject(problem, estimator, params), chunk)

    def flat(key):  # the (chunk, coordinates) block every variant below sums over its first axis
        return columns.as_columns(draw(key), chunk, jnp.float32)

    def loop(key, num_chunks):
        valid = jnp.ones(chunk, bool)
        init = stats.empty_power_sums(jnp.zeros(2 * dim, jnp.float32))

        def body(i, acc):
            values = flat(jax.random.fold_in(key, i))
            if variant == "harness":
                return stats.accumulate(acc, values, valid, i == 0, True)
            if variant == "masked":
                return stats.accumulate(acc, values, valid, i == 0, True, fallback=False)
            if variant == "bound":
                sums = stats.chunk_power_sums(values, None, acc.shift, acc.scale)
            else:  # gemv
                u = (values - acc.shift) * (1 / acc.scale)
                u2 = u * u
                s = jnp.ones((chunk,), u.dtype) @ jnp.concatenate([u, u2, u2 * u, u2 * u2], axis=1)
                sums = jnp.concatenate([jnp.full((1, 2 * dim), chunk, u.dtype), s.reshape(4, 2 * dim)])
            hi, lo = stats._compensated_add(acc.hi, acc.lo, sums)
            return stats.PowerSums(acc.shift, acc.scale, hi, lo, acc.nonfinite)

        return jax.lax.fori_loop(0, num_chunks, body, init)

    import numpy as np
    return jax.jit(loop).lower(jax.random.key(0), np.int32(1)).compile()


def main() -> None:
    import jax
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=2 ** 20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    variants = ("harness", "masked", "bound", "gemv")
    compiled = {v: build(v, args.dim, args.chunk) for v in variants}
    n = max(args.samples // args.chunk, 1)
    best = dict.fromkeys(variants, 0.0)
    for r in range(args.repeats):
        for v in variants:
            key = jax.random.key(r + 1)
            jax.block_until_ready(compiled[v](key, np.int32(1)))
            start = time.perf_counter()
            jax.block_until_ready(compiled[v](key, np.int32(n)))
            best[v] = max(best[v], n * args.chunk / (time.perf_counter() - start))
    print(f"{jax.default_backend()} ({jax.devices()[0].device_kind}); dim {args.dim}, chunk {args.chunk}; "
          f"estimates/s (fraction of 'bound'), best of {args.repeats}")
    print("| " + " | ".join(variants) + " |\n|" + "---:|" * len(variants))
    print("| " + " | ".join(f"{best[v]:.3g} ({best[v] / best['bound']:.2f})" for v in variants) + " |")


if __name__ == "__main__":
    main()

"""Per-chunk moment accumulation variants, timed inside the harness's loop, all compiled in one process.

Each variant is the harness's loop (noise drawn per chunk from ``fold_in`` keys, estimates of
``gaussian:cost=square,dim=D``, the harness's chunk size) with a different per-chunk reduction:

* ``floor``: the noise alone, summed (the chunked RNG floor: what no kernel can beat);
* ``estimates``: the estimates, each leaf summed (no moments: what the moments cost is the rest);
* ``harness``: :func:`varbench.engine.stats.accumulate` as the kernel calls it (pilot cond on the first chunk,
  an unmasked pass, a masked fallback under a cond), in the kernel's layout (:func:`columns.samples_axis`);
* ``masked``: always one masked pass, no fallback cond (the pilot still under a cond in the loop);
* ``blocked``: the harness with ``block=stats.SUM_BLOCK`` (the four powers summed over 32-sample blocks in one
  variadic reduce, then the blocks' sums by XLA), the CPU kernel's path;
* ``peeled``: the first chunk added before the loop (pilot chosen when tracing, no cond at all), then one masked
  pass per chunk;
* ``peeled_noise``: ``peeled`` with the chunk's noise written out once before the estimator reads it
  (``chunk_estimator(materialize_noise=True)``): the kernel's path on accelerators (``_kernels.streams_on_host``);
* ``bound``: an unmasked pass with a fixed shift (no cond at all; a lower bound of any exact variant);
* ``bound_blocked``: ``bound`` summed as ``blocked`` (what the CPU kernel would cost without its pilot and
  fallback conds, which read the chunk's estimates too);
* ``bound_noise``, ``harness_noise``, ``estimates_noise``: those with the noise written out once, as
  ``peeled_noise``;
* ``gemv``: the bound's sums as one matrix-vector product over ``[u, u², u³, u⁴]``;
* ``variadic``: the bound's four sums as ONE variadic reduce (``lax.reduce`` of four operands), so the chunk is
  read once;
* ``per_leaf``: the bound's sums per params leaf, no concatenation into one block;
* ``barrier``: the bound's sums of estimates first written out whole (``lax.optimization_barrier``), so XLA cannot
  recompute the noise draw and the estimator inside each of the reductions that read them;
* ``optimistic``: the bound with the ``valid`` rows mask, as one variadic reduce of five operands (count included),
  no finite check: what a kernel would pay that reran a run with a non-finite sum through the masked path.

::

    python benchmarks/moments_variants.py --dims 10 100 1000 --estimators score_function pathwise
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

VARIANTS = ("floor", "estimates", "estimates_noise", "harness", "blocked", "harness_noise", "masked", "peeled",
            "peeled_noise", "bound", "bound_blocked", "bound_noise", "gemv", "variadic", "per_leaf", "barrier",
            "optimistic")


def _sums(variant: str, values, valid, shift, scale, axis: int):
    """``(5, coordinates)`` power sums of one chunk (samples along ``axis``), unmasked, by ``variant``."""
    import jax
    import jax.numpy as jnp

    from varbench.engine import stats

    if variant in ("bound", "bound_blocked", "barrier"):
        values = jax.lax.optimization_barrier(values) if variant == "barrier" else values
        return stats.chunk_power_sums(values, None, shift, scale, axis,
                                      stats.SUM_BLOCK if variant == "bound_blocked" else 0)
    n = values.shape[axis]
    u = (values - (shift if axis == 0 else shift[:, None])) * (1 / (scale if axis == 0 else scale[:, None]))
    count = jnp.full(u.shape[1] if axis == 0 else u.shape[0], n, u.dtype)
    if variant == "optimistic":  # rows beyond a partial chunk's end are zeroed, nothing else is checked
        rows = valid[:, None] if axis == 0 else valid
        u = jnp.where(rows, u, 0)
        ones = jnp.broadcast_to(rows, u.shape).astype(u.dtype)
    u2 = u * u
    if variant == "gemv":
        ones = jnp.ones((n,), u.dtype)
        block = jnp.concatenate([u, u2, u2 * u, u2 * u2], axis=1 - (axis == -1))
        s = ones @ block if axis == 0 else block @ ones
        return jnp.concatenate([count[None], s.reshape(4, -1)])
    zero = jnp.zeros((), u.dtype)
    operands = (u, u2, u2 * u, u2 * u2) + ((ones,) if variant == "optimistic" else ())
    s = jax.lax.reduce(operands, (zero,) * len(operands), lambda a, b: tuple(x + y for x, y in zip(a, b)),
                       (0 if axis == 0 else u.ndim - 1,))
    return jnp.stack([s[4], *s[:4]] if variant == "optimistic" else [count, *s])


def build(name: str, estimator_name: str, dim: int, chunk: int):
    """The compiled loop ``(key, num_chunks) -> carry`` of one variant (a ``_noise`` suffix: its noise written out
    once, ``chunk_estimator(materialize_noise=True)``)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.core.estimator import batched_noise
    from varbench.core.noise import sample_noise
    from varbench.engine import columns, stats
    from varbench.engine._kernels import chunk_estimator
    from varbench.engine.subject import Subject

    problem = resolve_problem(f"gaussian:cost=square,dim={dim}")
    estimator = resolve_estimator(estimator_name)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    spec = batched_noise(estimator.noise(problem, params), chunk)
    axis = columns.samples_axis(2 * dim, jax.default_backend())
    subject = Subject(problem, estimator, params)
    variant = name.removesuffix("_noise")
    draw = chunk_estimator(subject, chunk, samples_last=axis == -1 and variant != "per_leaf",  # as the kernel
                           materialize_noise=name.endswith("_noise"))

    def loop(key, num_chunks):
        valid = jnp.ones(chunk, bool)
        init = stats.empty_power_sums(jnp.zeros(2 * dim, jnp.float32))

        def body(i, acc, first=None):
            chunk_key = jax.random.fold_in(key, i)
            if variant == "floor":
                noise = sample_noise(spec, chunk_key, jnp.float32)
                return acc._replace(hi=acc.hi + sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(noise)))
            estimates = draw(chunk_key)
            if variant == "estimates":
                return acc._replace(hi=acc.hi + sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(estimates)))
            if variant == "per_leaf":
                parts = [stats.chunk_power_sums(v.reshape(chunk, -1), None, s, c) for v, s, c in zip(
                    jax.tree_util.tree_leaves(estimates), jnp.split(acc.shift, 2), jnp.split(acc.scale, 2))]
                hi, lo = stats._compensated_add(acc.hi, acc.lo, jnp.concatenate(parts, axis=1))
                return stats.PowerSums(acc.shift, acc.scale, hi, lo, acc.nonfinite)
            values = columns.as_columns(estimates, chunk, jnp.float32, axis, samples_last=axis == -1)
            if variant in ("harness", "blocked", "masked", "peeled"):
                return stats.accumulate(acc, values, valid, i == 0 if first is None else first, True,
                                        fallback=variant in ("harness", "blocked"), axis=axis,
                                        block=stats.SUM_BLOCK if variant == "blocked" else 0)
            sums = _sums(variant, values, valid, acc.shift, acc.scale, axis)
            hi, lo = stats._compensated_add(acc.hi, acc.lo, sums)
            return stats.PowerSums(acc.shift, acc.scale, hi, lo, acc.nonfinite)

        if variant == "peeled":
            return jax.lax.fori_loop(1, num_chunks, lambda i, acc: body(i, acc, False), body(0, init, True))
        return jax.lax.fori_loop(0, num_chunks, body, init)

    return jax.jit(loop).lower(jax.random.key(0), np.int32(1)).compile()


def main() -> None:
    from varbench.engine import settings
    settings.ensure_configured()  # XLA's flags as varbench's kernels get them, set before JAX starts its backend

    import jax
    import numpy as np

    from varbench.engine import harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[100])
    parser.add_argument("--estimators", nargs="+", default=["score_function", "pathwise"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--chunk", type=int, help="estimates per chunk (default: the harness's)")
    parser.add_argument("--samples", type=float, default=2 ** 18, help="estimates per timing (fewer at large dims)")
    parser.add_argument("--max-elements", type=float, default=2e7,
                        help="cap on estimates × dim per timing (raise it on a GPU, which needs more work per call)")
    parser.add_argument("--hlo-dir", type=Path, help="also write each compiled variant's optimized HLO here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true",
                        help="rate per CPU second of this process (steadier than wall time on a shared machine)")
    args = parser.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    cases = [(e, d, args.chunk or harness.auto_chunk_size(d, 2 * d)) for e in args.estimators for d in args.dims]
    compiled = {(c, v): build(v, *c) for c in cases for v in args.variants}
    if args.hlo_dir:
        args.hlo_dir.mkdir(parents=True, exist_ok=True)
        for (case, v), fn in compiled.items():
            (args.hlo_dir / f"{v}_{case[0]}_dim{case[1]}_chunk{case[2]}.hlo.txt").write_text(fn.as_text())
    best = dict.fromkeys(compiled, 0.0)
    for r in range(args.repeats):  # interleaved rounds, the best kept: the machine may be shared
        for (case, v), fn in compiled.items():
            n = max(int(min(args.samples, args.max_elements / case[1])) // case[2], 1)
            start = clock()
            jax.block_until_ready(fn(jax.random.key(r + 1), np.int32(n)))
            best[case, v] = max(best[case, v], n * case[2] / (clock() - start))
    print(f"{jax.default_backend()} ({jax.devices()[0].device_kind}); estimates per "
          f"{'CPU ' if args.cpu_time else ''}second (fraction of the chunked RNG "
          f"floor), best of {args.repeats} interleaved rounds\n")
    print("| estimator | dim | chunk | " + " | ".join(args.variants) + " |")
    print("|---|---:|---:|" + "---:|" * len(args.variants))
    for case in cases:
        base = best[case, "floor"] if "floor" in args.variants else best[case, args.variants[0]]
        print(f"| {case[0]} | {case[1]} | {case[2]} | "
              + " | ".join(f"{best[case, v]:.3g} ({best[case, v] / base:.2f})" for v in args.variants) + " |")


if __name__ == "__main__":
    main()

"""Where the kernel's time goes: the RNG floor, then the estimator, then the moments, added one at a time.

Three jitted loops with the harness's chunking and keys (``gaussian:cost=square``): (1) draw a chunk's noise in
one call and sum it; (2) also compute the estimates and sum them; (3) also add each chunk to the shifted power
sums (count, Σu … Σu⁴, compensated) as the harness does. Best of ``--repeats`` interleaved rounds; estimates per second and the fraction of the floor:

    python benchmarks/profile_kernel.py --dim 100 --chunks 1024 2048 4096
    python benchmarks/profile_kernel.py --dim 100 --hlo    # fusions of the compiled kernels, no timing
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def build(estimator_name: str, dim: int, stage: str, chunk: int):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.core.noise import sample_noise
    from varbench.engine import stats

    problem = resolve_problem(f"gaussian:cost=square,dim={dim}")
    estimator = resolve_estimator(estimator_name)
    params = {k: jnp.asarray(v) for k, v in problem.default_params().items()}
    spec = estimator.noise(problem, params)

    from varbench.engine._kernels import chunk_estimator
    from varbench.engine.subject import Subject

    draw = chunk_estimator(Subject(problem, estimator, params), chunk)  # one bulk noise draw per chunk, as the kernel
    batched = jax.tree_util.tree_map(lambda n: n.repeated(chunk), spec, is_leaf=lambda x: hasattr(x, "repeated"))

    def loop(key, num_chunks):
        def body(i, acc):
            chunk_key = jax.random.fold_in(key, i)
            if stage == "floor":
                noise = sample_noise(batched, chunk_key, jnp.float32)
                return acc + sum(jnp.sum(x) for x in jax.tree_util.tree_leaves(noise))
            values = draw(chunk_key)
            if stage == "estimates":
                return acc + sum(jnp.sum(v) for v in jax.tree_util.tree_leaves(values))
            valid = jnp.ones(chunk, bool)
            sums = [stats.accumulate(stats.empty_power_sums(v[0]), v, valid, i == 0, True)
                    for v in jax.tree_util.tree_leaves(values)]
            return acc + sum(jnp.sum(ps.hi) for ps in sums)
        return jax.lax.fori_loop(0, num_chunks, body, jnp.float32(0))

    return jax.jit(loop).lower(jax.random.key(0), np.int32(1)).compile()


def hlo_summary(estimator_name: str, dim: int, write_to: Path | None = None) -> str:
    """What XLA made of the harness's kernel (full tier): fusions in the loop body, how many of them recompute the
    normal draw's inverse error function from the random bits (XLA duplicates cheap elementwise producers into
    each consumer instead of storing them), and the materialized ``(chunk, coordinates)`` blocks."""
    import re

    import numpy as np

    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.engine import harness
    from varbench.engine._kernels import _jitted_kernel, kernel_subject
    from varbench.engine.prng import make_key

    problem = resolve_problem(f"gaussian:cost=square,dim={dim}")
    subject = kernel_subject(problem, resolve_estimator(estimator_name), problem.default_params())
    chunk = harness.auto_chunk_size(dim, 2 * dim)
    text = _jitted_kernel.lower(subject, make_key(0), np.int32(0), np.int32(0), chunk_size=chunk).compile().as_text()
    if write_to is not None:
        write_to.mkdir(parents=True, exist_ok=True)
        (write_to / f"kernel_{estimator_name}_dim{dim}_chunk{chunk}.hlo.txt").write_text(text)
    computations = re.split(r"\n(?=%\S+ \()", text)
    erfinv = {c.split(" ", 1)[0] for c in computations if "erf_inv" in c and c.startswith("%fused")}
    calls = re.findall(r"= (\S+) fusion\(.*?calls=(%[\w.]+)", text)
    blocks = sum(1 for shape, _ in calls if re.match(rf"f32\[{chunk},(1,)?{dim}\]|f32\[{chunk},{2 * dim}\]", shape))
    return (f"{estimator_name} dim {dim}: {len(calls)} fusions, {sum(c in erfinv for _, c in calls)} compute the "
            f"normal's erfinv from the bits, {blocks} write a (chunk, coordinates) block")


def main() -> None:
    from varbench.engine import settings
    settings.ensure_configured()  # XLA's flags as varbench's kernels get them, set before JAX starts its backend

    import jax
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--chunks", type=int, nargs="+", default=[4096])
    parser.add_argument("--samples", type=int, default=2 ** 18)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hlo", action="store_true", help="only summarize the compiled kernels' fusions")
    parser.add_argument("--hlo-dir", type=Path, help="with --hlo: also write each kernel's optimized HLO here")
    args = parser.parse_args()
    if args.hlo:
        os.environ.setdefault("VARBENCH_OPTIMIZE", "full")
        for e in ("score_function", "pathwise"):
            print(hlo_summary(e, args.dim, args.hlo_dir))
        return
    stages = ("floor", "estimates", "moments")
    kernels = {(e, c, s): build(e, args.dim, s, c) for e in ("score_function", "pathwise")
               for c in args.chunks for s in stages}
    best: dict = {}
    for r in range(args.repeats):
        for key, fn in kernels.items():
            n = max(args.samples // key[1], 1)
            start = time.perf_counter()
            jax.block_until_ready(fn(jax.random.key(r), np.int32(n)))
            best[key] = max(best.get(key, 0.0), n * key[1] / (time.perf_counter() - start))
    print(f"dim {args.dim}; estimates/s (fraction of the RNG floor), best of {args.repeats}\n")
    print("| estimator | chunk | " + " | ".join(stages) + " |")
    print("|---|---:|" + "---:|" * len(stages))
    for e in ("score_function", "pathwise"):
        for c in args.chunks:
            floor = best[(e, c, "floor")]
            print(f"| {e} | {c} | " + " | ".join(f"{best[(e, c, s)]:.3g} ({best[(e, c, s)] / floor:.2f})"
                                                  for s in stages) + " |")


if __name__ == "__main__":
    main()

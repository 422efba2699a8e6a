"""Kernel throughput against the chunk size: ``measure()``'s estimates per second for a range of chunk sizes.

The automatic chunk size (``varbench.engine.harness.auto_chunk_size``) bounds memory per chunk; on a GPU each
chunk is a loop iteration with a fixed launch and synchronisation cost, so larger chunks may pay. Run this on the
backend in question::

    python benchmarks/chunk_sweep.py --dims 1 100 1000 --chunks 4096 16384 65536 262144
"""

from __future__ import annotations

import argparse

import jax

import varbench
from varbench.engine import harness


def rate(estimator: str, dim: int, n: int, chunk: int | None, seed: int) -> float:
    res = varbench.measure(f"gaussian:cost=square,dim={dim}", estimator, num_samples=n, seed=seed, chunk_size=chunk)
    return res.estimates_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--chunks", type=int, nargs="+", default=[4096, 16384, 65536, 262144])
    parser.add_argument("--elements", type=float, default=4e8, help="estimates × dim per measurement")
    parser.add_argument("--estimators", nargs="+", default=["score_function", "pathwise"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), JAX {jax.__version__}")
    print("| estimator | dim | estimates | auto chunk | " + " | ".join(f"chunk {c}" for c in args.chunks) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(args.chunks))
    for e in args.estimators:
        for d in args.dims:
            n = 2 ** min(24, int(args.elements // d).bit_length() - 1)
            auto = harness.auto_chunk_size(d, 2 * d)
            best = {}
            for c in [None] + args.chunks:
                rate(e, d, min(n, 4 * (c or auto)), c, 0)  # compile and warm up
            for r in range(args.repeats):
                for c in [None] + args.chunks:
                    best[c] = max(best.get(c, 0.0), rate(e, d, n, c, r + 1))
            cells = [f"{best[c]:.3g}" for c in args.chunks]
            print(f"| {e} | {d} | {n} | {auto}: {best[None]:.3g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

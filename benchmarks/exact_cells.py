"""Seconds per exact-mode measurement (compile + evaluate), for a side-by-side of two checkouts.

Each cell is measured in the same process after the in-memory kernel caches are cleared, with the persistent
compilation cache off, so every cell pays its own compilation; the second measurement of a cell with other params
shows what a reused kernel costs. Run once per checkout (``PYTHONPATH=<checkout>``) and compare the columns:

    VARBENCH_CACHE_DIR=off python benchmarks/exact_cells.py
"""

from __future__ import annotations

import argparse
import time

CELLS = [
    ("gaussian:cost=square,k=1", "score_function"),
    ("gaussian:cost=cos,k=3", "measure_valued"),
    ("gaussian:cost=square,k=1,dim=3", "pathwise"),
    ("bernoulli:target=0.499", "disarm"),
    ("bernoulli:target=0.499", "gumbel_softmax"),
    ("lgssm", "score_function:returns=full"),
    ("lgssm", "gae:lambda=0.9,critic=learned"),
    ("lgssm", "pathwise"),
    ("hmm", "n_step:n=2"),
    ("sbn:data_subset=2,batch_size=2,latent=2,hidden=3", "disarm"),
]


def main() -> None:
    import varbench
    from varbench.engine import harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="rounds over the cells (best kept)")
    args = parser.parse_args()
    best: dict = {}
    for _ in range(args.repeats):
        for problem, estimator in CELLS:
            harness.clear_cache()
            start = time.perf_counter()
            first = varbench.measure(problem, estimator, method="exact")
            cold = time.perf_counter() - start
            start = time.perf_counter()
            varbench.measure(problem, estimator, method="exact", seed=1)
            warm = time.perf_counter() - start
            old = best.get((problem, estimator), (float("inf"),) * 4)
            best[(problem, estimator)] = min(old, (cold, warm, first.compile_seconds, first.num_samples))
    print("| problem | estimator | points | first (s) | of which compile (s) | again (s) |")
    print("|---|---|---:|---:|---:|---:|")
    for (problem, estimator), (cold, warm, compile_seconds, points) in best.items():
        print(f"| {problem} | {estimator} | {points} | {cold:.2f} | {compile_seconds:.2f} | {warm:.2f} |")
    print(f"| total | | | {sum(v[0] for v in best.values()):.2f} | | {sum(v[1] for v in best.values()):.2f} |")


if __name__ == "__main__":
    main()

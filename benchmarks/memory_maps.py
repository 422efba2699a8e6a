"""Memory mappings held while many distinct kernels compile in one process, with and without eviction (Linux).

Compiles ``--kernels`` structurally different harness kernels (``gaussian:dim=d``, pathwise, for d = 1, 2, ...)
in a fresh process with the persistent cache off, and prints the mappings held every ``--every`` kernels and the
peak; ``--no-evict`` disables :mod:`varbench.engine.kernel_cache`'s eviction to show the growth it prevents (at
``vm.max_map_count`` the process aborts in LLVM: keep ``--kernels`` well below that with ``--no-evict``):

    python benchmarks/memory_maps.py --kernels 300
    python benchmarks/memory_maps.py --kernels 300 --no-evict
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=200)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--no-evict", action="store_true", help="never drop in-memory kernels")
    args = parser.parse_args()

    from varbench.engine import kernel_cache, settings

    settings.configure(cache_dir=None)  # every kernel compiled here, as in a cold sweep
    if args.no_evict:
        kernel_cache.EVICT_FRACTION = float("inf")
    import varbench

    limit, peak, start = kernel_cache.mappings_limit(), 0, time.perf_counter()
    if limit is None:
        raise SystemExit("this system does not report memory mappings (no /proc)")
    print(f"limit {limit} mappings (vm.max_map_count); eviction past {kernel_cache.EVICT_FRACTION:.0%}")
    print(f"{'kernels':>8} {'mappings':>9} {'evictions':>10} {'seconds':>8}")
    for d in range(1, args.kernels + 1):
        varbench.measure(f"gaussian:cost=square,dim={d}", "pathwise", num_samples=1024, chunk_size=1024)
        held = kernel_cache.mappings()
        peak = max(peak, held)
        if d % args.every == 0 or d == args.kernels:
            print(f"{d:>8} {held:>9} {kernel_cache.evictions():>10} {time.perf_counter() - start:>8.1f}", flush=True)
    print(f"peak {peak} mappings ({peak / limit:.0%} of the limit)")


if __name__ == "__main__":
    main()

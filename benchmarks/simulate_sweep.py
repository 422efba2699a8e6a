"""How long would a 1000-cell sweep take on a cluster? A simulation from measured cells and measured overheads.

Reads a result store written by ``varbench suite`` (any executor): each finished cell's compile seconds and run
seconds (the ``compile_seconds`` / ``run_seconds`` of its rows) and its other seconds on the worker (building the
problem, exact-mode tables, pickling rows: the manifest's per-block seconds minus the kernels' share); a store
directory with a manifest but no cell files (``reports/gallery``, the default suite's) gives each cell its block's
mean seconds. Then it
draws a sweep of ``--cells`` cells from those (bootstrap, fixed seed; Monte Carlo run time rescaled to
``--samples`` estimates per point if given), and plays the Dask executor's policy on W workers: cells in
submission order, each to the first worker that is free, every worker compiling the kernels of the cells it runs
(almost every cell of the default suite is its own kernel), plus a scheduler round trip per task and the
cluster's start-up. ``--failure-rate`` kills the worker of a cell with that probability (at a uniform point of
the cell; the cell is run again from scratch on the next free worker, as the scheduler reschedules it).

``--measure-overhead`` first measures, on a ``LocalCluster`` of 2 workers started by varbench's own executor, the
start-up (cluster plus each worker's first task, which imports JAX and varbench) and the seconds per no-op task
through :class:`varbench.executors.DaskExecutor` (submission, scheduling, result and release), and uses them.

    python benchmarks/simulate_sweep.py varbench-results --measure-overhead
    python benchmarks/simulate_sweep.py reports/gallery --per-task 0.004 --startup 6   # the default suite's cells
    python benchmarks/simulate_sweep.py varbench-results --cells 1000 --samples 1e7 --workers 1 2 8 32 128
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from pathlib import Path


def _noop(x: int) -> int:
    return x


def measure_overhead(tasks: int = 200) -> tuple[float, float]:
    """(start-up seconds, seconds per no-op task) of varbench's Dask executor on a 2-worker LocalCluster."""
    from varbench.executors import DaskExecutor, ExecutorChoice

    start = time.perf_counter()
    with DaskExecutor(ExecutorChoice("dask", workers=2)) as pool:
        list(pool.map(_noop, [0, 1]))  # every worker's first task: imports and sets up the worker
        startup = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_noop, list(range(tasks))))
        per_task = (time.perf_counter() - start) / tasks
    return startup, per_task


def cell_seconds(root: str | Path, samples: float | None) -> list[tuple[float, float]]:
    """Per finished cell: (compile seconds, everything else), from the store at ``root``."""
    import pandas as pd
    from varbench.reports import store

    manifest = store.check_store(root)
    frame = store.load(root)
    timed = frame[frame["compile_seconds"].notna()] if "compile_seconds" in frame else frame.iloc[0:0]
    points = timed.drop_duplicates(["cell", "point", "seed"])
    scale = pd.Series(1.0, index=points.index)
    if samples is not None:
        mc = points["method"] == "mc"
        scale[mc] = samples / points.loc[mc, "num_samples"]
    per_cell = points.assign(run=points["run_seconds"] * scale).groupby("cell")[["compile_seconds", "run"]].sum()
    # what a worker spends on a cell besides compiling and running kernels, from the manifest's seconds per block
    kernels = points.groupby("block")[["compile_seconds", "run_seconds"]].sum().sum(axis=1)
    cells_per_block = frame.drop_duplicates("cell").groupby("block")["cell"].count()
    other = {b: max(0.0, (manifest.get("seconds") or {}).get(b, 0.0) - kernels.get(b, 0.0)) / n
             for b, n in cells_per_block.items()}
    block_of = frame.drop_duplicates("cell").set_index("cell")["block"]
    out = [(float(c), float(r) + other.get(block_of[cell], 0.0)) for cell, (c, r) in per_cell.iterrows()]
    # cells without kernel timings (trace cells): their wall time on the worker, all counted as "other"
    wall = frame.drop_duplicates("cell").set_index("cell")
    for cell in sorted(set(wall.index) - set(per_cell.index)):
        if {"prov_started", "prov_finished"} <= set(wall.columns):
            seconds = (pd.Timestamp(wall.loc[cell, "prov_finished"]) -
                       pd.Timestamp(wall.loc[cell, "prov_started"])).total_seconds()
            out.append((0.0, max(seconds, 0.5)))
    return out


def _num_samples(table: dict) -> dict:
    """A block (or its ``quick`` table) of an older store's config, whose key for the number of estimates was
    ``samples``, with the key the suite reads now (``num_samples``)."""
    return {("num_samples" if k == "samples" else k): (_num_samples(v) if k == "quick" and isinstance(v, dict) else v)
            for k, v in table.items()}


def cell_seconds_from_manifest(root: str | Path) -> list[tuple[float, float]]:
    """Per cell, from a manifest alone (a store whose cell files are elsewhere, such as ``reports/gallery``): its
    block's seconds divided by the block's cells (compile and run not told apart: all counted as "other")."""
    from varbench.reports import store

    from varbench.suite import cells_of, parse_config

    manifest = store.check_store(root)
    seconds = manifest.get("seconds") or {}
    config = dict(manifest["config"], block=[_num_samples(b) for b in manifest["config"]["block"]])
    out = []
    for block in parse_config(config, quick=bool(manifest.get("quick"))):
        n = len(cells_of(block))
        if n and seconds.get(block.name):
            out += [(0.0, seconds[block.name] / n)] * n
    return out


def simulate(durations: list[tuple[float, float]], workers: int, per_task: float, startup: float,
             failure_rate: float = 0.0, seed: int = 0) -> tuple[float, int]:
    """Wall seconds of running ``durations`` (in order) on ``workers`` workers; and how many cells were retried."""
    rng = random.Random(seed)
    free = [(startup, w) for w in range(workers)]  # (time the worker is free, worker)
    heapq.heapify(free)
    queue = list(durations)
    queue.reverse()
    retried, end = 0, startup
    while queue:
        compile_s, other_s = queue.pop()
        at, worker = heapq.heappop(free)
        seconds = per_task + compile_s + other_s
        if failure_rate and rng.random() < failure_rate:  # the worker dies part-way; the cell goes back in line
            retried += 1
            queue.append((compile_s, other_s))
            heapq.heappush(free, (at + rng.random() * seconds + startup, worker))  # a replacement worker starts
            continue
        end = max(end, at + seconds)
        heapq.heappush(free, (at + seconds, worker))
    return end, retried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a result store written by 'varbench suite'")
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--samples", type=float, default=None,
                        help="rescale each Monte Carlo point's run time to this many estimates")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64, 128, 256])
    parser.add_argument("--measure-overhead", action="store_true",
                        help="measure start-up and per-task overhead on a 2-worker LocalCluster first")
    parser.add_argument("--per-task", type=float, default=0.005, help="scheduler seconds per task (if not measured)")
    parser.add_argument("--startup", type=float, default=10.0, help="cluster start-up seconds (if not measured)")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="probability that a cell's worker dies")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()

    if args.measure_overhead:
        args.startup, args.per_task = measure_overhead()
    from varbench.reports import store

    has_cells = bool(store.cell_files(args.store))
    measured = cell_seconds(args.store, args.samples) if has_cells else cell_seconds_from_manifest(args.store)
    if not measured:
        sys.exit(f"{args.store!r} has no finished cells with timings")
    rng = random.Random(0)
    sweep = [rng.choice(measured) for _ in range(args.cells)]
    serial = sum(c + o for c, o in sweep)
    rows = []
    for w in args.workers:
        wall, retried = simulate(sweep, w, args.per_task, args.startup, args.failure_rate)
        rows.append(dict(workers=w, wall_seconds=wall, speedup=(serial + args.per_task * len(sweep)) / wall,
                         efficiency=(serial / w) / wall, retried=retried))
    facts = dict(store=str(args.store), cells_measured=len(measured), cells=args.cells, samples=args.samples,
                 mean_compile_seconds=sum(c for c, _ in measured) / len(measured),
                 mean_other_seconds=sum(o for _, o in measured) / len(measured), per_task_seconds=args.per_task,
                 startup_seconds=args.startup, failure_rate=args.failure_rate, serial_seconds=serial, rows=rows)
    if args.format == "json":
        print(json.dumps(facts))
        return
    print(f"{len(measured)} measured cells from {args.store}: mean compile {facts['mean_compile_seconds']:.2f} s, "
          f"mean run and other {facts['mean_other_seconds']:.2f} s"
          + (f" (runs rescaled to {args.samples:.0e} estimates per point)" if args.samples else ""))
    print(f"scheduler: {args.per_task * 1e3:.1f} ms per task, start-up {args.startup:.1f} s; "
          f"{args.cells} cells, {serial / 3600:.2f} h of work in one process")
    print(f"{'workers':>8} {'wall':>10} {'speedup':>8} {'efficiency':>10} {'retried':>8}")
    for r in rows:
        wall = r["wall_seconds"]
        text = f"{wall / 3600:.2f} h" if wall >= 3600 else f"{wall / 60:.1f} min"
        print(f"{r['workers']:>8} {text:>10} {r['speedup']:>8.1f} {r['efficiency']:>10.2f} {r['retried']:>8}")


if __name__ == "__main__":
    main()

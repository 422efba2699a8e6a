"""Time to result with a cold and a warm cache: ``varbench suite`` into a new directory, first with an empty
compilation cache, then again with the cache the first run filled; one or more checkouts, alternating, in one run.

    python benchmarks/suite_warm_cold.py [--full] [--rounds 2] [--python LABEL=PYTHON ...] [--json FILE]

``--python`` names the interpreter of a checkout's virtual environment (``before=/tmp/old/.venv/bin/python``);
without it, this interpreter is measured, labelled ``now``. Each round runs every checkout cold then warm, in the
order given, so a shared machine's drift falls on all of them alike. Prints wall seconds per run and warm ÷ cold
(the speed issue's target: at most 0.4 on the quick suite), and checks with ``compare_stores`` that the warm run's
numbers are bit for bit the cold run's, and each checkout's the first one's. Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare_stores import compare  # this folder's store comparison (run as a script, benchmarks/ is on the path)

from varbench.reports import store


def _suite(python: str, out: Path, cache: Path, full: bool) -> float:
    """Wall seconds of one ``varbench suite`` run into ``out`` with the compilation cache in ``cache``."""
    command = [python, "-m", "varbench", "suite", "--out", str(out)] + ([] if full else ["--quick"])
    env = dict(os.environ, VARBENCH_CACHE_DIR=str(cache))
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        sys.exit(f"{' '.join(command)} failed ({proc.returncode}): {tail[0]}")
    return seconds


def _same(a: Path, b: Path) -> bool:
    """Whether two stores hold the same rows with bit-identical values (``compare_stores``)."""
    table, unmatched = compare(store.load(a), store.load(b), {})
    return unmatched == 0 and bool((table["values"] == table["bit_identical"]).all())


def run(checkouts: dict[str, str], rounds: int, full: bool) -> list[dict]:
    """One row per checkout and round: cold and warm seconds, their ratio, and the bit-identity checks."""
    rows = []
    for round_ in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="varbench-warm-cold-") as tmp:
            first = None
            for label, python in checkouts.items():
                root = Path(tmp) / label
                cold = _suite(python, root / "cold", root / "cache", full)
                warm = _suite(python, root / "warm", root / "cache", full)
                first = first or root / "cold"
                rows.append({"checkout": label, "round": round_, "cold_s": round(cold, 1), "warm_s": round(warm, 1),
                             "warm_over_cold": round(warm / cold, 3),
                             "warm_equals_cold": _same(root / "cold", root / "warm"),
                             "equals_first": _same(first, root / "cold")})
                print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict) -> str:
    return "| " + " | ".join(str(v) for v in row.values()) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the default suite (default: --quick)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every checkout cold then warm (default 1)")
    parser.add_argument("--python", action="append", default=[], metavar="LABEL=PYTHON",
                        help="a checkout's interpreter, labelled (repeatable; default: now=this interpreter)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}")
    if any("=" not in p for p in args.python):
        parser.error("--python takes LABEL=PYTHON, e.g. before=/tmp/old/.venv/bin/python")
    checkouts = dict(p.split("=", 1) for p in args.python) or {"now": sys.executable}
    print("| checkout | round | cold (s) | warm (s) | warm ÷ cold | warm = cold | = first checkout |")
    print("|---|---:|---:|---:|---:|---|---|")
    rows = run(checkouts, args.rounds, args.full)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return int(not all(r["warm_equals_cold"] and r["equals_first"] for r in rows))


if __name__ == "__main__":
    sys.exit(main())

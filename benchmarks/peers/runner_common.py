"""What the peer runners share (stdlib only: each runs in its own virtual environment with its own python)."""

import json
import math
import sys
import time


def power_of_two_at_most(n: float) -> int:
    return 2 ** int(math.floor(math.log2(max(n, 1))))


def best_rate(one_call, calls: int, chunk: int, repeats: int) -> float:
    """Estimates per second of the best of ``repeats`` passes of ``calls`` blocking calls of ``chunk`` each."""
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        for c in range(calls):
            one_call(r * calls + c + 1)
        best = min(best, time.perf_counter() - start)
    return calls * chunk / best


def run_job(rate, version: str) -> None:
    """Read the job (JSON in argv[1]) and print one JSON object: the version and a row per case."""
    job = json.loads(sys.argv[1])
    rows = [dict(estimator=e, dim=d, num_samples=n, estimates_per_second=rate(e, d, n, job))
            for e, d, n in job["cases"]]
    print(json.dumps(dict(version=version, rows=rows)))

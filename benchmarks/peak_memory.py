"""Peak resident memory of ``measure()`` as the number of estimates grows (bounded-memory check).

Each measurement runs in a fresh process and reports its peak RSS, so runs do not share allocator state:

    python benchmarks/peak_memory.py --dim 100 --samples 1e6 1e7 1e8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, varbench
dim, n, est = int(sys.argv[1]), int(float(sys.argv[2])), sys.argv[3]
res = varbench.measure(f"gaussian:cost=square,dim={dim}", est, num_samples=n)
print(json.dumps(dict(estimator=est, dim=dim, num_samples=n, peak_rss_mib=resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, run_seconds=res.run_seconds, estimates_per_second=res.estimates_per_second,
    total_variance=res.total_variance)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--samples", nargs="+", default=["1e5", "1e6", "1e7"])
    parser.add_argument("--estimator", default="score_function")
    args = parser.parse_args()
    print(f"{'estimates':>12} {'peak RSS (MiB)':>15} {'run (s)':>9} {'estimates/s':>12}")
    for n in args.samples:
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.dim), n, args.estimator], check=True,
                             capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{row['num_samples']:>12.0e} {row['peak_rss_mib']:>15.0f} {row['run_seconds']:>9.1f} "
              f"{row['estimates_per_second']:>12.3g}", flush=True)


if __name__ == "__main__":
    main()

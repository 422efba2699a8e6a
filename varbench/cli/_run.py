"""``varbench run``: measure one estimator on one problem."""

from __future__ import annotations

import argparse
import json

from varbench.cli._common import FORMATS, add_plugin, add_sampling, non_negative_int, positive_int
from varbench.engine.prng import DEFAULT_PRNG, PRNG_IMPLS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``run`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("run", help="measure one estimator on one problem")
    parser.add_argument("--problem", required=True, metavar="SPEC", help="name or name:key=value,... (see 'list')")
    parser.add_argument("--estimator", required=True, metavar="SPEC", help="name or name:key=value,...")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="point at which to measure; a scalar broadcasts (repeatable)")
    add_sampling(parser, 1_000_000, "number of estimates")
    parser.add_argument("--chunk-size", type=positive_int, default=None, metavar="C",
                        help="estimates per vmapped chunk (default: chosen from the problem size)")
    parser.add_argument("--warmup", type=non_negative_int, default=0, metavar="STEPS",
                        help="updates of a stateful estimator at the params before measuring (then frozen)")
    parser.add_argument("--prng", choices=tuple(PRNG_IMPLS), default=DEFAULT_PRNG,
                        help="random number generator: threefry (default, statistically sound), rbg, unsafe_rbg "
                             "(XLA's bit generator; a speed experiment, see benchmarks/RESULTS.md)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--per-coordinate", action="store_true",
                        help="table: one row per parameter coordinate even for large problems (default: per "
                             "parameter above 40 coordinates, with per-group totals for amortized problems)")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Measure and print the result (a table, or one JSON object); returns the exit status."""
    from varbench.api import measure  # imported here so `--help` and errors stay fast
    from varbench.spec import parse_assignments

    params = parse_assignments(args.param)
    result = measure(args.problem, args.estimator, params=params, num_samples=args.num_samples, seed=args.seed,
                     method=args.method, chunk_size=args.chunk_size, warmup=args.warmup, prng=args.prng)
    if args.format == "json":
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        from varbench.catalog import resolve_problem
        from varbench.display import print_result
        problem = resolve_problem(args.problem)
        groups = problem.param_groups() if getattr(problem, "amortized", False) else None
        print_result(result, groups=groups, per_coordinate=args.per_coordinate)
    return 0

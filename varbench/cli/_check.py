"""``varbench check``: the test battery for an estimator."""

from __future__ import annotations

import argparse
import json
import sys

from varbench.cli._common import FORMATS, add_executor, add_plugin, add_seed, executor_choice
from varbench.core.errors import VarbenchError
from varbench.spec import parse_assignments


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``check`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("check", help="the test battery for an estimator: runs, unbiased, variance, "
                                   "state, cost")
    parser.add_argument("estimator", metavar="ESTIMATOR_SPEC",
                        help="the estimator to check (name or name:key=value,...)")
    parser.add_argument("--problems", nargs="+", default=None, metavar="SPEC",
                        help="problems to check on (a bare built-in name uses its check points; default: every "
                             "registered problem the estimator applies to); a spec is checked at --param values, "
                             "else at a generic point (special values such as 0 or 1 moved by a seeded offset)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="point at which the --problems are checked; a scalar broadcasts (repeatable)")
    parser.add_argument("--against", nargs="+", default=None, metavar="SPEC",
                        help="reference estimators for the variance ranking (default: the family's references)")
    parser.add_argument("--level", choices=("quick", "standard", "thorough"), default="standard")
    add_seed(parser)
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="also write check.json, check.md, variance.png and a result store (see 'report') "
                             "into DIR")
    parser.add_argument("--format", choices=FORMATS + ("markdown",), default="table")
    add_executor(parser, "the problems (each checked independently; worth it at --level thorough)")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the battery and print its report; returns 0 if it passed, else 1."""
    from varbench.battery import check, write_check

    if args.out is not None and not args.out.strip():
        raise VarbenchError("--out must name a directory")
    say = (lambda line: print(f"varbench check: {line}", file=sys.stderr, flush=True)) if args.format == "table" \
        else None
    report = check(args.estimator, problems=args.problems, against=args.against, level=args.level, seed=args.seed,
                   progress=say, executor=executor_choice(args),
                   params=parse_assignments(args.param) if args.param else None)
    if args.format == "json":
        print(json.dumps(report.to_dict(), allow_nan=False, default=float))
    elif args.format == "markdown":
        print(report.markdown(), end="")
    else:
        from varbench.display import print_check
        print_check(report)
    if args.out is not None:
        write_check(report, args.out)
        if args.format == "table":
            print(f"written to {args.out} (check.md, check.json, variance.png; 'varbench report {args.out}')")
    return 0 if report.passed else 1

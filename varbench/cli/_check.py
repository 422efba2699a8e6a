"""``varbench check``: the test battery for an estimator."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from varbench.cli._common import FORMATS, add_executor, add_plugin, add_seed, executor_choice
from varbench.core.errors import VarbenchError

if TYPE_CHECKING:
    from varbench.battery import CheckReport


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
    from varbench.battery._store import check_out

    if args.out is not None and not args.out.strip():
        raise VarbenchError("--out must name a directory")
    if args.out is not None:
        check_out(args.out)  # before the battery runs: a refused --out costs nothing and changes nothing

    # Progress goes to stderr in every format, so that stdout stays the report alone (a check can take minutes).
    def say(line: str) -> None:
        print(f"varbench check: {line}", file=sys.stderr, flush=True)

    from varbench.spec import parse_assignments  # imports JAX: only for this command, not for every command's parser

    report = check(args.estimator, problems=args.problems, against=args.against, level=args.level, seed=args.seed,
                   progress=say, executor=executor_choice(args),
                   params=parse_assignments(args.param) if args.param else None)
    if args.format == "json":
        print(json.dumps(report.to_dict(), allow_nan=False, default=float))
    elif args.format == "markdown":
        print(report.markdown(), end="")
    else:
        _print_table(report)
    if args.out is not None:
        write_check(report, args.out)
        if args.format == "table":
            print(f"written to {args.out} (check.md, check.json, variance.png; 'varbench report {args.out}')")
    return 0 if report.passed else 1


def _print_table(report: CheckReport) -> None:
    """The terminal report: the variance ranking at each point (raw and × evaluations), then the rows and the
    verdict, which :func:`varbench.display.print_check` prints last, where a reader looks first."""
    from rich.table import Table

    from varbench.battery._render import VARIANCE_COLUMNS, variance_cells
    from varbench.display import make_console, print_check

    console = make_console()
    points = list(dict.fromkeys((v.problem, v.point) for v in report.variance))
    for problem, point in points:  # one table per point: the problem and point stated once, in its title
        table = Table(title=f"variance at {problem} · {point} (ranks among the unbiased)")
        for column in VARIANCE_COLUMNS[2:]:  # the estimator's spec folds rather than lose its options to an ellipsis
            table.add_column(column, overflow="fold", no_wrap=column != "estimator")
        for v in report.variance:
            if (v.problem, v.point) == (problem, point):
                table.add_row(*variance_cells(v)[2:], style="bold" if v.candidate else None)
        console.print(table)
    print_check(report, console)

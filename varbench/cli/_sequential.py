"""``varbench sequential``: variance, bias and cost of the VI-as-RL estimators on sequential problems."""

from __future__ import annotations

import argparse
import json

from varbench.cli._common import FORMATS, add_plugin, add_sampling


def _lambda_grid(text: str) -> tuple[float, ...]:
    try:
        grid = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}") from None
    if not grid or any(not 0 <= x <= 1 for x in grid):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}")
    return grid


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``sequential`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("sequential", help="variance/bias/cost of the VI-as-RL estimators on "
                                   "sequential problems")
    parser.add_argument("--problem", action="append", default=[], metavar="SPEC",
                        help="sequential problem spec (repeatable; default: lgssm and hmm)")
    add_sampling(parser, 100_000, "estimates per row")
    parser.add_argument("--lambdas", type=_lambda_grid, default=None, metavar="L1,L2,...",
                        help="GAE lambda grid (default 0,0.5,0.9,1)")
    parser.add_argument("--format", choices=FORMATS + ("markdown",), default="table")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Measure each problem's report and print it (tables, JSON or Markdown); returns 0."""
    from varbench import sequential_table as st

    kwargs = dict(num_samples=args.num_samples, method=args.method, seed=args.seed)
    if args.lambdas is not None:
        kwargs["lambdas"] = args.lambdas
    reports = [st.sequential_table(p, **kwargs) for p in (args.problem or ["lgssm", "hmm"])]
    if args.format == "json":
        print(json.dumps(reports, allow_nan=False))
    elif args.format == "markdown":
        print("\n\n".join(st.markdown(r) for r in reports))
    else:
        for report in reports:
            st.print_table(report)
    return 0

"""``varbench report``: figures, HTML and Markdown pages from a result store."""

from __future__ import annotations

import argparse

from varbench.cli._common import path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``report`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("report", help="figures, HTML and Markdown pages from a result store")
    parser.add_argument("dir", type=path, metavar="DIR")
    parser.add_argument("--out", type=path, metavar="DIR", default=None,
                        help="where to write (default: DIR/report)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the report and print where; returns 0."""
    from varbench.reports.page import write_report
    print(write_report(args.dir, args.out))
    return 0

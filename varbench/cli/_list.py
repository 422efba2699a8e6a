"""``varbench list``: problems and estimators with their options."""

from __future__ import annotations

import argparse
import json

from varbench.cli._common import FORMATS, add_plugin


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``list`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("list", help="problems and estimators with their options")
    parser.add_argument("--format", choices=FORMATS, default="table")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the catalogue (a listing, or one JSON object); returns 0."""
    from varbench.display import catalogue, print_catalogue
    if args.format == "json":
        print(json.dumps(catalogue()))
    else:
        print_catalogue()
    return 0

"""``varbench results``: the summary table of a result store."""

from __future__ import annotations

import argparse

from varbench.cli._common import path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``results`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("results", help="summary table of a result store")
    parser.add_argument("dir", type=path, metavar="DIR")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the store's summary (a table, CSV or JSON records); returns 0."""
    from varbench.reports import schema, store
    manifest = store.check_store(args.dir)  # blocks, then estimators, in config order
    table = schema.summary(store.load(args.dir), *store.config_order(manifest))
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(table.to_json(orient="records"))
    else:
        print(table.to_string(index=False) if not table.empty else "(no finished cells)")
    return 0

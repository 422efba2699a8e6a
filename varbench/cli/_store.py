"""``varbench store verify``: read every cell file of a result store and check it against the manifest."""

from __future__ import annotations

import argparse
import json

from varbench.cli._common import FORMATS, OneLineParser, path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``store`` (with its one subcommand, ``verify``) to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("store", help="maintenance of a result store: verify")
    commands = parser.add_subparsers(dest="store_command", parser_class=OneLineParser, metavar="{verify}")
    commands.required = True
    verify = commands.add_parser("verify", help="read every cell file and check it against the manifest (exit 0: "
                                 "all good; 1: names each bad file)")
    verify.add_argument("dir", type=path, metavar="DIR")
    verify.add_argument("--format", choices=FORMATS, default="table")
    return parser


def run(args: argparse.Namespace) -> int:
    """Verify the store and print what was found; returns 0 if every file is good, else 1."""
    from varbench.reports import store
    found = store.verify(args.dir)
    if args.format == "json":
        print(json.dumps(found.to_dict()))
    else:
        for line in found.problems:
            print(f"BAD: {line}")
        for line in found.notes:
            print(f"note: {line}")
        print(f"{'OK' if found.ok else 'FAILED'}: {found.root}: {found.cells_ok} cell file(s) read and match the "
              f"manifest, {len(found.problems)} problem(s)")
    return 0 if found.ok else 1

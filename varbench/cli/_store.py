"""``varbench store verify`` and ``varbench store repair``: check a result store's every file, and mend a damaged
one without losing an intact cell."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from varbench.cli._common import FORMATS, OneLineParser, path

if TYPE_CHECKING:
    from varbench.reports.store import Verification


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``store`` (with its subcommands ``verify`` and ``repair``) to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("store", help="maintenance of a result store: verify, repair")
    commands = parser.add_subparsers(dest="store_command", parser_class=OneLineParser, metavar="{verify,repair}")
    commands.required = True
    verify = commands.add_parser("verify", help="read every cell file and check it against the manifest (exit 0: "
                                 "all good; 1: names each problem, a damaged manifest among them)")
    repair = commands.add_parser("repair", help="rebuild a damaged or lost manifest from the cell files and move "
                                 "damaged cell files aside, keeping every intact cell (exit 0: the store is usable "
                                 "afterwards; 1: it is not)")
    for command in (verify, repair):
        command.add_argument("dir", type=path, metavar="DIR")
        command.add_argument("--format", choices=FORMATS, default="table")
    return parser


def run(args: argparse.Namespace) -> int:
    """Verify or repair the store and print what was found or done; returns 0 if the store is good afterwards,
    else 1."""
    from varbench.reports import store
    if args.store_command == "repair":
        return _repair(args)
    found = store.verify(args.dir)
    if args.format == "json":
        print(json.dumps(found.to_dict()))
    else:
        _print_verification(found)
    return 0 if found.ok else 1


def _print_verification(found: Verification) -> None:
    for line in found.problems:
        print(f"BAD: {line}")
    for line in found.notes:
        print(f"note: {line}")
    print(f"{'OK' if found.ok else 'FAILED'}: {found.root}: {found.cells_ok} cell file(s) read and match the "
          f"manifest, {len(found.problems)} problem(s)")


def _repair(args: argparse.Namespace) -> int:
    from varbench.provenance import command_line
    from varbench.reports.store_repair import repair

    done = repair(args.dir, command=command_line())
    if args.format == "json":
        print(json.dumps(done.to_dict()))
        return 0 if done.ok else 1
    for line in done.actions or ["nothing to repair"]:
        print(f"repair: {line}")
    _print_verification(done.verification)
    return 0 if done.ok else 1

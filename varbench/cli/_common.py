"""What the commands share: the one-line parser, the argument types, and the option groups (sampling, seed,
plugins, executor)."""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from varbench.core.errors import VarbenchError
from varbench.engine.prng import MAX_SEED
from varbench.executors import EXECUTORS, ExecutorChoice

FORMATS = ("table", "json")
#: The one line printed on stderr when ``--samples`` (the old spelling of ``--num-samples``) is used.
SAMPLES_DEPRECATED = ("--samples is deprecated: use --num-samples (the number of estimates; an estimator's "
                      "samples= is K draws per estimate)")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message; varbench prints one line naming the valid choices.

    Prefix matching is off (``allow_abbrev=False``): ``--sample 10`` is an error, not ``--samples 10``, so a typo
    never silently selects another option (subparsers are built with this class too). ``commands`` maps a command
    name to its parser (filled by :func:`varbench.cli.build_parser`), to name a command's valid options.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> None:  # type: ignore[override]
        raise VarbenchError(f"{message} (see 'varbench {' '.join(self.prog.split()[1:])} --help')"
                            if " " in self.prog else message)

    def refuse_unknown(self, command: str, unknown: Sequence[str], args: argparse.Namespace | None = None) -> None:
        """Raise the one-line error for ``unknown`` arguments of ``command`` (or of its sub-command, such as
        ``store verify``, when ``args`` names one), naming that parser's valid options."""
        parser, label = self.commands[command], command
        for action in parser._actions:
            chosen = getattr(args, action.dest, None) if isinstance(action, argparse._SubParsersAction) else None
            if chosen in (action.choices or {}):
                parser, label = action.choices[chosen], f"{command} {chosen}"
        valid = sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--"))
        raise VarbenchError(f"unrecognized arguments: {' '.join(unknown)}; valid options of 'varbench "
                            f"{label}': {', '.join(valid)}")


# Numbers on the command line are ASCII: Python's int() and float() also read other scripts' digits ('٣' is 3),
# which would run a different experiment than the one a reader of the command line sees.
def positive_int(text: str) -> int:
    """An argument type: a positive integer below 2^63 (``1e6`` is accepted)."""
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not value.is_integer() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value >= 2.0 ** 63:  # beyond every count varbench takes; the limits below this are named by the engine
        raise argparse.ArgumentTypeError(f"expected a positive integer below 2^63, got {text!r}")
    return int(value)


def non_negative_int(text: str) -> int:
    """An argument type: ASCII digits."""
    if text.isascii() and text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")


def seed(text: str) -> int:
    """An argument type: a seed, in varbench's one range [0, :data:`varbench.engine.prng.MAX_SEED`]."""
    if text.isascii() and text.isdigit() and int(text) <= MAX_SEED:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer up to {MAX_SEED}, got {text!r}")


def positive_float(text: str) -> float:
    """An argument type: a finite positive number."""
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def path(text: str) -> str:
    """An argument type: a file-system path, non-empty and without NUL (which no operating system accepts)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a non-empty path, got {text!r}")
    return text


def add_plugin(parser: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` (repeatable) on every command that resolves specs."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, registering its problems and estimators (repeatable)")


def add_executor(parser: argparse.ArgumentParser, work: str) -> None:
    """``--executor``, ``--workers`` and ``--scheduler``: where independent pieces of work run."""
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help=f"where {work} run: local (default: in this process) or dask (a Dask cluster; needs "
                             "pip install \"varbench[dask]\")")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="--executor dask: start a local cluster of N worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="--executor dask: use the running cluster whose scheduler is at ADDRESS "
                             "(tcp://HOST:PORT), e.g. one started with dask-jobqueue")


def executor_choice(args: argparse.Namespace) -> ExecutorChoice:
    """The command line's ``--executor``, ``--workers``, ``--scheduler`` and ``--plugin`` as a validated
    :class:`varbench.executors.ExecutorChoice` (nothing is started)."""
    return ExecutorChoice.checked(args.executor, args.workers, args.scheduler, args.plugin)


def add_seed(parser: argparse.ArgumentParser) -> None:
    """``--seed S``, in the one seed range."""
    parser.add_argument("--seed", type=seed, default=0, metavar="S")


class _NumSamples(argparse.Action):
    """Stores ``--num-samples N``; the old spelling ``--samples N`` is noted so that one warning follows parsing."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        if option_string == "--samples":
            namespace.deprecated_samples = True


def add_sampling(parser: argparse.ArgumentParser, num_samples: int, what: str) -> None:
    """``--num-samples`` (``--samples``: its deprecated alias), ``--seed`` and ``--method``, shared by the commands
    that measure."""
    parser.add_argument("--num-samples", "--samples", dest="num_samples", action=_NumSamples, type=positive_int,
                        default=num_samples, metavar="N",
                        help=f"{what} (default {num_samples:.0e}; ignored by --method exact; --samples is a "
                             "deprecated alias)")
    add_seed(parser)
    parser.add_argument("--method", choices=("mc", "exact"), default="mc")
    parser.set_defaults(deprecated_samples=False)

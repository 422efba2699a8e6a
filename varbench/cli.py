"""Command-line interface: ``varbench run`` and ``varbench list``.

Bad input exits with status 2 and ONE line on stderr that names the valid choices; no traceback (set
``VARBENCH_DEBUG=1`` to see one for unexpected internal errors).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from varbench.errors import VarbenchError
from varbench.prng import DEFAULT_PRNG, PRNG_IMPLS
from varbench.spec import parse_assignment

FORMATS = ("table", "json")


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message; varbench prints one line naming the valid choices."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise VarbenchError(f"{message} (see 'varbench {self.prog.split()[-1]} --help')"
                            if " " in self.prog else message)


def _positive_int(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not value.is_integer() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(value)


def _non_negative_int(text: str) -> int:
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="varbench", description="Bias, variance and cost of Monte Carlo gradient "
                            "estimators.")
    sub = parser.add_subparsers(dest="command", parser_class=_OneLineParser, metavar="{run,list}")
    sub.required = True

    run = sub.add_parser("run", help="measure one estimator on one problem")
    run.add_argument("--problem", required=True, metavar="SPEC", help="name or name:key=value,... (see 'list')")
    run.add_argument("--estimator", required=True, metavar="SPEC", help="name or name:key=value,...")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="point at which to measure; a scalar broadcasts (repeatable)")
    run.add_argument("--samples", type=_positive_int, default=1_000_000, metavar="N",
                     help="number of estimates (default 1e6; ignored by --method exact)")
    run.add_argument("--seed", type=_non_negative_int, default=0, metavar="S")
    run.add_argument("--method", choices=("mc", "exact"), default="mc")
    run.add_argument("--chunk-size", type=_positive_int, default=None, metavar="C",
                     help="estimates per vmapped chunk (default: chosen from the problem size)")
    run.add_argument("--prng", choices=tuple(PRNG_IMPLS), default=DEFAULT_PRNG,
                     help="random number generator: threefry (default, statistically sound), rbg, unsafe_rbg "
                          "(XLA's bit generator; a speed experiment, see benchmarks/RESULTS.md)")
    run.add_argument("--format", choices=FORMATS, default="table")

    lst = sub.add_parser("list", help="problems and estimators with their options")
    lst.add_argument("--format", choices=FORMATS, default="table")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from varbench.harness import measure  # imported here so `--help` and errors stay fast

    params = dict(parse_assignment(p) for p in args.param)
    result = measure(args.problem, args.estimator, params=params, num_samples=args.samples, seed=args.seed,
                     method=args.method, chunk_size=args.chunk_size, prng=args.prng)
    if args.format == "json":
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        from varbench.display import print_result
        print_result(result)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from varbench.display import catalogue, print_catalogue
    if args.format == "json":
        print(json.dumps(catalogue()))
    else:
        print_catalogue()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"run": _cmd_run, "list": _cmd_list}[args.command](args)
    except VarbenchError as err:
        print(f"varbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("varbench: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a person gets one line; developers can ask for the traceback
        if os.environ.get("VARBENCH_DEBUG"):
            raise
        print(f"varbench: internal error: {type(err).__name__}: {err} (set VARBENCH_DEBUG=1 for a traceback)"
              .replace("\n", " "), file=sys.stderr)
        return 1


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

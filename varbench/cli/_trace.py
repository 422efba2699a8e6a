"""``varbench trace``: optimise params with one estimator; measure several at the same params."""

from __future__ import annotations

import argparse
import json

from varbench.cli._common import (
    FORMATS,
    add_executor,
    add_plugin,
    add_sampling,
    executor_choice,
    non_negative_int,
    path,
    positive_float,
    positive_int,
)
from varbench.trace import TraceSettings

DEFAULTS = TraceSettings()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``trace`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("trace", help="optimise params with one estimator; measure several at the same "
                                   "params")
    parser.add_argument("--problem", required=True, metavar="SPEC")
    parser.add_argument("--estimator", required=True, metavar="SPEC",
                        help="the driver: its estimates update the params")
    parser.add_argument("--estimators", nargs="+", default=None, metavar="SPEC",
                        help="estimators measured at each checkpoint (default: the driver)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="starting params")
    parser.add_argument("--lr", type=positive_float, default=DEFAULTS.lr,
                        help=f"Adam learning rate (default {DEFAULTS.lr:g})")
    parser.add_argument("--steps", type=non_negative_int, default=DEFAULTS.steps,
                        help=f"optimisation steps (default {DEFAULTS.steps})")
    parser.add_argument("--every", type=positive_int, default=DEFAULTS.every, metavar="M",
                        help="steps between measurements")
    parser.add_argument("--ema-decay", type=float, default=DEFAULTS.ema_decay, metavar="D",
                        help="decay of the papers' moving-average variance of the driver's estimate, in (0, 1) "
                             f"(default {DEFAULTS.ema_decay:g})")
    parser.add_argument("--objective-samples", type=non_negative_int, default=DEFAULTS.objective_samples,
                        metavar="N", help="draws of the Monte Carlo objective (ELBO) at each checkpoint; 0: none "
                                          f"(default {DEFAULTS.objective_samples})")
    add_sampling(parser, DEFAULTS.num_samples, "estimates per variance measurement")
    parser.add_argument("--save-params", type=path, default=None, metavar="DIR",
                        help="write each checkpoint's params to DIR/step_NNNNNN.npz (amortized problems measure at "
                             "one with params_file=...; for others pass values with --param)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="json: one JSON object per line")
    add_executor(parser, "the measurements at the checkpoints")
    add_plugin(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the trace and print its records (a table, or one JSON object per line); returns 0."""
    from varbench.spec import parse_assignments
    from varbench.trace import checkpoint_path, params_file_spec, trace

    settings = TraceSettings(lr=args.lr, steps=args.steps, every=args.every, num_samples=args.num_samples,
                             ema_decay=args.ema_decay, objective_samples=args.objective_samples)
    records = trace(args.problem, args.estimator, estimators=args.estimators, params=parse_assignments(args.param),
                    settings=settings, seed=args.seed, method=args.method, save_params=args.save_params,
                    executor=executor_choice(args))
    if args.format == "json":  # stdout stays pure JSON lines; the files are named by checkpoint_path
        for record in records:
            print(json.dumps(record, allow_nan=False))
        return 0
    from varbench.display import print_trace
    print_trace(records)
    if args.save_params is not None and records:
        last = checkpoint_path(args.save_params, records[-1]["step"])
        spec = params_file_spec(args.problem, last)
        how = (f"measure at one with: varbench run --problem '{spec}' --estimator SPEC" if spec is not None else
               "this problem has no params_file option: pass the values with --param NAME=VALUE")
        print(f"params of each checkpoint saved as {checkpoint_path(args.save_params, 0)} ... {last}; {how}")
    return 0

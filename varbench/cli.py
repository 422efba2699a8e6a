"""Command-line interface: ``varbench run``, ``check``, ``list``, ``trace``, ``suite``, ``results``, ``report``,
``store verify``, ``sequential`` and ``info``.

Bad input exits with status 2 and ONE line on stderr that names the valid choices; no traceback (set
``VARBENCH_DEBUG=1`` to see one for unexpected internal errors).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from varbench.core.errors import VarbenchError
from varbench.engine.prng import DEFAULT_PRNG, MAX_SEED, PRNG_IMPLS
from varbench.spec import parse_assignments

FORMATS = ("table", "json")


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus a message; varbench prints one line naming the valid choices.

    Prefix matching is off (``allow_abbrev=False``): ``--sample 10`` is an error, not ``--samples 10``, so a typo
    never silently selects another option (subparsers are built with this class too).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise VarbenchError(f"{message} (see 'varbench {' '.join(self.prog.split()[1:])} --help')"
                            if " " in self.prog else message)


# Numbers on the command line are ASCII: Python's int() and float() also read other scripts' digits ('٣' is 3),
# which would run a different experiment than the one a reader of the command line sees.
def _positive_int(text: str) -> int:
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if not value.is_integer() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value >= 2.0 ** 63:  # beyond every count varbench takes; the limits below this are named by the engine
        raise argparse.ArgumentTypeError(f"expected a positive integer below 2^63, got {text!r}")
    return int(value)


def _non_negative_int(text: str) -> int:
    if text.isascii() and text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")


def _seed(text: str) -> int:
    if text.isascii() and text.isdigit() and int(text) <= MAX_SEED:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a non-negative integer up to {MAX_SEED}, got {text!r}")


def _positive_float(text: str) -> float:
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _path(text: str) -> str:
    """A file-system path: non-empty, without NUL (which no operating system accepts in a name)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a non-empty path, got {text!r}")
    return text


def _add_plugin(parser: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` (repeatable) on every command that resolves specs."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, registering its problems and estimators (repeatable)")


def _add_executor(parser: argparse.ArgumentParser, work: str) -> None:
    """``--executor``, ``--workers`` and ``--scheduler``: where independent pieces of work run."""
    from varbench.executors import EXECUTORS
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help=f"where {work} run: local (default: in this process) or dask (a Dask cluster; needs "
                             "pip install \"varbench[dask]\")")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="--executor dask: start a local cluster of N worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="--executor dask: use the running cluster whose scheduler is at ADDRESS "
                             "(tcp://HOST:PORT), e.g. one started with dask-jobqueue")


def _add_sampling(parser: argparse.ArgumentParser, samples: int, what: str) -> None:
    """``--samples``, ``--seed`` and ``--method``, shared by the commands that measure."""
    parser.add_argument("--samples", type=_positive_int, default=samples, metavar="N",
                        help=f"{what} (default {samples:.0e}; ignored by --method exact)")
    parser.add_argument("--seed", type=_seed, default=0, metavar="S")
    parser.add_argument("--method", choices=("mc", "exact"), default="mc")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="varbench", description="Bias, variance and cost of Monte Carlo gradient "
                            "estimators.")
    parser.add_argument("--cache-dir", metavar="DIR", default=None,
                        help="persistent compilation cache (default: $VARBENCH_CACHE_DIR, else ~/.cache/varbench/jax; "
                             "'off' disables it; see 'varbench info')")
    sub = parser.add_subparsers(dest="command", parser_class=_OneLineParser,
                                metavar="{run,check,list,trace,suite,results,report,store,sequential,info}")
    sub.required = True
    parser.commands = sub.choices  # command name -> its parser, to name a command's valid options

    run = sub.add_parser("run", help="measure one estimator on one problem")
    run.add_argument("--problem", required=True, metavar="SPEC", help="name or name:key=value,... (see 'list')")
    run.add_argument("--estimator", required=True, metavar="SPEC", help="name or name:key=value,...")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="point at which to measure; a scalar broadcasts (repeatable)")
    _add_sampling(run, 1_000_000, "number of estimates")
    run.add_argument("--chunk-size", type=_positive_int, default=None, metavar="C",
                     help="estimates per vmapped chunk (default: chosen from the problem size)")
    run.add_argument("--warmup", type=_non_negative_int, default=0, metavar="STEPS",
                     help="updates of a stateful estimator at the params before measuring (then frozen)")
    run.add_argument("--prng", choices=tuple(PRNG_IMPLS), default=DEFAULT_PRNG,
                     help="random number generator: threefry (default, statistically sound), rbg, unsafe_rbg "
                          "(XLA's bit generator; a speed experiment, see benchmarks/RESULTS.md)")
    run.add_argument("--format", choices=FORMATS, default="table")
    run.add_argument("--per-coordinate", action="store_true",
                     help="table: one row per parameter coordinate even for large problems (default: per parameter "
                          "above 40 coordinates, with per-group totals for amortized problems)")
    _add_plugin(run)

    chk = sub.add_parser("check", help="the test battery for an estimator: runs, unbiased, variance, state, cost")
    chk.add_argument("estimator", metavar="ESTIMATOR_SPEC", help="the estimator to check (name or name:key=value,...)")
    chk.add_argument("--problems", nargs="+", default=None, metavar="SPEC",
                     help="problems to check on (a bare built-in name uses its check points; default: every "
                          "registered problem the estimator applies to)")
    chk.add_argument("--against", nargs="+", default=None, metavar="SPEC",
                     help="reference estimators for the variance ranking (default: the family's references)")
    chk.add_argument("--level", choices=("quick", "standard", "thorough"), default="standard")
    chk.add_argument("--seed", type=_seed, default=0, metavar="S")
    chk.add_argument("--out", metavar="DIR", default=None,
                     help="also write check.json, check.md, variance.png and a result store (see 'report') into DIR")
    chk.add_argument("--format", choices=FORMATS + ("markdown",), default="table")
    _add_executor(chk, "the problems (each checked independently; worth it at --level thorough)")
    _add_plugin(chk)

    tr = sub.add_parser("trace", help="optimise params with one estimator; measure several at the same params")
    tr.add_argument("--problem", required=True, metavar="SPEC")
    tr.add_argument("--estimator", required=True, metavar="SPEC", help="the driver: its estimates update the params")
    tr.add_argument("--estimators", nargs="+", default=None, metavar="SPEC",
                    help="estimators measured at each checkpoint (default: the driver)")
    tr.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="starting params")
    tr.add_argument("--lr", type=_positive_float, default=0.01, help="Adam learning rate (default 0.01)")
    tr.add_argument("--steps", type=_non_negative_int, default=1000, help="optimisation steps (default 1000)")
    tr.add_argument("--every", type=_positive_int, default=100, metavar="M", help="steps between measurements")
    _add_sampling(tr, 10_000, "estimates per variance measurement")
    tr.add_argument("--save-params", type=_path, default=None, metavar="DIR",
                    help="write each checkpoint's params to DIR/step_NNNNNN.npz (amortized problems measure at one "
                         "with params_file=...; for others pass values with --param)")
    tr.add_argument("--format", choices=FORMATS, default="table", help="json: one JSON object per line")
    _add_executor(tr, "the measurements at the checkpoints")
    _add_plugin(tr)

    lst = sub.add_parser("list", help="problems and estimators with their options")
    lst.add_argument("--format", choices=FORMATS, default="table")
    _add_plugin(lst)

    suite = sub.add_parser("suite", help="run (or resume) a sweep into a result store, then write its report")
    suite.add_argument("--config", type=_path, metavar="FILE", default=None,
                       help="TOML sweep (default: the packaged suite)")
    suite.add_argument("--out", type=_path, metavar="DIR", default="varbench-results",
                       help="result store (default: %(default)s)")
    suite.add_argument("--quick", action="store_true", help="the config's quick variant (fewer samples and points)")
    suite.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="skip cells already finished in DIR (default); --no-resume starts over")
    suite.add_argument("--wait", action="store_true",
                       help="if another process writes DIR, wait until it has finished (default: refuse)")
    _add_executor(suite, "the cells")
    _add_plugin(suite)

    results = sub.add_parser("results", help="summary table of a result store")
    results.add_argument("dir", type=_path, metavar="DIR")
    results.add_argument("--format", choices=("table", "csv", "json"), default="table")

    report = sub.add_parser("report", help="figures, HTML and Markdown pages from a result store")
    report.add_argument("dir", type=_path, metavar="DIR")
    report.add_argument("--out", type=_path, metavar="DIR", default=None, help="where to write (default: DIR/report)")

    st = sub.add_parser("store", help="maintenance of a result store: verify")
    st_sub = st.add_subparsers(dest="store_command", parser_class=_OneLineParser, metavar="{verify}")
    st_sub.required = True
    verify = st_sub.add_parser("verify", help="read every cell file and check it against the manifest (exit 0: all "
                               "good; 1: names each bad file)")
    verify.add_argument("dir", type=_path, metavar="DIR")
    verify.add_argument("--format", choices=FORMATS, default="table")

    seq = sub.add_parser("sequential", help="variance/bias/cost of the VI-as-RL estimators on sequential problems")
    seq.add_argument("--problem", action="append", default=[], metavar="SPEC",
                     help="sequential problem spec (repeatable; default: lgssm and hmm)")
    _add_sampling(seq, 100_000, "estimates per row")
    seq.add_argument("--lambdas", type=_lambda_grid, default=None, metavar="L1,L2,...",
                     help="GAE lambda grid (default 0,0.5,0.9,1)")
    seq.add_argument("--format", choices=FORMATS + ("markdown",), default="table")
    _add_plugin(seq)

    info = sub.add_parser("info", help="versions, backend, devices and the compilation cache in use")
    info.add_argument("--format", choices=FORMATS, default="table")
    return parser


def _lambda_grid(text: str) -> tuple[float, ...]:
    try:
        grid = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}") from None
    if not grid or any(not 0 <= x <= 1 for x in grid):
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in [0, 1], got {text!r}")
    return grid


def _cmd_sequential(args: argparse.Namespace) -> int:
    from varbench import sequential_table as st

    kwargs = dict(num_samples=args.samples, method=args.method, seed=args.seed)
    if args.lambdas is not None:
        kwargs["lambdas"] = args.lambdas
    reports = [st.sequential_table(p, **kwargs) for p in (args.problem or ["lgssm", "hmm"])]
    if args.format == "json":
        print(json.dumps(reports, allow_nan=False))
    elif args.format == "markdown":
        print("\n\n".join(st.markdown(r) for r in reports))
    else:
        for report in reports:
            st.print_table(report)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from varbench.api import measure  # imported here so `--help` and errors stay fast

    params = parse_assignments(args.param)
    result = measure(args.problem, args.estimator, params=params, num_samples=args.samples, seed=args.seed,
                     method=args.method, chunk_size=args.chunk_size, warmup=args.warmup,
                     prng=args.prng)
    if args.format == "json":
        print(json.dumps(result.to_dict(), allow_nan=False))
    else:
        from varbench.catalog import resolve_problem
        from varbench.display import print_result
        problem = resolve_problem(args.problem)
        groups = problem.param_groups() if getattr(problem, "amortized", False) else None
        print_result(result, groups=groups, per_coordinate=args.per_coordinate)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from varbench.battery import check, write_check
    from varbench.executors import ExecutorChoice

    if args.out is not None and not args.out.strip():
        raise VarbenchError("--out must name a directory")
    say = (lambda line: print(f"varbench check: {line}", file=sys.stderr, flush=True)) if args.format == "table" \
        else None
    report = check(args.estimator, problems=args.problems, against=args.against, level=args.level, seed=args.seed,
                   progress=say, executor=ExecutorChoice.checked(args.executor, args.workers, args.scheduler,
                                                                 args.plugin))
    if args.format == "json":
        print(json.dumps(report.to_dict(), allow_nan=False, default=float))
    elif args.format == "markdown":
        print(report.markdown(), end="")
    else:
        from varbench.display import print_check
        print_check(report)
    if args.out is not None:
        write_check(report, args.out)
        if args.format == "table":
            print(f"written to {args.out} (check.md, check.json, variance.png; 'varbench report {args.out}')")
    return 0 if report.passed else 1


def _cmd_trace(args: argparse.Namespace) -> int:
    from varbench.trace import checkpoint_path, params_file_spec, trace

    params = parse_assignments(args.param)
    records = trace(args.problem, args.estimator, estimators=args.estimators, params=params, lr=args.lr,
                    steps=args.steps, every=args.every, samples=args.samples, seed=args.seed, method=args.method,
                    save_params=args.save_params, executor=args.executor, workers=args.workers,
                    scheduler=args.scheduler, plugins=args.plugin)
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


def _cmd_list(args: argparse.Namespace) -> int:
    from varbench.display import catalogue, print_catalogue
    if args.format == "json":
        print(json.dumps(catalogue()))
    else:
        print_catalogue()
    return 0


def _cmd_suite(args: argparse.Namespace) -> int:
    from varbench.suite import run_suite
    manifest = run_suite(args.config, args.out, quick=args.quick, resume=args.resume, plugins=args.plugin,
                         executor=args.executor, workers=args.workers, scheduler=args.scheduler, wait=args.wait)
    failed = manifest.get("cells_failed") or {}
    retried = (manifest.get("runs") or [{}])[-1].get("cells_retried") or {}
    again = (f", {len(retried)} retried after a worker died ({'; '.join(retried)})" if retried else "")
    print(f"varbench suite: {manifest['cells_done']} of {manifest['cells_total']} cells finished, "
          f"{len(manifest.get('cells_skipped') or {})} not applicable, {len(failed)} failed{again}; results in "
          f"{args.out}, report in {os.path.join(args.out, 'report', 'report.html')}")
    return 1 if failed else 0


def _cmd_store(args: argparse.Namespace) -> int:
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


def _cmd_results(args: argparse.Namespace) -> int:
    from varbench.reports import schema, store
    manifest = store.check_store(args.dir)  # blocks, then estimators, in config order
    table = schema.summary(store.load(args.dir), *store.config_order(manifest))
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(table.to_json(orient="records"))
    else:
        print(table.to_string(index=False) if not table.empty else "(no finished cells)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from varbench.reports.page import write_report
    print(write_report(args.dir, args.out))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import jax

    from varbench import __version__
    from varbench.engine import compile_cache, compile_tier, kernel_cache
    facts = {"varbench": __version__, "jax": jax.__version__, "backend": jax.default_backend(),
             "devices": [str(d) for d in jax.devices()], **compile_cache.info(), **compile_tier.info(),
             **kernel_cache.info()}
    if args.format == "json":
        print(json.dumps(facts))
    else:
        for key, value in facts.items():
            print(f"{key:>18}: {', '.join(value) if isinstance(value, list) else value}")
    return 0


def _configure_cache(args: argparse.Namespace) -> None:
    """The persistent compilation cache, before anything compiles (only commands that compute import JAX)."""
    if args.command in ("results", "report", "store"):
        return
    from varbench.engine import compile_cache
    compile_cache.enable(args.cache_dir)


class _one_line_warnings:
    """Warnings meant for people (a cell file left out, a stale lock taken over) as one line each on stderr."""

    def __enter__(self) -> None:
        import warnings

        from varbench.reports.store import StoreWarning
        from varbench.reports.store_lock import StaleLockWarning
        self.shown, self.ours = warnings.showwarning, (StoreWarning, StaleLockWarning)

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, self.ours):
                print(f"varbench: warning: {message}", file=sys.stderr, flush=True)
            else:
                self.shown(message, category, filename, lineno, file, line)
        warnings.showwarning = show

    def __exit__(self, *exc) -> None:
        import warnings
        warnings.showwarning = self.shown


def main(argv: Sequence[str] | None = None) -> int:
    from varbench.reports.store import StoreError
    try:
        with _one_line_warnings():
            return _main(argv)
    except (VarbenchError, StoreError) as err:
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


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = parser.commands[args.command]
        valid = sorted(o for a in command._actions for o in a.option_strings if o.startswith("--"))
        raise VarbenchError(f"unrecognized arguments: {' '.join(unknown)}; valid options of 'varbench "
                            f"{args.command}': {', '.join(valid)}")
    _configure_cache(args)
    if getattr(args, "plugin", None):
        from varbench.catalog import load_plugin
        for module in args.plugin:
            load_plugin(module)
    return {"run": _cmd_run, "check": _cmd_check, "list": _cmd_list, "trace": _cmd_trace, "suite": _cmd_suite,
            "results": _cmd_results, "report": _cmd_report, "store": _cmd_store, "sequential": _cmd_sequential,
            "info": _cmd_info}[args.command](args)


def entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``varbench report``: figures, HTML and Markdown pages from a result store."""

from __future__ import annotations

import argparse
import os

from varbench.cli._common import path


def _formats(text: str) -> tuple[str, ...]:
    """An argument type: figure formats separated by commas (:data:`varbench.reports.page.FIGURE_FORMATS`)."""
    from varbench.reports.page import figure_formats
    try:
        return figure_formats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _width(text: str) -> float:
    """An argument type: a figure width in inches (:data:`varbench.reports.page.WIDTH_RANGE`)."""
    from varbench.reports.page import figure_width
    try:
        return figure_width(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``report`` to ``subparsers``; returns its parser."""
    parser = subparsers.add_parser("report", help="figures, HTML and Markdown pages from a result store")
    parser.add_argument("dir", type=path, metavar="DIR")
    parser.add_argument("--out", type=path, metavar="DIR", default=None,
                        help="where to write (default: DIR/report)")
    parser.add_argument("--figure-format", type=_formats, metavar="FORMATS", default=("png",),
                        help="figure formats, comma-separated, from png, pdf, svg (default: png; PNG is always "
                             "written, the pages embed it); each figure's files sit next to each other")
    parser.add_argument("--figure-width", type=_width, metavar="INCHES", default=None,
                        help="draw every figure this wide, text at 7 pt or more, PNGs at 300 dpi (a paper column "
                             "is about 3.3, a full page width about 6.8; default: each figure's own width)")
    parser.add_argument("--timings", action="store_true",
                        help="also print the seconds each figure took to draw, slowest first (a figure whose data "
                             "did not change since the last report into the folder is not drawn again)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the report and print where; returns 0."""
    from varbench.reports._workers import start_workers, stored_figures

    # the workers that draw the figures import the drawing code while this process imports it and loads the store
    started = start_workers(args.out if args.out is not None else os.path.join(args.dir, "report"),
                            stored_figures(args.dir))
    try:
        from varbench.reports.page import figure_timings, write_report
        html = write_report(args.dir, args.out, formats=args.figure_format, width=args.figure_width,
                            started=started)
    finally:
        if started is not None:
            started.close()
    print(html)
    if args.timings:
        rows = figure_timings(html.parent)
        drawn = [r for r in rows if r[2]]
        print(f"{len(drawn)} of {len(rows)} figures drawn ({sum(r[1] or 0.0 for r in drawn):.1f} s of drawing); "
              "the others were unchanged")
        for name, seconds, now in rows:
            took = "?" if seconds is None else f"{seconds:.2f}"
            print(f"  {took:>7} s  {name}{'' if now else '  (unchanged, not drawn; time of its last drawing)'}")
    return 0

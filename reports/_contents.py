"""What a report page is made of: the blocks as the store's config describes them, the figure each asks for, what
the manifest says about the run, and the sections the page shows.

The manifest is read here and nowhere else in the page: :meth:`Contents.from_manifest` turns it into typed values.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Mapping, NamedTuple

import pandas as pd
from varbench.reports import store, trace_table


class FigureKind(enum.Enum):
    """The figures a block's ``figure = { kind = ... }`` can ask for (:mod:`varbench.reports.figures`)."""

    VARIANCE_VS = "variance_vs"
    TRACE = "trace"
    SEQUENTIAL = "sequential"
    SERIES = "series"
    MODEL_BIAS = "model_bias"


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """A block's ``figure`` table: which figure the report draws and what the section adds to it.

    ``x``, ``col``, ``line`` and ``hue`` are the figure's arguments (grid axes or options, by name); ``overlay``
    names another block whose rows are drawn on the same axes (typically the exact-mode twin); ``note`` is printed
    above the figure; ``groups`` adds the variance per parameter group to the block's table.
    """

    kind: FigureKind | None = None
    x: str | None = None
    col: str | None = None
    line: str | None = None
    hue: str = "estimator_name"
    overlay: str | None = None
    note: str = ""
    groups: bool = False

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> FigureSpec:
        """The spec of a config's ``figure`` table (None or empty: no figure; an unknown kind draws none).

        Args:
          table: the block's ``figure`` table, as the manifest records the config.

        Returns:
          The spec.
        """
        table = table or {}
        kinds = {k.value: k for k in FigureKind}
        return cls(kind=kinds.get(table.get("kind")), x=table.get("x"), col=table.get("col") or None,
                   line=table.get("line"), hue=table.get("hue", "estimator_name"), overlay=table.get("overlay") or None,
                   note=table.get("note", ""), groups=bool(table.get("groups")))


@dataclasses.dataclass(frozen=True)
class ReportBlock:
    """A block of the store's config as the report shows it: a section titled ``title``."""

    name: str
    title: str
    #: Its rows are trace rows (one per checkpoint × estimator), not measurements.
    trace: bool
    figure: FigureSpec
    #: A trace block's ``trace.ema_decay`` (the papers' metric's decay), None where the config sets none.
    ema_decay: float | None = None

    @classmethod
    def from_config(cls, block: Mapping[str, Any]) -> ReportBlock:
        """The report's view of one ``[[block]]`` table of the config.

        Args:
          block: the table, as the manifest records the config.

        Returns:
          The block.
        """
        return cls(name=block["name"], title=block.get("title", block["name"]), trace=block.get("kind") == "trace",
                   figure=FigureSpec.from_config(block.get("figure")), ema_decay=trace_table.ema_decay(block))


class Section(NamedTuple):
    """One section of the page, in both the Markdown and the HTML version."""

    title: str
    #: Its anchor in the HTML page.
    name: str
    #: The file names of its figures in the report folder, in order (a tall figure is cut into pages); empty
    #: without one.
    images: tuple[str, ...]
    #: Its table, values already formatted; None without one.
    table: pd.DataFrame | None
    note: str


def _compiles(counts: Any) -> str | None:
    """The compile counts (block -> kernels compiled) in words; None when the manifest has none (a check store)."""
    if not isinstance(counts, Mapping) or not counts:
        return None
    total = sum(int(n) for n in counts.values())
    per_block = ", ".join(f"{block} {int(n)}" for block, n in counts.items())
    return (f"{total} kernel{'s' * (total != 1)} compiled in {len(counts)} block{'s' * (len(counts) != 1)} "
            f"({per_block})")


def _header(manifest: Mapping[str, Any]) -> str:
    """The line under the page's title: versions, backend, times, compile counts and (several runs) commits. Only
    words and numbers: a value the manifest holds as a table is spelled out, never printed as a Python dict."""
    env = manifest.get("environment", {})
    runs = [r for r in manifest.get("runs", []) if isinstance(r, dict)]
    commits = list(dict.fromkeys(str((r.get("environment") or {}).get("git_commit"))[:10] for r in runs))
    parts = [f"varbench {env.get('varbench_version', '?')}", f"JAX {env.get('jax_version', '?')}",
             f"backend {env.get('backend', '?')}", f"started {manifest.get('started') or '?'}",
             f"finished {manifest.get('finished') or '?'}", _compiles(manifest.get("compile_counts"))]
    if len(runs) > 1:
        parts.append(f"{len(runs)} runs (git commits {', '.join(commits)}; each row's prov_* columns say which)")
    return " · ".join(p for p in parts if p)


@dataclasses.dataclass(frozen=True)
class Contents:
    """What the page shows of a store besides its rows: the blocks in config order, each block's estimators in
    order, the header line, and the cells that failed or were skipped (cell label -> reason)."""

    blocks: tuple[ReportBlock, ...]
    estimator_order: dict[str, list[str]]
    header: str
    cells_failed: dict[str, Any]
    cells_skipped: dict[str, Any]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Contents:
        """The contents of a store whose manifest has the config's blocks (:func:`store.check_store`).

        Args:
          manifest: the store's manifest.

        Returns:
          The contents.
        """
        _, estimator_order = store.config_order(manifest)
        return cls(blocks=tuple(ReportBlock.from_config(b) for b in manifest.get("config", {}).get("block", [])),
                   estimator_order=estimator_order, header=_header(manifest),
                   cells_failed=dict(manifest.get("cells_failed") or {}),
                   cells_skipped=dict(manifest.get("cells_skipped") or {}))

    def cell_lists(self) -> list[tuple[str, dict[str, Any]]]:
        """The two lists that end a report: failures first (something went wrong), then cells that cannot be
        measured.

        Returns:
          ``(title, {cell label: reason})`` pairs.
        """
        return [("Cells that failed", self.cells_failed), ("Cells not measured (not applicable)", self.cells_skipped)]

    def failures_by_block(self) -> dict[str, list[str]]:
        """The failed cells under the block whose name starts their label.

        Returns:
          Block name (``""``: no block of the config) -> ``"<rest of the label>: <reason>"`` per failed cell.
        """
        names = [b.name for b in self.blocks]
        out: dict[str, list[str]] = {}
        for label, reason in self.cells_failed.items():
            block = label.split(" · ", 1)[0]
            out.setdefault(block if block in names else "", []).append(f"{label.removeprefix(block + ' · ')}: {reason}")
        return out

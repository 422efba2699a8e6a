"""A trace block's table at fixed steps, as the papers print one (pure pandas, never JAX).

At a few checkpoints (all of them when there are at most :data:`MAX_STEPS`, else the first, the middle and the
last), a row per driver × estimator: the variance of one estimate of the encoder's parameters (of all parameters
when the problem has no encoder group) with its 95% interval, the same × the cost evaluations per estimate
(work-normalized), the papers' EMA variance along the driver's own run (on the driver's own row) and the ELBO ±
its standard error at the driver's params. The report shows it under the block's figures; ``varbench results
--format latex|markdown`` prints it beside the measurement blocks' tables. Columns that an older store's rows lack
are left out.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from varbench.reports import schema
from varbench.reports._numbers import Cell, PaperTable, finite, round_to_interval

#: The most checkpoints a table shows; a run with more is shown at its first, middle and last.
MAX_STEPS = 3
#: The group whose variance the table shows where the problem has parameter groups (the papers' metric is the
#: encoder's too).
GROUP = "encoder"
#: The column of the papers' metric: EMA(g²) − EMA(g)², averaged over encoder coordinates, on driver rows.
PAPER_EMA = "paper_ema_variance"
#: The decay of the papers' moving averages, and of a trace block whose config sets no ``ema_decay``.
PAPERS_DECAY = 0.999
#: The objective columns shown, in order of preference: (value, standard error, name).
OBJECTIVES = (("elbo", "elbo_stderr", "ELBO"), ("objective_mc", "objective_mc_stderr", "objective (Monte Carlo)"))


def paper_metric(decay: float | None = None) -> str:
    """The papers' metric in words, as the papers' figure and the table's caption describe it.

    Args:
      decay: the moving averages' decay (None: :data:`PAPERS_DECAY`).

    Returns:
      The description.
    """
    return (f"EMA(g²) − EMA(g)² per encoder coordinate (EMA decay {decay or PAPERS_DECAY:g}), averaged over the "
            "encoder's coordinates (every parameter's where the problem has no encoder group), along each driver's "
            "own training run")


def block_config(manifest: Mapping[str, Any] | None, block: str) -> Mapping[str, Any]:
    """A block's table of the config the manifest records.

    Args:
      manifest: the store's manifest, or None.
      block: the block's name.

    Returns:
      The ``[[block]]`` table (empty when the manifest has none of that name).
    """
    return next((b for b in ((manifest or {}).get("config") or {}).get("block", [])
                 if isinstance(b, dict) and b.get("name") == block), {})


def ema_decay(config: Mapping[str, Any]) -> float | None:
    """The ``ema_decay`` of a trace block's config (None where it sets none or is not a trace block).

    Args:
      config: the block's table (:func:`block_config`).

    Returns:
      The decay, or None.
    """
    trace = config.get("trace")
    decay = trace.get("ema_decay") if isinstance(trace, Mapping) else None
    return float(decay) if finite(decay) else None


def interval_columns(group: str | None = None) -> tuple[str, str]:
    """The columns of the 95% interval of a trace row's variance.

    Args:
      group: a parameter group, or None for the total variance.

    Returns:
      ``("total_variance_lo", "total_variance_hi")``, or for a group ``("group_ci_lo_<group>",
      "group_ci_hi_<group>")`` (the per-group fields a trace record may carry, flattened as
      :func:`varbench.reports.schema.trace_rows` flattens them).
    """
    if group is None:
        return "total_variance_lo", "total_variance_hi"
    return f"group_ci_lo_{group}", f"group_ci_hi_{group}"


def values(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats, NaN where a row has no number (all NaN where the frame lacks it: an older store).

    Args:
      frame: rows.
      column: a column name.

    Returns:
      The values, on ``frame``'s index.
    """
    if column not in frame:
        return pd.Series(np.nan, frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def has_papers_figure(frame: pd.DataFrame) -> bool:
    """Whether a trace block's rows have anything for :func:`~.figures.trace_papers` to draw.

    Args:
      frame: the trace rows of one block.

    Returns:
      True when some row has the papers' EMA variance or an objective (:func:`objective_of`).
    """
    return bool(np.isfinite(values(frame, PAPER_EMA).to_numpy()).any()) or objective_of(frame) is not None


def objective_of(frame: pd.DataFrame) -> tuple[str, str, str] | None:
    """The objective a trace block's papers' figure and table show: its ELBO, else its Monte Carlo objective.

    Args:
      frame: the trace rows of one block.

    Returns:
      ``(value column, standard error column, name)`` of :data:`OBJECTIVES`, or None when no row has either.
    """
    return next((o for o in OBJECTIVES if np.isfinite(values(frame, o[0])).any()), None)


def table_steps(steps: Sequence[Any] | pd.Series) -> list[int]:
    """The checkpoints a table shows.

    Args:
      steps: the steps of a run's rows (repeats allowed).

    Returns:
      The distinct steps in order when there are at most :data:`MAX_STEPS`; else the first, the middle (the
      lower of two) and the last.
    """
    found = sorted({int(s) for s in steps if finite(s)})
    return found if len(found) <= MAX_STEPS else [found[0], found[(len(found) - 1) // 2], found[-1]]


def trace_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The trace rows of a frame (one per checkpoint × measured estimator).

    Args:
      frame: tidy rows.

    Returns:
      Its rows that name a driver and a step (measurement rows, which have neither, left out).
    """
    if "driver" not in frame or "step" not in frame:
        return frame.iloc[0:0]
    return frame[frame["driver"].notna() & frame["step"].notna()]


def _seed_means(rows: pd.DataFrame, what: str | None, objective: tuple[str, str, str] | None) -> dict[str, float]:
    """One driver × step × estimator's rows (one per trace seed) in numbers: the means over seeds of the variance
    (of group ``what``, None: the total) and its interval's ends, of the same × evaluations, of the papers' EMA
    variance and of the objective, whose standard error is the seeds' combined. Where every seed's interval holds,
    the means of its ends bound the mean of the true variances."""
    column = "total_variance" if what is None else schema.GROUP_VARIANCE_PREFIX + what
    evaluations = values(rows, "evaluations_per_estimate")
    out = {"evaluations": evaluations.mean()}
    for key, name in zip(("variance", "variance_lo", "variance_hi"), (column, *interval_columns(what))):
        out[key] = values(rows, name).mean()
        out[key.replace("variance", "work")] = (values(rows, name) * evaluations).mean()
    for key, name in zip(("total", "total_lo", "total_hi"), ("total_variance", *interval_columns())):
        out[key] = values(rows, name).mean()
    out[PAPER_EMA] = values(rows, PAPER_EMA).mean()
    if objective is not None:
        value, stderr = values(rows, objective[0]), values(rows, objective[1])
        out["objective"] = value.mean()
        out["objective_se"] = math.sqrt((stderr ** 2).sum(min_count=1)) / max(1, int(value.notna().sum()))
    return out


def numbers(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The numbers of one trace block's table.

    Args:
      frame: the block's trace rows (:func:`varbench.reports.schema.trace_rows`).

    Returns:
      A row per driver × shown step (:func:`table_steps` of the driver's run) × estimator, in the rows' order:
      ``driver``, ``step``, ``estimator``, ``variance``, ``variance_lo``, ``variance_hi``, ``evaluations``,
      ``work``, ``work_lo``, ``work_hi`` (variance × evaluations), ``total``, ``total_lo``, ``total_hi`` (the
      total variance and its interval, the same as ``variance`` without groups), ``paper_ema_variance`` and, where
      the rows have
      an objective (:func:`objective_of`), ``objective`` and ``objective_se``; the group the variance is of (None:
      all parameters).
    """
    what = GROUP if GROUP in schema.trace_groups(frame) else None
    objective = objective_of(frame)
    out = []
    for driver, run in frame.groupby("driver", sort=False):
        shown = run[run["step"].isin(table_steps(run["step"]))].sort_values("step", kind="stable")
        for (step, label), rows in shown.groupby(["step", "estimator_label"], sort=False):
            out.append(dict(driver=str(driver), step=int(step), estimator=str(label),
                            **_seed_means(rows, what, objective)))
    return pd.DataFrame(out), what


def plus_minus(value: Any, se: Any) -> str | None:
    """``value ± se``, both rounded to the second significant digit of ``se``.

    Args:
      value: the number.
      se: its standard error (NaN or 0: the value alone, to six significant digits).

    Returns:
      The text (``-98.73 ± 0.12``), or None when ``value`` is not a finite number.
    """
    if not finite(value):
        return None
    if not finite(se) or float(se) <= 0:
        return f"{float(value):.6g}"
    step = Decimal(1).scaleb(math.floor(math.log10(float(se))) - 1)
    digits = [Decimal(repr(float(x))).quantize(step, rounding=ROUND_HALF_EVEN) for x in (value, se)]
    return f"{digits[0]:f} ± {digits[1]:f}"


def _header(table: pd.DataFrame, what: str | None, objective: str | None) -> list[tuple[str, str | None]]:
    """The header of each column and the number it shows (None: a text column), without the columns that no row
    has a number for."""
    columns = [("Driver", None), ("Step", None), ("Estimator", None),
               (f"Variance ({what or 'all parameters'})", "variance"), ("Variance × evaluations", "work")]
    if what is not None and np.isfinite(values(table, "total_lo")).any():
        # the group's variance has no interval in the store: the total's is shown beside it
        columns.append(("Total variance", "total"))
    if np.isfinite(values(table, PAPER_EMA)).any():
        columns.append(("Papers' EMA variance", PAPER_EMA))
    if objective is not None:
        columns.append((f"{objective} ± s.e.", "objective"))
    return columns


def _caption(block: str, table: pd.DataFrame, frame: pd.DataFrame, what: str | None, header: Sequence[str],
             config: Mapping[str, Any], decay: float | None) -> str:
    """What a reader needs to judge a trace block's table: the run, the steps shown and each column."""
    title, problem = config.get("title"), config.get("problem")
    where = f"trace block {block}" + (f", problem {problem}" if problem else "")
    samples = sorted({int(n) for n in values(frame, "num_samples") if finite(n)})
    seeds = frame["trace_seed"].nunique() if "trace_seed" in frame else 1
    parts = [f"{title} ({where})." if title else f"{where[0].upper()}{where[1:]}.",
             "Each estimator measured at the params that the driver's run reached at the step"
             + (f", with {' or '.join(map(str, samples))} estimates per checkpoint" if samples else "")
             + f"; steps shown: {', '.join(map(str, sorted(set(table['step']))))}"
             + (f"; mean over {seeds} trace seeds" if seeds > 1 else "") + ".",
             f"Variance: of one estimate of the {what + ' parameters' if what else 'parameters'}, summed over their "
             "coordinates, with its 95% interval in brackets where the store has one; × evaluations: the same "
             "times the cost evaluations per estimate."
             + (" Total variance: of all parameters, with its 95% interval." if "Total variance" in header else "")]
    if np.isfinite(values(table, PAPER_EMA)).any():
        parts.append(f"Papers' EMA variance: {paper_metric(decay)} (on the driver's own rows).")
    objective = objective_of(frame)
    if objective is not None:
        parts.append(f"{objective[2][:1].upper()}{objective[2][1:]} ± its standard error at the driver's params.")
    return " ".join(parts)


def paper_table(block: str, frame: pd.DataFrame, manifest: Mapping[str, Any] | None = None,
                decay: float | None = None) -> PaperTable:
    """One trace block's table at fixed steps.

    Args:
      block: the block's name.
      frame: its trace rows.
      manifest: the store's manifest (the block's title, problem and EMA decay), if any.
      decay: the EMA decay of the papers' metric, named in the caption (None: the config's, else
        :data:`PAPERS_DECAY`).

    Returns:
      The table; a driver and a step are written on the first of their rows only.
    """
    table, what = numbers(frame)
    objective = objective_of(frame)
    columns = _header(table, what, objective[2] if objective else None)
    rows, previous = [], (None, None)
    for _, r in table.iterrows():
        cells = [Cell(r["driver"] if r["driver"] != previous[0] else ""),
                 Cell(str(r["step"]) if (r["driver"], r["step"]) != previous else "")]
        previous = (r["driver"], r["step"])
        cells.append(Cell(r["estimator"]))
        for _, key in columns[3:]:
            if key == "objective":
                cells.append(Cell(plus_minus(r["objective"], r["objective_se"])))
            else:
                cells.append(Cell(round_to_interval(r[key], r.get(key + "_lo", np.nan), r.get(key + "_hi", np.nan))))
        rows.append(cells)
    header = [h for h, _ in columns]
    config = block_config(manifest, block)
    caption = _caption(block, table, frame, what, header, config, decay or ema_decay(config))
    return PaperTable(block, caption, header, rows, text_columns=3)


def paper_tables(frame: pd.DataFrame, manifest: Mapping[str, Any] | None = None) -> list[PaperTable]:
    """The tables of a store's trace blocks, one per block, in the order of the rows.

    Args:
      frame: the store's tidy rows (measurement rows are skipped).
      manifest: the store's manifest, if any.

    Returns:
      One :class:`~varbench.reports._numbers.PaperTable` per trace block (none without trace rows).
    """
    rows = trace_rows(frame)
    if rows.empty or "block" not in rows:
        return []
    return [paper_table(str(block), sub.reset_index(drop=True), manifest)
            for block, sub in rows.groupby("block", sort=False)]

"""Variance per parameter group (encoder vs decoder), from tidy records. Never imports JAX.

Amortized problems name encoder parameters ``enc_*``; every other parameter belongs to the generative model
("decoder", prior included) — the same rule as ``varbench.problems.amortized.Amortized.param_groups``. A
measurement without any ``enc_`` parameter (a Gaussian, sequential or trace row in a mixed store) has no groups and is
left out, so its parameters are never counted as "decoder". Pass an explicit ``{group: [param names]}`` mapping for
other problems (then every measurement is kept).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from varbench.reports import schema

ENCODER_PREFIX = "enc_"
#: Columns that identify one measurement (one result) in a tidy frame, when present.
RESULT_KEYS = ("block", "cell", "point", "problem", "estimator", "estimator_label", "seed", "method")


def group_of(param: str, groups: Mapping[str, Sequence[str]] | None = None) -> str:
    """The group of a parameter.

    Args:
      param: the parameter's name.
      groups: group -> parameter names; None: by the ``enc_`` prefix.

    Returns:
      Its group in ``groups`` (``"other"`` when none names it), else ``"encoder"`` or ``"decoder"``.
    """
    if groups is not None:
        return next((g for g, names in groups.items() if param in names), "other")
    return "encoder" if param.startswith(ENCODER_PREFIX) else "decoder"


def group_variance(frame: pd.DataFrame, groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The variance of one estimate per measurement and parameter group.

    Args:
      frame: tidy rows; without ``groups``, only measurements with an ``enc_`` parameter are kept.
      groups: group -> parameter names (see :func:`group_of`).

    Returns:
      Per measurement (:data:`RESULT_KEYS`) and ``group``: the summed per-coordinate ``variance``, the number of
      ``coordinates``, ``evaluations_per_estimate`` and the ``work_normalized_variance`` (variance × evaluations).
    """
    frame = schema.numeric(schema.measurements(frame))
    keys = [k for k in RESULT_KEYS if k in frame.columns]
    if groups is None and not frame.empty:  # only measurements of problems with an encoder have groups
        amortized = frame["param"].str.startswith(ENCODER_PREFIX).groupby([frame[k] for k in keys], dropna=False
                                                                           ).transform("any")
        frame = frame[amortized.astype(bool)]
    tagged = frame.assign(group=[group_of(p, groups) for p in frame["param"]],
                          variance=pd.to_numeric(frame["variance"], errors="coerce"))
    out = tagged.groupby(keys + ["group"], sort=False, dropna=False).agg(
        variance=("variance", "sum"), coordinates=("variance", "size"),
        evaluations_per_estimate=("evaluations_per_estimate", "first")).reset_index()
    out["work_normalized_variance"] = out["variance"] * out["evaluations_per_estimate"]
    return out


def group_table(frame: pd.DataFrame, groups: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The variance per parameter group as a table.

    Args:
      frame: tidy rows.
      groups: group -> parameter names (see :func:`group_of`).

    Returns:
      One row per block (when the frame has blocks) × estimator, with ``<group>_variance`` and
      ``<group>_variance_x_evaluations`` columns: medians over points and seeds of :func:`group_variance`. Empty
      when no measurement has groups.
    """
    per = group_variance(frame, groups)
    label = "estimator_label" if "estimator_label" in per.columns else "estimator"
    by = (["block"] if "block" in per.columns else []) + [label]
    if per.empty:
        return pd.DataFrame(columns=[*by[:-1], "estimator"])
    table = per.groupby(by + ["group"], sort=False).agg(
        variance=("variance", "median"), work=("work_normalized_variance", "median")).unstack("group")
    table.columns = [f"{g}_variance" if stat == "variance" else f"{g}_variance_x_evaluations"
                     for stat, g in table.columns]
    return table.reset_index().rename(columns={label: "estimator"}).replace([np.inf, -np.inf], np.nan)

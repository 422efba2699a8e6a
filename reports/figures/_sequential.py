"""Figures of sequential problems: the bias-variance trade-off of n-step and GAE per critic, and the model bias of
a model-based estimator."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from varbench.reports import schema
from varbench.reports.figures._axes import integer_ticks, plain_log_ticks
from varbench.reports.figures._style import CRITIC_COLORS, estimator_palette, value_palette

#: The estimators drawn as horizontal reference lines in :func:`sequential_panels`, and their legend text.
REFERENCES = {"score_function:returns=full": "full return", "score_function:returns=to_go": "reward-to-go",
              "score_function:returns=to_go,baseline=value": "value baseline (oracle)", "pathwise": "pathwise"}
#: The two families of :func:`sequential_panels` (a column each): estimator name, option drawn along x, its label.
FAMILIES = (("n_step", "n", "n (steps before bootstrapping)"), ("gae", "lambda", "λ"))


def _relative_norms(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement (cell × point) with ``relative_bias`` = ‖bias‖ / ‖exact gradient‖ and
    ``noise_floor`` = ‖se‖ / ‖exact gradient‖ (norms over the parameter coordinates)."""
    norms = frame.assign(b2=pd.to_numeric(frame["bias"], errors="coerce") ** 2,
                         g2=pd.to_numeric(frame["grad_exact"], errors="coerce") ** 2,
                         s2=pd.to_numeric(frame["grad_se"], errors="coerce") ** 2).groupby(
        ["cell", "point"])[["b2", "g2", "s2"]].sum()
    per = frame.drop_duplicates(["cell", "point"]).join(norms, on=["cell", "point"])
    per["relative_bias"] = np.sqrt(per["b2"] / per["g2"])
    per["noise_floor"] = np.sqrt(per["s2"] / per["g2"])
    return per


def _model_bias_axes(axes: np.ndarray, x: str) -> None:
    for ax, ylabel in ((axes[0], "‖bias‖ / ‖∇‖ (dotted: MC noise floor)"), (axes[1], "total variance of one estimate")):
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(ylabel)
    if x == "fit_transitions":
        for ax in axes:
            ax.set_xscale("log")
    for ax in axes:
        plain_log_ticks(ax)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def model_bias(frame: pd.DataFrame, x: str, line: str, title: str = "", estimator: str = "model_pathwise"
               ) -> plt.Figure:
    """Model bias and variance of a model-based estimator vs its model option ``x``, one line per ``line``.

    Left: ‖bias‖ / ‖exact gradient‖ (the Monte Carlo noise floor ‖se‖ / ‖gradient‖ dotted); right: total
    variance, with the other (unbiased) estimators of the block as horizontal lines in the colour of their
    ``line`` value. Several seeds of a point are averaged, with a band.

    Args:
      frame: tidy measurement rows of one block.
      x: the estimator option along the x axis (``model_error``, ``fit_transitions``).
      line: the grid axis whose values get a line each (the horizon ``T``).
      title: the figure's title.
      estimator: the name of the model-based estimator; every other estimator is a reference.

    Returns:
      The figure.
    """
    x_col, line_col = schema.option_column(x), schema.grid_column(line)
    per = _relative_norms(frame)
    model = per[per["estimator_name"] == estimator].copy()
    model[x_col] = pd.to_numeric(model.get(x_col, pd.Series(index=model.index, dtype=float)), errors="coerce")
    if x == "model_error":  # the option's default (0) is left out of specs that rely on it
        model[x_col] = model[x_col].fillna(0.0)
    lines = sorted(per[line_col].dropna().unique()) if line_col in per else []
    colors = value_palette([str(v) for v in lines])
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for value in lines:
        c = colors[str(value)]
        sub = model[model[line_col] == value].sort_values(x_col)
        for ax, y in ((axes[0], "relative_bias"), (axes[1], "total_variance")):
            sns.lineplot(data=sub, x=x_col, y=y, color=c, marker="o", ax=ax, label=f"{line} = {value:g}")
        sns.lineplot(data=sub, x=x_col, y="noise_floor", color=c, ls=":", ax=axes[0])
        others = per[(per["estimator_name"] != estimator) & (per[line_col] == value)]
        for k, (label, group) in enumerate(others.groupby("estimator_label", sort=False)):
            axes[1].axhline(float(group["total_variance"].mean()), color=c, lw=1, ls=("--", "-.", ":")[k % 3],
                            label=f"{label} ({line} = {value:g})")
    _model_bias_axes(axes, x)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _per_estimator(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One row per measurement with its ``critic`` (default ``oracle``) and ``max_abs_bias``, and the label of the
    bias axis. The bias comes from exact-mode rows when there are any; the variance from the Monte Carlo rows."""
    exact = frame["method"].eq("exact")
    bias_rows = frame[exact] if exact.any() else frame
    variance_rows = frame[~exact] if (~exact).any() else frame
    per = variance_rows.drop_duplicates(["cell", "point"]).copy()
    per["critic"] = per.get(schema.option_column("critic"), pd.Series(index=per.index, dtype=object)).fillna("oracle")
    # one value per estimator (these blocks measure one point): the largest |bias| over coordinates
    absbias = bias_rows.assign(ab=pd.to_numeric(bias_rows["bias"], errors="coerce").abs()).groupby(
        "estimator_label")["ab"].max()
    per["max_abs_bias"] = per["estimator_label"].map(absbias)
    return per, "largest |bias|, exact" if exact.any() else "largest |bias| (incl. MC noise)"


def _family_panel(ax: plt.Axes, sub: pd.DataFrame, x: str, y: str, per: pd.DataFrame) -> None:
    """One family's line per critic (variance panels, ``y == "total_variance"``: with the reference lines)."""
    critics = [c for c in CRITIC_COLORS if c in set(sub["critic"])] + sorted(set(sub["critic"]) - set(CRITIC_COLORS))
    sns.lineplot(data=sub.sort_values(x), x=x, y=y, hue="critic", hue_order=critics, marker="o", ax=ax,
                 palette={c: CRITIC_COLORS.get(c, "#777777") for c in critics})
    if y == "total_variance":
        ref_colors = estimator_palette(list(REFERENCES))
        for label, text in REFERENCES.items():
            ref = per[per["estimator_label"] == label]["total_variance"]
            if len(ref):
                ax.axhline(float(ref.iloc[0]), color=ref_colors[label], ls=":", lw=1.2, label=text)
        ax.legend(fontsize=7)
        ax.set_yscale("log")
        plain_log_ticks(ax)


def sequential_panels(frame: pd.DataFrame, title: str = "") -> plt.Figure:
    """Total variance (top) and largest |bias| (bottom) vs n for n-step and vs λ for GAE, per critic.

    Horizontal lines mark the full return, the reward-to-go, the value baseline and pathwise, so the ordering that
    Weber et al. (2015) predict can be read off. When the frame also holds exact-mode rows (a block's ``overlay``),
    the bias comes from them: a Monte Carlo |bias| is mostly sampling noise, which makes an oracle critic look
    biased and can rank a learned critic below it; the variance comes from the Monte Carlo rows.

    Args:
      frame: tidy measurement rows of one block (and of its exact-mode overlay).
      title: the figure's title.

    Returns:
      The figure (a family with no rows, as in a ``--quick`` run, has its column of axes hidden).
    """
    per, bias_label = _per_estimator(frame)
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 5.6), sharex="col")
    for j, (name, option, xlabel) in enumerate(FAMILIES):
        x = schema.option_column(option)
        sub = per[per["estimator_name"] == name].copy()
        if sub.empty or x not in sub:
            for ax in axes[:, j]:  # nothing measured for this family (e.g. a --quick run): no empty axes
                ax.set_visible(False)
            continue
        sub[x] = pd.to_numeric(sub[x], errors="coerce")
        for row, (y, ylabel) in enumerate((("total_variance", "total variance of one estimate"),
                                           ("max_abs_bias", bias_label))):
            ax = axes[row][j]
            _family_panel(ax, sub, x, y, per)
            ax.set_ylabel(ylabel)
            ax.set_xlabel(xlabel)
            integer_ticks(ax, sub[x])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig

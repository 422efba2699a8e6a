"""Figures of sequential problems: the bias-variance trade-off of n-step and GAE per critic, and the model bias of
a model-based estimator."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import scipy.stats as sps
import seaborn as sns
from matplotlib.lines import Line2D
from varbench.reports import schema
from varbench.reports.figures._axes import integer_ticks, plain_log_ticks, wrap
from varbench.reports.figures._families import MAX_PER_PANEL, short_label
from varbench.reports.figures._labels import framed
from varbench.reports.figures._style import CRITIC_COLORS, estimator_palette, value_palette

#: The estimators drawn as horizontal reference lines in :func:`sequential_panels`, and their legend text.
REFERENCES = {"score_function:returns=full": "full return", "score_function:returns=to_go": "reward-to-go",
              "score_function:returns=to_go,baseline=value": "value baseline (oracle)", "pathwise": "pathwise"}
#: The two families of :func:`sequential_panels` (a column each): estimator name, option drawn along x, its label.
FAMILIES = (("n_step", "n", "n (steps before bootstrapping)"), ("gae", "lambda", "λ"))


#: The dash of each reference estimator (a horizontal line) of :func:`model_bias`.
REFERENCE_DASHES = ("--", "-.", ":")
#: Figures narrower than this (inches) stack their panels.
STACK_BELOW = 5.5

#: The normal 97.5% quantile: 95% intervals and noise floors are this many standard errors wide.
Z95 = 1.959964
#: What the marks of the bias panels mean (their legend).
BIAS_KEY = {"bars": "bars: 95% interval", "floor": "dotted: noise floor"}
#: The caption under a figure with Monte Carlo bias panels.
BIAS_CAPTION = ("Bias: bars are 95% intervals (simultaneous over the coordinates); dotted, the noise floor that an "
                "unbiased estimator's Monte Carlo noise stays below with 95% probability: a value under it is noise.")


def _relative_norms(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per measurement (cell × point) with ``relative_bias`` = ‖bias‖ / ‖exact gradient‖ and
    ``noise_floor`` = 1.96 ‖se‖ / ‖exact gradient‖ (norms over the parameter coordinates; NaN without standard
    errors, as in exact mode).

    The Monte Carlo error e of the bias vector has ‖e‖ ≤ 1.96 ‖se‖ with probability ≥ 95% (a weighted sum of
    χ²₁ variables with weights summing to ‖se‖² has its 95% quantile at most 1.96² ‖se‖², the one-weight case), so
    the floor bounds what pure noise shows, and ‖bias‖ ± the floor is a 95% interval for the true ‖bias‖ (triangle
    inequality)."""
    norms = frame.assign(b2=pd.to_numeric(frame["bias"], errors="coerce") ** 2,
                         g2=pd.to_numeric(frame["grad_exact"], errors="coerce") ** 2,
                         s2=pd.to_numeric(frame["grad_se"], errors="coerce") ** 2).groupby(
        ["cell", "point"])[["b2", "g2", "s2"]].sum(min_count=1)
    per = frame.drop_duplicates(["cell", "point"]).join(norms, on=["cell", "point"])
    per["relative_bias"] = np.sqrt(per["b2"] / per["g2"])
    per["noise_floor"] = Z95 * np.sqrt(per["s2"] / per["g2"])
    return per


def _bias_key(ax: plt.Axes, **style: object) -> None:
    """The panel's legend: its lines, then what the bars and the dotted lines mean."""
    handles, labels = ax.get_legend_handles_labels()
    keys = [Line2D([], [], color="0.3", marker="|", ms=9, ls="none"), Line2D([], [], color="0.3", ls=":")]
    ax.legend(handles + keys, labels + list(BIAS_KEY.values()), **style)


def _model_bias_points(ax: plt.Axes, sub: pd.DataFrame, x_col: str, color: tuple, label: str,
                       bottom: float) -> None:
    """One ``line`` value of :func:`model_bias`'s bias panel: each measurement (each seed) a marker with its 95%
    interval, a thin line through the mean over seeds and the dotted noise floor. A bar reaching below ``bottom``
    (the axis' lower limit) is an interval that holds zero: that bias is indistinguishable from noise."""
    mean = sub.groupby(x_col)[["relative_bias", "noise_floor"]].mean()
    # thin: the bars, not the line, say how far the trend can be trusted
    ax.plot(mean.index, mean["relative_bias"], color=color, lw=0.8, label=label)
    ax.plot(mean.index, mean["noise_floor"], color=color, ls=":", lw=1.2)
    lower = (sub["relative_bias"] - sub["noise_floor"]).clip(lower=bottom / 10)
    below = (sub["relative_bias"] - lower).clip(lower=0)
    ax.errorbar(sub[x_col], sub["relative_bias"], yerr=[below, sub["noise_floor"]],
                fmt="o", ms=4, color=color, ecolor=color, elinewidth=1, capsize=2.5, ls="none")


def _model_bias_axes(axes: np.ndarray, x: str, bottom: float, references: dict[str, object]) -> None:
    """Scales, labels and legends of :func:`model_bias` (``references``: the dash of each reference estimator)."""
    for ax, ylabel in ((axes[0], "‖bias‖ / ‖∇‖"), (axes[1], "total variance of one estimate")):
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(ylabel)
    if np.isfinite(bottom):
        axes[0].set_ylim(bottom=bottom)
    for ax in axes[:2]:
        if x == "fit_transitions":
            ax.set_xscale("log")
        else:  # a few plain values: 0.000 0.025 0.050 ... ran into each other
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        plain_log_ticks(ax)
    _bias_key(axes[0], fontsize=7)
    handles, labels = axes[1].get_legend_handles_labels()
    keys = [Line2D([], [], color="0.35", lw=1, ls=dash) for dash in references.values()]
    labels += [f"{short_label(label)} (reference)" for label in references]
    # at most MAX_PER_PANEL entries: the model's lines, then as many references as fit
    n = min(len(handles) + len(keys), MAX_PER_PANEL)
    if axes[1].get_legend() is not None:
        axes[1].get_legend().remove()
    if len(axes) > 2:  # stacked: the legend has a row of its own under the panels
        axes[2].legend((handles + keys)[:n], labels[:n], fontsize=7, loc="center", frameon=False)
    else:
        axes[1].legend((handles + keys)[:n], labels[:n], fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5),
                       frameon=False)


def model_bias(frame: pd.DataFrame, x: str, line: str, title: str = "", estimator: str = "model_pathwise",
               width: float | None = None) -> plt.Figure:
    """Model bias and variance of a model-based estimator vs its model option ``x``, one line per ``line``.

    Left: ‖bias‖ / ‖exact gradient‖ of each measurement with its 95% interval (bars), the Monte Carlo noise floor
    1.96 ‖se‖ / ‖gradient‖ dotted and a thin line through the mean over seeds: a change within the bars is noise,
    not a trend. Right: total variance, with the other (unbiased) estimators of the block as horizontal lines in
    the colour of their ``line`` value; several seeds of a point are averaged, with a band.

    Args:
      frame: tidy measurement rows of one block.
      x: the estimator option along the x axis (``model_error``, ``fit_transitions``).
      line: the grid axis whose values get a line each (the horizon ``T``).
      title: the figure's title.
      estimator: the name of the model-based estimator; every other estimator is a reference.
      width: the figure's width in inches (default 9.5); under :data:`STACK_BELOW`, the panels are stacked.

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
    references: dict[str, object] = {}
    width = width or 9.5
    if width < STACK_BELOW:  # one panel above the other, the legend in a row of its own under them
        fig, axes = plt.subplots(3, 1, figsize=(width, 1.25 * width + 0.9), height_ratios=[1, 1, 0.75])
        axes[2].axis("off")
    else:
        fig, axes = plt.subplots(1, 2, figsize=(width, 0.36 * width))
    shown = pd.concat([model["relative_bias"], model["noise_floor"]])
    bottom = 0.5 * float(shown[shown > 0].min()) if (shown > 0).any() else np.nan
    for value in lines:
        c = colors[str(value)]
        sub = model[model[line_col] == value].sort_values(x_col)
        _model_bias_points(axes[0], sub, x_col, c, f"{line} = {value:g}", bottom)
        sns.lineplot(data=sub, x=x_col, y="total_variance", color=c, marker="o", ax=axes[1],
                     label=f"{line} = {value:g}")
        others = per[(per["estimator_name"] != estimator) & (per[line_col] == value)]
        for k, (label, group) in enumerate(others.groupby("estimator_label", sort=False)):
            # the line's colour says T, its dash the estimator: the legend keys each once, not per T
            axes[1].axhline(float(group["total_variance"].mean()), color=c, lw=1, ls=REFERENCE_DASHES[k % 3])
            references.setdefault(label, REFERENCE_DASHES[k % 3])
    _model_bias_axes(axes, x, bottom, references)
    if title:
        fig.suptitle(wrap(title, width, 10), fontsize=10)
    # the title is the figure's own (set above); the caption and the key to the labels go in a band under it
    return framed(fig, "", [], list(references), caption=BIAS_CAPTION if model["noise_floor"].notna().any() else "")


def _largest_bias(rows: pd.DataFrame, exact: bool) -> pd.DataFrame:
    """Per estimator label: ``max_abs_bias`` (the largest |bias| over coordinates), ``bias_halfwidth`` (the
    half-width of its 95% interval) and ``noise_floor`` (the largest |bias| that noise alone reaches with
    probability 5%); both NaN in exact mode.

    The largest of m noisy values is picked after seeing them, so both use the simultaneous quantile
    z = Φ⁻¹(1 - 0.025 / m) (Bonferroni over the m coordinates): the interval z·se of the picked coordinate holds
    its true |bias| with probability ≥ 95%, and an unbiased estimator's largest |bias| stays below z·max se."""
    d = rows.reset_index(drop=True).assign(ab=pd.to_numeric(rows["bias"], errors="coerce").abs().to_numpy(),
                                           se=pd.to_numeric(rows["grad_se"], errors="coerce").to_numpy())
    d = d[d["ab"].notna()]
    if exact:
        d = d.assign(se=np.nan)
    if d.empty:
        return pd.DataFrame(columns=["max_abs_bias", "bias_halfwidth", "noise_floor"], dtype=float)
    by = d.groupby("estimator_label")
    top = d.loc[by["ab"].idxmax()].set_index("estimator_label")
    z = pd.Series(sps.norm.ppf(1 - 0.025 / by["ab"].size()), index=top.index)
    return pd.DataFrame(dict(max_abs_bias=top["ab"], bias_halfwidth=z * top["se"], noise_floor=z * by["se"].max()))


def _per_estimator(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One row per measurement with its ``critic`` (default ``oracle``) and the columns of :func:`_largest_bias`,
    and the label of the bias axis. The bias comes from exact-mode rows when there are any; the variance from the
    Monte Carlo rows."""
    exact = frame["method"].eq("exact")
    bias_rows = frame[exact] if exact.any() else frame
    variance_rows = frame[~exact] if (~exact).any() else frame
    per = variance_rows.drop_duplicates(["cell", "point"]).copy()
    per["critic"] = per.get(schema.option_column("critic"), pd.Series(index=per.index, dtype=object)).fillna("oracle")
    # one value per estimator (these blocks measure one point)
    per = per.join(_largest_bias(bias_rows, bool(exact.any())), on="estimator_label")
    return per, "largest |bias|, exact" if exact.any() else "largest |bias| (Monte Carlo)"


def _critics(sub: pd.DataFrame) -> list[str]:
    return [c for c in CRITIC_COLORS if c in set(sub["critic"])] + sorted(set(sub["critic"]) - set(CRITIC_COLORS))


def _bias_panel(ax: plt.Axes, sub: pd.DataFrame, x: str) -> None:
    """One family's largest |bias| per critic: markers with their 95% intervals and the dotted noise floor (Monte
    Carlo), so that values within noise do not read as a trend; the axis starts at 0, where a bar that reaches it
    says the bias may be zero."""
    for critic in _critics(sub):
        d = sub[sub["critic"] == critic].sort_values(x)
        color = CRITIC_COLORS.get(critic, "#777777")
        half = d["bias_halfwidth"]
        ax.errorbar(d[x], d["max_abs_bias"], yerr=half.fillna(0) if half.notna().any() else None, fmt="o", ms=5,
                    ls="-", lw=0.8, elinewidth=1.2, capsize=3, color=color, label=critic)
        if d["noise_floor"].notna().any():
            ax.plot(d[x], d["noise_floor"], color=color, ls=":", lw=1.2)
    ax.set_ylim(bottom=0)
    if sub["bias_halfwidth"].notna().any():
        _bias_key(ax, fontsize=7, title="critic")
    else:
        ax.legend(fontsize=7, title="critic")


def _family_panel(ax: plt.Axes, sub: pd.DataFrame, x: str, y: str, per: pd.DataFrame) -> None:
    """One family's line per critic (variance panels, ``y == "total_variance"``: with the reference lines)."""
    if y == "max_abs_bias":
        _bias_panel(ax, sub, x)
        return
    critics = _critics(sub)
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


def _one_variance_legend(axes: list[plt.Axes], holder: plt.Axes | None) -> None:
    """The variance panels have the same legend: one, where it covers no line (inside, it hid the reference lines):
    beside the last panel, or in ``holder`` (an empty row under stacked panels)."""
    entries: dict[str, object] = {}  # every panel's critics and references, once each
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if holder is not None:
        holder.legend(list(entries.values()), list(entries), fontsize=7, loc="center", frameon=False, ncol=2)
    elif axes:
        axes[-1].legend(list(entries.values()), list(entries), fontsize=7, loc="center left",
                        bbox_to_anchor=(1.02, 0.5), frameon=False)


def sequential_panels(frame: pd.DataFrame, title: str = "", width: float | None = None) -> plt.Figure:
    """Total variance (top) and largest |bias| (bottom) vs n for n-step and vs λ for GAE, per critic.

    In Monte Carlo, each |bias| has its 95% interval (bars) and the noise floor (dotted): a largest |bias| below the
    floor is what an unbiased estimator shows from sampling noise alone.

    Horizontal lines mark the full return, the reward-to-go, the value baseline and pathwise, so the ordering that
    Weber et al. (2015) predict can be read off. When the frame also holds exact-mode rows (a block's ``overlay``),
    the bias comes from them: a Monte Carlo |bias| is mostly sampling noise, which makes an oracle critic look
    biased and can rank a learned critic below it; the variance comes from the Monte Carlo rows.

    Args:
      frame: tidy measurement rows of one block (and of its exact-mode overlay).
      title: the figure's title.
      width: the figure's width in inches (default 9); under :data:`STACK_BELOW`, the four panels are stacked
        (n-step's two, then GAE's).

    Returns:
      The figure (a family with no rows, as in a ``--quick`` run, has its column of axes hidden).
    """
    per, bias_label = _per_estimator(frame)
    width = width or 9.0
    if width < STACK_BELOW:  # the four panels one above the other, the variance legend in a row of its own
        fig, stack = plt.subplots(5, 1, figsize=(width, 4 * 0.62 * width + 1.2), height_ratios=[1, 1, 1, 1, 0.6])
        axes = np.array([[stack[0], stack[2]], [stack[1], stack[3]]])  # [row][family], as side by side
        stack[1].sharex(stack[0])
        stack[3].sharex(stack[2])
        stack[4].axis("off")
    else:
        fig, axes = plt.subplots(2, 2, figsize=(width, 0.62 * width), sharex="col")
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
    _one_variance_legend([ax for ax in axes[0] if ax.get_visible()], stack[4] if width < STACK_BELOW else None)
    if title:
        fig.suptitle(wrap(title, width, 10), fontsize=10)
    return framed(fig, "", [], [], caption=BIAS_CAPTION if per["bias_halfwidth"].notna().any() else "")

"""Seaborn figures of suite results. Every function takes the tidy frame of :func:`varbench.reports.store.load`.

Confidence intervals are drawn as bands (95%, kurtosis-aware, from ``variance_lo``/``variance_hi``); variances
spanning decades use log axes; axes carry units.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from varbench.reports import schema  # noqa: E402

sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
PARAM_LABEL = {"mean": "∂/∂μ", "log_scale": "∂/∂log σ"}


def _palette(labels: list[str]) -> dict[str, tuple]:
    return dict(zip(labels, sns.color_palette("tab10", len(labels))))


#: Variances below this fraction of a panel's largest are zero up to rounding and are not drawn on log axes.
ZERO_FRACTION = 1e-12


def _positive(series: pd.Series, scale: float | None = None) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    floor = 0.0 if scale is None else ZERO_FRACTION * scale
    return values.where(values > floor)


def variance_vs(frame: pd.DataFrame, x: str, col: str | None = None, title: str = "") -> plt.Figure:
    """Variance of one estimate vs a grid value; panels per ``col`` value × parameter; MC bands, exact lines."""
    cols = sorted(frame[col].dropna().unique()) if col else [None]
    params = list(dict.fromkeys(frame["param"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = _palette(labels)
    fig, axes = plt.subplots(len(params), len(cols), figsize=(max(3.3 * len(cols), 6.5), 2.6 * len(params) + 0.6),
                             squeeze=False, sharex="col")
    labelled: set[str] = set()
    for i, param in enumerate(params):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            sub = frame[(frame["param"] == param) & ((frame[col] == c) if col else True)]
            scale = float(pd.to_numeric(sub["variance"], errors="coerce").max()) if len(sub) else None
            for label in labels:
                for method, style in (("mc", "-"), ("exact", "--")):
                    d = sub[(sub["estimator_label"] == label) & (sub["method"] == method)]
                    if d.empty:
                        continue
                    # First coordinate per point (the Gaussian sweeps are one-dimensional).
                    d = d.sort_values(x).groupby(x, as_index=False).first()
                    ax.plot(d[x], _positive(d["variance"], scale), style, color=colors[label],
                            label=None if label in labelled else label, lw=1.4)
                    labelled.add(label)
                    if method == "mc":
                        ax.fill_between(d[x], _positive(d["variance_lo"], scale), _positive(d["variance_hi"], scale),
                                        color=colors[label], alpha=0.2, lw=0)
            ax.set_yscale("log")
            ax.set_title(f"{c} · {PARAM_LABEL.get(param, param)}" if col else PARAM_LABEL.get(param, param))
            ax.set_xlabel(x.removeprefix(schema.GRID_PREFIX))
            if j == 0:
                ax.set_ylabel("variance of one estimate")
    handles, names = [], []
    for ax in axes.ravel():
        h, n = ax.get_legend_handles_labels()
        handles, names = handles + h, names + n
    fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    if title:
        methods = set(frame["method"])
        key = {"mc": "bands: 95% CI", "exact": "dashed: exact"}
        fig.suptitle(f"{title}\n({'; '.join(key[m] for m in sorted(methods, reverse=True))}; variances that are "
                     "zero up to rounding are not drawn)", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    return fig


def series_vs(frame: pd.DataFrame, x: str, title: str = "", hue: str = "estimator_name",
              y: str = "total_variance") -> plt.Figure:
    """Total variance (sum over parameters) vs an estimator option such as λ or n, one line per ``hue``."""
    per = frame.drop_duplicates(["cell", "point"]).dropna(subset=[x])
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    sns.lineplot(data=per, x=x, y=y, hue=hue, style="method" if per["method"].nunique() > 1 else None,
                 marker="o", ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("total variance of one estimate")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def model_bias(frame: pd.DataFrame, x: str, line: str, title: str = "", estimator: str = "model_pathwise"
               ) -> plt.Figure:
    """Model bias and variance of a model-based estimator vs its model option ``x``, one line per ``line``.

    Left: ‖bias‖ / ‖exact gradient‖ (the Monte Carlo noise floor ‖se‖ / ‖gradient‖ dotted); right: total
    variance, with the other (unbiased) estimators of the block as horizontal lines in the colour of their
    ``line`` value. ``x`` is an estimator option (``model_error``, ``fit_transitions``), ``line`` a grid axis
    (the horizon ``T``); several seeds of a point are averaged, with a band.
    """
    x_col, line_col = schema.option_column(x), schema.grid_column(line)
    norms = frame.assign(b2=pd.to_numeric(frame["bias"], errors="coerce") ** 2,
                         g2=pd.to_numeric(frame["grad_exact"], errors="coerce") ** 2,
                         s2=pd.to_numeric(frame["grad_se"], errors="coerce") ** 2).groupby(
        ["cell", "point"])[["b2", "g2", "s2"]].sum()
    per = frame.drop_duplicates(["cell", "point"]).join(norms, on=["cell", "point"])
    per["relative_bias"] = np.sqrt(per["b2"] / per["g2"])
    per["noise_floor"] = np.sqrt(per["s2"] / per["g2"])
    model = per[per["estimator_name"] == estimator].copy()
    model[x_col] = pd.to_numeric(model.get(x_col, pd.Series(index=model.index, dtype=float)), errors="coerce")
    if x == "model_error":  # the option's default (0) is left out of specs that rely on it
        model[x_col] = model[x_col].fillna(0.0)
    lines = sorted(per[line_col].dropna().unique()) if line_col in per else []
    colors = _palette([str(v) for v in lines])
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
    for ax, ylabel in ((axes[0], "‖bias‖ / ‖∇‖ (dotted: MC noise floor)"), (axes[1], "total variance of one estimate")):
        ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(ylabel)
    if x == "fit_transitions":
        for ax in axes:
            ax.set_xscale("log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def bias_vs_variance(frame: pd.DataFrame) -> plt.Figure:
    """|bias z| against variance per parameter coordinate (Monte Carlo rows); |z| > 3 marks a detected bias."""
    mc = frame[frame["method"] == "mc"].copy()
    mc["abs_bias_z"] = pd.to_numeric(mc["bias_z"], errors="coerce").abs()
    mc = mc.dropna(subset=["abs_bias_z"])
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    sns.scatterplot(data=mc, x="variance", y="abs_bias_z", hue="estimator_name", style="block", ax=ax, s=18,
                    alpha=0.7)
    ax.axhline(3.0, color="0.3", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, max(6.0, 1.3 * float(mc["abs_bias_z"].max()) if len(mc) else 6.0))
    ax.text(ax.get_xlim()[0] if len(mc) else 1, 3.2, " |z| = 3", fontsize=8, color="0.3")
    ax.set_xlabel("variance of one estimate")
    ax.set_ylabel("|bias| / standard error")
    ax.set_title("Bias vs variance (each point: one parameter coordinate)", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def work_normalized(frame: pd.DataFrame) -> tuple[plt.Figure, pd.DataFrame]:
    """Variance × seconds per estimate and variance × cost evaluations, per block × estimator.

    Each bar is the geometric mean over the block's grid points of ``total_variance × cost``, so estimators are
    compared per unit of compute rather than per estimate.
    """
    per = frame[frame["method"] == "mc"].drop_duplicates(["cell", "point"]).copy()
    per = per[per["total_variance"] > 0]
    per["seconds_per_estimate"] = 1.0 / per["samples_per_second"]
    per["var_x_seconds"] = per["total_variance"] * per["seconds_per_estimate"]
    per["var_x_evaluations"] = per["total_variance"] * per["evaluations_per_estimate"]
    geo = lambda s: float(np.exp(np.mean(np.log(s))))
    table = per.groupby(["block", "estimator_label"], sort=False).agg(
        total_variance=("total_variance", geo), var_x_seconds=("var_x_seconds", geo),
        var_x_evaluations=("var_x_evaluations", geo), evaluations=("evaluations_per_estimate", "first"),
        estimates_per_second=("samples_per_second", "median")).reset_index()
    # Rows grouped by block (config order) and, within a block, from least to most work-normalized variance.
    order = {b: i for i, b in enumerate(dict.fromkeys(per["block"]))}
    table = table.assign(_block=table["block"].map(order)).sort_values(["_block", "var_x_evaluations"]).drop(
        columns="_block").reset_index(drop=True)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 0.32 * len(table) + 1.8), sharey=True)
    table["label"] = table["block"] + " · " + table["estimator_label"]
    # Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    for ax, column, xlabel in ((axes[0], "var_x_seconds", "variance × seconds per estimate (s)"),
                               (axes[1], "var_x_evaluations", "variance × cost evaluations per estimate")):
        sns.scatterplot(data=table, y="label", x=column, hue="block", s=60, ax=ax, legend=False)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("")
        ax.grid(True, axis="y", color="0.9")
    fig.suptitle("Work-normalized variance (geometric mean over grid points; lower is better)", fontsize=10)
    fig.tight_layout()
    return fig, table.drop(columns="label")


def trace_log_variance(frame: pd.DataFrame, title: str = "") -> plt.Figure:
    """Log-variance of each measured estimator over optimisation steps, one row of panels per driver.

    Every estimator is measured at the SAME params at each checkpoint (the driver's), so the curves separate
    estimator noise from parameter drift. For problems with parameter groups (an amortized problem's encoder and
    decoder) a panel per group follows the total, since which group an estimator helps is the question.
    """
    drivers = list(dict.fromkeys(frame["driver"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = _palette(labels)
    groups = schema.trace_groups(frame)
    panels = [("log_variance", "all parameters")] + [(schema.GROUP_VARIANCE_PREFIX + g, g) for g in groups]
    fig, axes = plt.subplots(len(drivers), len(panels), figsize=(4.2 * len(panels) + 1.8, 3.0 * len(drivers) + 0.4),
                             squeeze=False, sharey="col", sharex=True)
    for j, (column, what) in enumerate(panels):
        values = pd.to_numeric(frame[column], errors="coerce")
        if column != "log_variance":  # a group's variance, on the same natural-log scale as the total
            values = np.log(values.where(values > 0))
        data = frame.assign(_y=values)
        for i, driver in enumerate(drivers):
            ax = axes[i][j]
            sub = data[data["driver"] == driver]
            for label in labels:
                d = sub[sub["estimator_label"] == label].groupby("step", as_index=False)["_y"].mean()
                finite = d[np.isfinite(d["_y"])]
                ax.plot(finite["step"], finite["_y"], marker=".", color=colors[label],
                        label=label if i == 0 and j == 0 else None)
            ax.set_title(f"params trained by {driver}" + (f" · {what}" if len(panels) > 1 else ""), fontsize=9)
            if i == len(drivers) - 1:
                ax.set_xlabel("optimisation step")
            if j == 0 or len(panels) > 1:
                ax.set_ylabel(f"ln variance, {what}" if len(panels) > 1 else "ln variance of one estimate")
    fig.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sequential_panels(frame: pd.DataFrame, title: str = "") -> plt.Figure:
    """Total variance (top) and largest |bias| (bottom) vs n for n-step and vs λ for GAE, per critic.

    Horizontal lines mark the full return, the reward-to-go, the value baseline and pathwise, so the ordering that
    Weber et al. (2015) predict can be read off.
    """
    per = frame.drop_duplicates(["cell", "point"]).copy()
    per["critic"] = per.get(schema.option_column("critic"), pd.Series(index=per.index, dtype=object)).fillna("oracle")
    absbias = frame.assign(ab=pd.to_numeric(frame["bias"], errors="coerce").abs()).groupby(
        ["cell", "point"])["ab"].max().rename("max_abs_bias")
    per = per.join(absbias, on=["cell", "point"])
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 5.6), sharex="col")
    refs = {"score_function:returns=full": "full return", "score_function:returns=to_go": "reward-to-go",
            "score_function:returns=to_go,baseline=value": "value baseline (oracle)", "pathwise": "pathwise"}
    for j, (name, x, xlabel) in enumerate((("n_step", schema.option_column("n"), "n (steps before bootstrapping)"),
                                          ("gae", schema.option_column("lambda"), "λ"))):
        sub = per[per["estimator_name"] == name].copy()
        if sub.empty or x not in sub:
            continue
        sub[x] = pd.to_numeric(sub[x], errors="coerce")
        for row, (y, ylabel, log) in enumerate((("total_variance", "total variance of one estimate", True),
                                                ("max_abs_bias", "largest |bias| (any coordinate)", False))):
            ax = axes[row][j]
            sns.lineplot(data=sub.sort_values(x), x=x, y=y, hue="critic", marker="o", ax=ax)
            if row == 0:
                for k, (label, text) in enumerate(refs.items()):
                    ref = per[per["estimator_label"] == label]["total_variance"]
                    if len(ref):
                        ax.axhline(float(ref.iloc[0]), color=f"C{k + 3}", ls=":", lw=1, label=text)
                ax.legend(fontsize=7)
            if log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.set_xlabel(xlabel)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig

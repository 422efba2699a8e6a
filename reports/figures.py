"""Seaborn figures of suite results. Every function takes the tidy frame of :func:`varbench.reports.store.load`.

Confidence intervals are drawn as bands (95%, kurtosis-aware, from ``variance_lo``/``variance_hi``); variances
spanning decades use log axes; axes carry units.
"""

from __future__ import annotations

import zlib

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from varbench.reports import schema  # noqa: E402

sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
PARAM_LABEL = {"mean": "∂/∂μ", "log_scale": "∂/∂log σ"}


def _palette(labels: list[str]) -> dict[str, tuple]:
    """Colours for values that are not estimators (a horizon T, a critic)."""
    return dict(zip(labels, sns.color_palette("colorblind", len(labels))))


#: One colour per built-in estimator name, the same in every figure: the Okabe & Ito (2008) colour-blind-safe set
#: and Paul Tol's "muted" and "dark" schemes. Estimators usually drawn together get well separated hues.
ESTIMATOR_COLORS = {
    "score_function": "#0072B2", "pathwise": "#D55E00", "measure_valued": "#009E73", "rloo": "#56B4E9",
    "arm": "#CC79A7", "disarm": "#882255", "relax": "#E69F00", "rebar": "#999933", "gumbel_softmax": "#332288",
    "straight_through": "#000000", "stl": "#44AA99", "dreg": "#AA4499", "vimco": "#117733", "nvil": "#DDCC77",
    "actor_critic": "#CC6677", "n_step": "#88CCEE", "gae": "#661100", "model_pathwise": "#A6761D",
}
#: Colours for estimators that the table above does not name (plugins), chosen by a stable hash of the name.
EXTRA_COLORS = ("#6699CC", "#997700", "#EE7733", "#BBBBBB", "#004488", "#EE3377")


def estimator_palette(labels: list[str]) -> dict[str, tuple]:
    """A colour per estimator label (``name`` or ``name:options``), keyed by the estimator's name so that it is the
    same in every figure of a report; variants of one name (``score_function:returns=full``, ``…=to_go``) get
    shades of its colour in the order given (pass every label of the report, in config order, to keep them fixed).
    """
    out: dict[str, tuple] = {}
    variants: dict[str, list[str]] = {}
    for label in dict.fromkeys(labels):
        variants.setdefault(str(label).split(":", 1)[0], []).append(label)
    for name, group in variants.items():
        base = ESTIMATOR_COLORS.get(name) or EXTRA_COLORS[zlib.crc32(name.encode()) % len(EXTRA_COLORS)]
        rgb = np.array(matplotlib.colors.to_rgb(base))
        # the plain estimator keeps the base colour; variants alternate darker / lighter shades of it
        for k, label in enumerate(group):
            step = (k + 1) // 2 * 0.28 * (1 if k % 2 else -1) if k else 0.0
            shade = rgb + (1 - rgb) * step if step > 0 else rgb * (1 + step)
            out[label] = tuple(np.clip(shade, 0, 1))
    return out


#: Variances below this fraction of a panel's largest are zero up to rounding and are not drawn on log axes.
ZERO_FRACTION = 1e-12


def _positive(series: pd.Series, scale: float | None = None) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    floor = 0.0 if scale is None else ZERO_FRACTION * scale
    return values.where(values > floor)


LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1.2)), (0, (6, 1.5, 1, 1.5)), (0, (3, 1, 1, 1, 1, 1)))


def _integer_ticks(ax: plt.Axes, values: pd.Series, axis: str = "x") -> None:
    """Integer axes (n, T, a number of transitions) get integer ticks only (no 1.5, 2.5)."""
    values = pd.to_numeric(values, errors="coerce").dropna()
    if len(values) and np.all(values == np.round(values)):
        (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def _coincide(curves: dict[str, pd.Series], rtol: float = 1e-3) -> list[list[str]]:
    """Groups of labels whose curves coincide (same x, values within ``rtol``): one hides the others."""
    groups: list[list[str]] = []
    for label, y in curves.items():
        for g in groups:
            other = curves[g[0]]
            if other.index.equals(y.index) and np.allclose(y.to_numpy(float), other.to_numpy(float), rtol=rtol,
                                                           equal_nan=True):
                g.append(label)
                break
        else:
            groups.append([label])
    return [g for g in groups if len(g) > 1]


def variance_vs(frame: pd.DataFrame, x: str, col: str | None = None, title: str = "",
                palette: dict[str, tuple] | None = None) -> plt.Figure:
    """Variance of one estimate vs a grid value; panels per ``col`` value × parameter; MC lines with bands, exact
    values as open markers on top (so they stay visible where they agree with the Monte Carlo curve)."""
    cols = sorted(frame[col].dropna().unique()) if col else [None]
    params = list(dict.fromkeys(frame["param"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    fig, axes = plt.subplots(len(params), len(cols), figsize=(max(3.3 * len(cols), 6.5), 2.6 * len(params) + 0.6),
                             squeeze=False, sharex="col")
    labelled: set[str] = set()
    hidden: list[str] = []
    for i, param in enumerate(params):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            sub = frame[(frame["param"] == param) & ((frame[col] == c) if col else True)]
            scale = float(pd.to_numeric(sub["variance"], errors="coerce").max()) if len(sub) else None
            curves: dict[str, pd.Series] = {}
            for k, label in enumerate(labels):
                for method in ("mc", "exact"):
                    d = sub[(sub["estimator_label"] == label) & (sub["method"] == method)]
                    if d.empty:
                        continue
                    # First coordinate per point (the Gaussian sweeps are one-dimensional).
                    d = d.sort_values(x).groupby(x, as_index=False).first()
                    y = _positive(d["variance"], scale)
                    if method == "mc":
                        # a dash pattern per estimator too, so curves that nearly coincide can be told apart
                        ax.plot(d[x], y, ls=LINESTYLES[k % len(LINESTYLES)], color=colors[label],
                                label=None if label in labelled else label, lw=1.5, zorder=2)
                        ax.fill_between(d[x], _positive(d["variance_lo"], scale), _positive(d["variance_hi"], scale),
                                        color=colors[label], alpha=0.2, lw=0, zorder=1)
                        curves[label] = pd.Series(y.to_numpy(), index=d[x].to_numpy())
                    else:
                        ax.plot(d[x], y, ls="none", marker="o", ms=4.5, mfc="white", mec=colors[label], mew=1.2,
                                label=None if label in labelled else label, zorder=3)
                    labelled.add(label)
            hidden += [" = ".join(g) for g in _coincide(curves)]
            ax.set_yscale("log")
            ax.set_title(f"{c} · {PARAM_LABEL.get(param, param)}" if col else PARAM_LABEL.get(param, param))
            ax.set_xlabel(x.removeprefix(schema.GRID_PREFIX))
            _integer_ticks(ax, sub[x])
            if j == 0:
                ax.set_ylabel("variance of one estimate")
    handles, names = [], []
    for ax in axes.ravel():
        h, n = ax.get_legend_handles_labels()
        handles, names = handles + h, names + n
    # beside the panels, so it never covers an axis label however few rows there are
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="estimator",
               fontsize=8, handlelength=3)
    if title:
        methods = set(frame["method"])
        key = {"mc": "lines and bands: Monte Carlo, 95% CI", "exact": "open circles: exact"}
        note = f"; curves that coincide: {', '.join(dict.fromkeys(hidden))}" if hidden else ""
        fig.suptitle(f"{title}\n({'; '.join(key[m] for m in sorted(methods, reverse=True))}; variances that are "
                     f"zero up to rounding are not drawn{note})", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def series_vs(frame: pd.DataFrame, x: str, title: str = "", hue: str = "estimator_name",
              y: str = "total_variance") -> plt.Figure:
    """Total variance (sum over parameters) vs an estimator option such as λ or n, one line per ``hue``."""
    per = frame.drop_duplicates(["cell", "point"]).dropna(subset=[x])
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    colors = estimator_palette(list(per[hue])) if hue in ("estimator_name", "estimator_label") else None
    sns.lineplot(data=per, x=x, y=y, hue=hue, style="method" if per["method"].nunique() > 1 else None,
                 marker="o", ax=ax, palette=colors)
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_ylabel("total variance of one estimate")
    ax.set_xlabel(x.removeprefix(schema.OPTION_PREFIX).removeprefix(schema.GRID_PREFIX))
    _integer_ticks(ax, per[x])
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
    for ax in axes:
        _plain_log_ticks(ax)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _plain_log_ticks(ax: plt.Axes) -> None:
    """Readable ticks on small log axes (call after drawing): decades when the range spans them; otherwise a few
    plain numbers, never the overlapping 2×10⁰, 3×10⁰, ... minor labels."""
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log" or min(limits) <= 0:
            continue
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        decades = np.log10(max(limits) / min(limits))
        if decades >= 2.5:
            axis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
            continue
        if decades >= 0.4:  # 1, 2, 5 × 10^k
            axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=10))
        else:  # less than a factor of 2.5: a few plain values, with the digits that tell them apart
            axis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
        digits = max(3, int(np.ceil(-np.log10(decades + 1e-12))) + 2)
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _, d=digits: f"{v:.{d}g}"))


def _panel_grid(n: int, width: float, height: float, ncols: int = 3) -> tuple[plt.Figure, np.ndarray]:
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols + 1.5, height * nrows + 0.6), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def bias_vs_variance(frame: pd.DataFrame, block_order: list[str] | None = None,
                     estimator_order: dict[str, list[str]] | None = None,
                     palette: dict[str, tuple] | None = None) -> plt.Figure:
    """Per Monte Carlo block (its own axes: blocks' scales are not comparable), one point per estimator: the
    simultaneous 95% upper bound on its largest relative bias against its median total variance. A cross marks a
    bias detected by the Holm-corrected test of :mod:`varbench.reports.verdict`; a circle, none detected."""
    table = schema.summary(frame[frame["method"] == "mc"], block_order, estimator_order)
    blocks = list(dict.fromkeys(table["block"]))
    colors = palette or estimator_palette(list(table["estimator"]))
    fig, axes = _panel_grid(len(blocks), 3.4, 2.7)
    for ax, block in zip(axes, blocks):
        d = table[table["block"] == block]
        # Log axes need positive values: a block without an exact gradient has no bias bound (gaussian_vae).
        d = d[(pd.to_numeric(d["median_total_variance"], errors="coerce") > 0)
              & (pd.to_numeric(d["rel_bias_ub95"], errors="coerce") > 0)]
        if d.empty:
            ax.set_title(block, fontsize=9)
            ax.text(0.5, 0.5, "no exact gradient:\nno bias to bound", ha="center", va="center", fontsize=8,
                    transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for _, row in d.iterrows():
            detected = row["bias_detected"] is True or row["bias_detected"] == 1.0
            ax.scatter(row["median_total_variance"], row["rel_bias_ub95"], color=colors[row["estimator"]],
                       marker="X" if detected else "o", s=55 if detected else 35, edgecolor="white", lw=0.5,
                       label=row["estimator"], zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(block, fontsize=9)
        ax.set_xlabel("median total variance", fontsize=8)
        ax.set_ylabel("rel. bias, 95% upper bound", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.margins(0.15)
        _plain_log_ticks(ax)
    handles = {}
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(n, h)
    fig.legend(list(handles.values()), list(handles), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False, title="estimator")
    fig.suptitle("Bias vs variance per block (× bias detected, Holm-corrected; ○ none detected)", fontsize=10)
    fig.tight_layout()
    return fig


def work_normalized(frame: pd.DataFrame, block_order: list[str] | None = None,
                    estimator_order: dict[str, list[str]] | None = None,
                    palette: dict[str, tuple] | None = None) -> tuple[plt.Figure, pd.DataFrame]:
    """Variance × seconds per estimate and variance × cost evaluations, per block × estimator.

    Each value is the geometric mean over the block's grid points of ``total_variance × cost``, so estimators are
    compared per unit of compute rather than per estimate. Each block gets its own row of axes (its own scale):
    variances of different problems are not comparable, and one shared log axis squeezes a block's estimators
    together.
    """
    per = schema.measurements(frame)
    per = per[per["method"] == "mc"].drop_duplicates(["cell", "point"]).copy()
    per = per[per["total_variance"] > 0]
    per["seconds_per_estimate"] = 1.0 / per["samples_per_second"]
    per["var_x_seconds"] = per["total_variance"] * per["seconds_per_estimate"]
    per["var_x_evaluations"] = per["total_variance"] * per["evaluations_per_estimate"]
    geo = lambda s: float(np.exp(np.mean(np.log(s))))  # noqa: E731
    table = per.groupby(["block", "estimator_label"], sort=False).agg(
        total_variance=("total_variance", geo), var_x_seconds=("var_x_seconds", geo),
        var_x_evaluations=("var_x_evaluations", geo), evaluations=("evaluations_per_estimate", "first"),
        estimates_per_second=("samples_per_second", "median")).reset_index()
    # Rows grouped by block (config order) and, within a block, from least to most work-normalized variance.
    blocks = list(dict.fromkeys(list(block_order or []) + list(per["block"])))
    order = {b: i for i, b in enumerate(blocks)}
    table = table.assign(_block=table["block"].map(order)).sort_values(["_block", "var_x_evaluations"]).drop(
        columns="_block").reset_index(drop=True)
    blocks = [b for b in blocks if b in set(table["block"])]
    colors = palette or estimator_palette(list(table["estimator_label"]))
    sizes = [int((table["block"] == b).sum()) for b in blocks]
    fig, axes = plt.subplots(len(blocks), 2, figsize=(10.0, 0.3 * sum(sizes) + 0.55 * len(blocks) + 0.8),
                             squeeze=False, gridspec_kw=dict(height_ratios=[n + 1.2 for n in sizes]))
    # Dots, not bars: on a log axis a bar's length depends on where the axis happens to start.
    for i, block in enumerate(blocks):
        d = table[table["block"] == block]
        for j, (column, xlabel) in enumerate((("var_x_seconds", "variance × seconds per estimate (s)"),
                                              ("var_x_evaluations", "variance × cost evaluations per estimate"))):
            ax = axes[i][j]
            ax.scatter(d[column], d["estimator_label"], c=[colors[e] for e in d["estimator_label"]], s=45, zorder=3)
            ax.set_xscale("log")
            _plain_log_ticks(ax)
            ax.margins(x=0.15, y=0.5 / max(len(d), 1))
            ax.invert_yaxis()
            ax.tick_params(labelsize=7)
            ax.grid(True, axis="y", color="0.9")
            ax.set_title(block, fontsize=8, loc="left")
            if j == 1:
                ax.set_yticklabels([])
            if i == len(blocks) - 1:
                ax.set_xlabel(xlabel)
    fig.suptitle("Work-normalized variance (geometric mean over grid points; lower is better; one axis per block)",
                 fontsize=10)
    fig.tight_layout()
    return fig, table.rename(columns={"estimator_label": "estimator"})


def trace_log_variance(frame: pd.DataFrame, title: str = "", palette: dict[str, tuple] | None = None) -> plt.Figure:
    """Log-variance of each measured estimator over optimisation steps, one row of panels per driver.

    Every estimator is measured at the SAME params at each checkpoint (the driver's), so the curves separate
    estimator noise from parameter drift. For problems with parameter groups (an amortized problem's encoder and
    decoder) a panel per group follows the total, since which group an estimator helps is the question.
    """
    drivers = list(dict.fromkeys(frame["driver"]))
    labels = list(dict.fromkeys(frame["estimator_label"]))
    colors = palette or estimator_palette(labels)
    groups = schema.trace_groups(frame)
    hidden: list[str] = []
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
            curves = {}
            for k, label in enumerate(labels):
                d = sub[sub["estimator_label"] == label].groupby("step", as_index=False)["_y"].mean()
                finite = d[np.isfinite(d["_y"])]
                # later curves drawn thinner and dashed, so one that coincides with an earlier one still shows
                ax.plot(finite["step"], finite["_y"], marker=".", color=colors[label], lw=1.6 - 0.25 * min(k, 3),
                        ls="-" if k == 0 else (0, (4, 1.5 + k)), label=label if i == 0 and j == 0 else None)
                curves[label] = pd.Series(finite["_y"].to_numpy(), index=finite["step"].to_numpy())
            hidden += [f"{' = '.join(g)} ({what})" for g in _coincide(curves)]
            ax.set_title(f"params trained by {driver}" + (f" · {what}" if len(panels) > 1 else ""), fontsize=9)
            if i == len(drivers) - 1:
                ax.set_xlabel("optimisation step")
            if j == 0 or len(panels) > 1:
                ax.set_ylabel(f"ln variance, {what}" if len(panels) > 1 else "ln variance of one estimate")
    fig.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="estimator")
    if title or hidden:
        fig.suptitle(title + (f"\n(curves that coincide: {'; '.join(dict.fromkeys(hidden))})" if hidden else ""),
                     fontsize=10 if not hidden else 9)
    fig.tight_layout()
    return fig


#: The same colour for a critic in every panel (oracle, Monte Carlo regression, temporal-difference fit).
CRITIC_COLORS = {"oracle": "#0072B2", "learned": "#D55E00", "td": "#009E73"}


def sequential_panels(frame: pd.DataFrame, title: str = "") -> plt.Figure:
    """Total variance (top) and largest |bias| (bottom) vs n for n-step and vs λ for GAE, per critic.

    Horizontal lines mark the full return, the reward-to-go, the value baseline and pathwise, so the ordering that
    Weber et al. (2015) predict can be read off. When the frame also holds exact-mode rows (a block's ``overlay``),
    the bias comes from them: a Monte Carlo |bias| is mostly sampling noise, which makes an oracle critic look
    biased and can rank a learned critic below it; the variance comes from the Monte Carlo rows.
    """
    exact = frame["method"].eq("exact")
    bias_rows = frame[exact] if exact.any() else frame
    variance_rows = frame[~exact] if (~exact).any() else frame
    per = variance_rows.drop_duplicates(["cell", "point"]).copy()
    per["critic"] = per.get(schema.option_column("critic"), pd.Series(index=per.index, dtype=object)).fillna("oracle")
    # one value per estimator (these blocks measure one point): the largest |bias| over coordinates
    absbias = bias_rows.assign(ab=pd.to_numeric(bias_rows["bias"], errors="coerce").abs()).groupby(
        "estimator_label")["ab"].max()
    per["max_abs_bias"] = per["estimator_label"].map(absbias)
    bias_label = "largest |bias|, exact" if exact.any() else "largest |bias| (incl. MC noise)"
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 5.6), sharex="col")
    refs = {"score_function:returns=full": "full return", "score_function:returns=to_go": "reward-to-go",
            "score_function:returns=to_go,baseline=value": "value baseline (oracle)", "pathwise": "pathwise"}
    for j, (name, x, xlabel) in enumerate((("n_step", schema.option_column("n"), "n (steps before bootstrapping)"),
                                          ("gae", schema.option_column("lambda"), "λ"))):
        sub = per[per["estimator_name"] == name].copy()
        if sub.empty or x not in sub:
            for ax in axes[:, j]:  # nothing measured for this family (e.g. a --quick run): no empty axes
                ax.set_visible(False)
            continue
        sub[x] = pd.to_numeric(sub[x], errors="coerce")
        for row, (y, ylabel, log) in enumerate((("total_variance", "total variance of one estimate", True),
                                                ("max_abs_bias", bias_label, False))):
            ax = axes[row][j]
            critics = [c for c in CRITIC_COLORS if c in set(sub["critic"])] + sorted(
                set(sub["critic"]) - set(CRITIC_COLORS))
            sns.lineplot(data=sub.sort_values(x), x=x, y=y, hue="critic", hue_order=critics, marker="o", ax=ax,
                         palette={c: CRITIC_COLORS.get(c, "#777777") for c in critics})
            if row == 0:
                ref_colors = estimator_palette(list(refs))
                for label, text in refs.items():
                    ref = per[per["estimator_label"] == label]["total_variance"]
                    if len(ref):
                        ax.axhline(float(ref.iloc[0]), color=ref_colors[label], ls=":", lw=1.2, label=text)
                ax.legend(fontsize=7)
            if log:
                ax.set_yscale("log")
                _plain_log_ticks(ax)
            ax.set_ylabel(ylabel)
            ax.set_xlabel(xlabel)
            _integer_ticks(ax, sub[x])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig

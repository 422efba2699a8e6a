"""Figures that compare: one colour per estimator everywhere, visible exact values, per-block axes, integer ticks,
notes when curves coincide (no JAX: synthetic tidy rows)."""

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from varbench.reports import figures, schema


def rows(block, label, method, ks, variance, bias=0.0, se=0.01, estimates_per_second=1e6, evaluations=1):
    name = label.split(":")[0]
    out = []
    for i, k in enumerate(ks):
        v = variance(k)
        res = {"problem": "gaussian", "estimator": label, "num_samples": 1000, "seed": 0, "method": method,
               "evaluations_per_estimate": evaluations, "total_variance": v, "estimates_per_second": estimates_per_second,
               "params": {"mean": 0.0}, "grad_mean": {"mean": 1.0 + bias}, "grad_se": {"mean": se},
               "variance": {"mean": v}, "grad_exact": {"mean": 1.0}, "bias": {"mean": bias},
               "variance_ci": {"mean": [0.9 * v, 1.1 * v]}}
        out += schema.measurement_rows([res], [{"options": {"k": k}, "params": {}}], block=block,
                                       cell=f"{block}-{label}-{method}-{i}", problem_name="gaussian",
                                       estimator_name=name, estimator_label=label, estimator_options={}, static={})
    return out


def test_an_estimator_keeps_its_colour_in_every_figure_and_variants_differ():
    alone = figures.estimator_palette(["pathwise"])
    mixed = figures.estimator_palette(["score_function", "measure_valued", "pathwise", "score_function:returns=full"])
    assert alone["pathwise"] == mixed["pathwise"]
    assert mcolors.to_hex(mixed["pathwise"]) == figures.ESTIMATOR_COLORS["pathwise"].lower()
    assert len({mcolors.to_hex(c) for c in mixed.values()}) == 4
    assert len(set(figures.ESTIMATOR_COLORS.values())) == len(figures.ESTIMATOR_COLORS)  # no two share a colour


def test_exact_values_are_open_markers_on_top_and_integer_axes_get_integer_ticks():
    ks = [1, 2, 3]
    frame = pd.DataFrame(rows("b", "pathwise", "mc", ks, lambda k: k) + rows("b", "pathwise", "exact", ks, lambda k: k)
                         + rows("b", "score_function", "mc", ks, lambda k: k * (1 + 1e-6)))
    fig = figures.variance_vs(frame, x=schema.grid_column("k"), title="t")
    ax = fig.axes[0]
    exact = [line for line in ax.lines if line.get_linestyle() == "None"]
    assert len(exact) == 1 and exact[0].get_marker() == "o" and exact[0].get_markerfacecolor() == "none"
    assert exact[0].get_zorder() > max(line.get_zorder() for line in ax.lines if line is not exact[0])
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert all(float(t).is_integer() for t in ticks)
    assert "coincide: pathwise = score_function" in fig._suptitle.get_text()  # one hides the other


def test_work_normalized_gives_each_block_its_own_axes_and_bias_figure_marks_detections():
    frame = pd.DataFrame(rows("small", "pathwise", "mc", [1.0], lambda k: 1e-12)
                         + rows("small", "score_function", "mc", [1.0], lambda k: 1e-11)
                         + rows("large", "pathwise", "mc", [1.0], lambda k: 1e6, bias=0.5)
                         + rows("large", "gumbel_softmax", "mc", [1.0], lambda k: 1e5))
    fig, table = figures.work_normalized(frame, ["small", "large"])
    assert list(dict.fromkeys(table["block"])) == ["small", "large"] and "estimator" in table
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4  # 2 blocks × (seconds, evaluations), each with its own x range
    assert visible[0].get_xlim()[1] < 1e-9 < visible[2].get_xlim()[0]
    fig = figures.bias_vs_variance(frame, ["small", "large"])
    large = [ax for ax in fig.axes if ax.get_title() == "large"][0]
    assert len(large.collections) == 2  # one point per estimator; pathwise's bias of 50 se is detected (a cross)
    paths = [c.get_paths()[0].vertices for c in large.collections]
    assert len({len(p) for p in paths}) == 2  # an "X" and an "o" have different outlines
    assert np.isfinite(large.get_xlim()).all()


def test_bias_vs_variance_draws_a_block_without_an_exact_gradient_as_a_note():
    """A block whose problem has no exact gradient (gaussian_vae) has no bias bound to put on a log axis; the default
    suite's report once crashed on it."""
    with_exact = rows("with_exact", "pathwise", "mc", [1, 2], lambda k: k, bias=0.01)
    without = rows("no_exact", "pathwise", "mc", [1, 2], lambda k: k)
    for row in without:
        row.update(grad_exact=None, bias=None, bias_z=None, mse=None)
    fig = figures.bias_vs_variance(pd.DataFrame(with_exact + without))
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[:2] == ["with_exact", "no_exact"]
    note = fig.axes[1].texts[0].get_text()
    assert "no exact gradient" in note
    fig.canvas.draw()  # log axes with no positive values would raise here

"""How the report presents what it measured: bias panels that show their noise, a work-normalized figure that stays
readable however many blocks, text without Python reprs, one number format, and a check figure whose log axis an
exact zero cannot stretch (no JAX: hand-built tidy rows)."""

import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from PIL import Image
from scipy import stats as sps
from varbench.reports import _page_text, check_figure, figures, page, schema, store


def result(label, *, bias=(0.0, 0.0), se=(0.1, 0.1), variance=1.0, rate=1e6, evaluations=1):
    grad_exact = [3.0, 4.0]
    return {"problem": "p", "estimator": label, "num_samples": 1000, "seed": 0, "method": "mc",
            "evaluations_per_estimate": evaluations, "total_variance": variance, "estimates_per_second": rate,
            "params": {"w": [0.0, 0.0]}, "grad_mean": {"w": list(np.add(grad_exact, bias))}, "grad_se": {"w": list(se)},
            "variance": {"w": [variance / 2] * 2}, "grad_exact": {"w": grad_exact}, "bias": {"w": list(bias)},
            "variance_ci": {"w": [[0.4 * variance, 0.6 * variance]] * 2}}


def block_rows(block, cells):
    """Rows of ``block``: ``cells`` is a list of (label, options, result keyword arguments)."""
    rows = []
    for i, (label, options, kwargs) in enumerate(cells):
        rows += schema.measurement_rows([result(label, **kwargs)], [{"options": {}, "params": {}}], block=block,
                                        cell=f"{block}-{i}", problem_name="p", estimator_name=label.split(":")[0],
                                        estimator_label=label, estimator_options=options, static={"T": 5})
    return rows


def test_sequential_bias_panel_draws_intervals_and_a_noise_floor_not_a_bare_trend():
    """The nile_amortized panel drew Monte Carlo noise (14 → 1.7 → 15) as a line with nothing to judge it by."""
    cells = [(f"n_step:n={n}", {"n": n}, dict(bias=(b, 0.0), se=(4.0, 3.0))) for n, b in ((1, 14.0), (5, 1.7),
                                                                                          (20, 15.0))]
    fig = figures.sequential_panels(pd.DataFrame(block_rows("nile", cells)))
    ax = fig.axes[2]  # the n-step family's bias panel
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and bars[0].has_yerr
    z = sps.norm.ppf(1 - 0.025 / 2)  # Bonferroni over the 2 coordinates
    segments = bars[0][2][0].get_segments()
    assert [s[1][1] - s[0][1] for s in segments] == pytest.approx([2 * z * 4.0] * 3, rel=1e-3)
    floor = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(floor) == 1 and floor[0].get_ydata() == pytest.approx([z * 4.0] * 3, rel=1e-3)
    assert ax.get_ylim()[0] == 0  # a bar that reaches 0 says the bias may be zero
    legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert "95% interval" in legend and "noise floor" in legend
    assert any("noise" in t.get_text() for t in fig.texts)  # the caption says what the bars are


def test_model_bias_panel_has_an_interval_per_measurement():
    cells = [("model_pathwise", {"model_error": e}, dict(bias=(0.6 * e, 0.8 * e), se=(0.03, 0.04)))
             for e in (0.0, 0.1, 0.2)]
    fig = figures.model_bias(pd.DataFrame(block_rows("m", cells)), x="model_error", line="T")
    left = fig.axes[0]
    bars = [c for c in left.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1 and len(bars[0][2][0].get_segments()) == 3
    assert left.lines[0].get_linewidth() <= 1.0  # the line through the points is thin: the bars carry the message
    assert left.get_ylim()[0] > 0 and np.isfinite(left.get_ylim()).all()


def test_work_normalized_is_cut_into_pages_under_2000_px():
    """One figure of the default suite's 131 estimators in 11 blocks was 991 × 4577 px (7 pt labels)."""
    rows = [4, 5, 2, 9, 9, 26, 7, 6, 24, 24, 15]
    pages = figures.work_pages(rows)
    assert [i for p in pages for i in p] == list(range(len(rows)))  # every block once, in order, never cut
    assert len(pages) > 1 and figures.WORK_MAX_HEIGHT * page.DPI <= 2000
    assert all(figures.work_height([rows[i] for i in p]) <= figures.WORK_MAX_HEIGHT for p in pages)


def test_a_work_normalized_page_is_readable():
    rows = []
    for b in range(2):
        rows += block_rows(f"block{b}", [(f"score_function:samples={k}", {},
                                          dict(variance=1.0 + k, rate=1e5 * (k % 3 + 1))) for k in range(5)])
    pages, table = figures.work_normalized_pages(pd.DataFrame(rows))
    assert len(pages) == 1 and len(table) == 10
    fig = pages[0]
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=page.DPI, bbox_inches="tight")  # as the report saves it (draws the figure too)
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    assert all(title.y0 >= ax.title.get_window_extent(renderer).y1 for ax in fig.axes)  # a band of its own
    assert min(t.get_fontsize() for ax in fig.axes for t in ax.get_yticklabels() + ax.get_xticklabels()) >= 9
    with Image.open(buffer) as image:
        width, height = image.size
    assert 700 <= width <= 1100 and height <= 1.1 * figures.work_height([5, 5]) * page.DPI


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A one-block store whose throughputs need both notations (727900 and 3.2e6), rendered."""
    root = tmp_path_factory.mktemp("store")
    cells = [("pathwise", {}, dict(rate=727900.0)), ("score_function", {}, dict(rate=3.2e6, variance=5e-4))]
    rows = block_rows("b", cells)
    config = {"block": [{"name": "b", "estimators": ["pathwise", "score_function"]}]}
    keys = {row["cell"]: f"b · {row['estimator_label']}" for row in rows}
    store.write_manifest(root, {"config_hash": "x", "config": config, "cells": keys, "cells_done": len(keys),
                                "started": "t0", "finished": "t1", "compile_counts": {"b": 2},
                                "environment": {"varbench_version": "0", "jax_version": "0", "backend": "cpu"}})
    for key in keys:
        store.write_cell(root, key, [row for row in rows if row["cell"] == key])
    page.write_report(root, root / "rep")
    return (root / "rep" / "report.md").read_text(), (root / "rep" / "report.html").read_text()


def test_report_text_has_no_python_reprs_and_one_number_format(report):
    md, html = report
    assert "{" not in md and "'b'" not in md and "compile counts" not in md
    assert "2 kernels compiled in 1 block (b 2)" in md
    table = md[md.index("| estimator"):]
    assert "7.279e+05" in table and "3.2e+06" in table and "727900" not in table  # tabulate must not reformat
    assert "0.0005" not in table and "5e-04" in table
    assert "7.279e+05" in html


def test_the_legend_describes_exactly_the_columns_shown(report):
    md, _ = report
    legend = md[md.index("**Columns of the tables.**"):].split("\n", 1)[0]
    keys = re.findall(r"`([a-z_0-9]+)`:", legend)
    headers = {c.strip() for line in md.splitlines() if line.startswith("| ") and "estimator" in line
               for c in line.strip("|").split("|")}
    assert keys and set(keys) <= headers and "p_value" not in keys
    assert "p-value in parentheses" in legend  # folded into bias_detected, and said so there


def test_format_number_is_one_rule():
    f = schema.format_number
    assert [f(727900.0), f(3.2e6), f(1.37), f(0.0005), f(12), f(100000.0), f(0.0), f(np.nan), f("no")] == \
        ["7.279e+05", "3.2e+06", "1.37", "5e-04", "12", "1e+05", "0", "–", "no"]
    sections = [page.Section("t", "t", (), schema.format_table(pd.DataFrame({"p_value": [0.1], "points": [1]})), "")]
    assert _page_text.legend(sections) == {"points": schema.SUMMARY_LEGEND["points"]}


def test_check_figure_clips_an_exact_zero_at_a_floor_and_keys_every_marker(tmp_path):
    rows = []
    entries = (("score_function", False, "mc", 2.0), ("score_function", False, "exact", 2.0),
               ("disarm", True, "exact", 1e-35), ("disarm", True, "mc", 0.5))
    for estimator, candidate, method, v in entries:
        rows.append(dict(problem="bernoulli", point="logit 0", estimator=estimator, candidate=candidate, method=method,
                         total_variance=v, total_variance_lo=0.9 * v, total_variance_hi=1.1 * v, evaluations=2,
                         work_evaluations=2 * v))
    fig = check_figure.draw(pd.DataFrame(rows), "check")
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo >= check_figure.FLOOR_FRACTION * 4.0 / 10 and hi / lo < 1e8  # 1e-35 does not stretch the axis
        assert any(line.get_marker() == "<" for line in ax.lines)  # the zero, drawn at the floor
        exact = [line for line in ax.lines if line.get_markerfacecolor() == "none"]
        filled = [line for line in ax.lines if line.get_marker() in "oD" and line.get_markerfacecolor() != "none"]
        assert exact and filled and min(f.get_zorder() for f in filled) > max(e.get_zorder() for e in exact)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("Monte Carlo" in t for t in labels) and "exact" in labels and any("floor" in t for t in labels)
    assert check_figure.variance_figure(pd.DataFrame(rows), "check", tmp_path / "v.png").exists()


def test_captioned_figures_keep_everything_inside_and_the_cropped_png_matches_a_tight_save(tmp_path):
    """A PNG is cropped from the drawn canvas (one drawing, no second layout pass), so a figure must not put text
    outside itself: the captions of the sequential and model-bias figures are bands inside them. The crop is what
    ``bbox_inches="tight"`` gives, to a few pixels."""
    seq = [(f"n_step:n={n}", {"n": n}, dict(bias=(b, 0.0), se=(4.0, 3.0))) for n, b in ((1, 14.0), (5, 1.7))]
    model = [("model_pathwise", {"model_error": e}, dict(bias=(0.6 * e, 0.8 * e), se=(0.03, 0.04))) for e in (0, 0.1)]
    for name, draw in (("seq", lambda: figures.sequential_panels(pd.DataFrame(block_rows("s", seq)))),
                       ("model", lambda: figures.model_bias(pd.DataFrame(block_rows("m", model)), x="model_error",
                                                            line="T"))):
        fig = draw()
        fig.canvas.draw()
        box, (width, height) = fig.get_tightbbox(), fig.get_size_inches()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, (name, box)
        fig.savefig(tmp_path / f"{name}_tight.png", dpi=page.DPI, bbox_inches="tight", pad_inches=0.1)
        page._drawing.save(fig, tmp_path, name)
        with Image.open(tmp_path / f"{name}_tight.png") as tight, Image.open(tmp_path / f"{name}.png") as cropped:
            assert np.allclose(cropped.size, tight.size, atol=8), (name, cropped.size, tight.size)

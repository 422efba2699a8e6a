"""Figures that can be read in a paper: few legend entries per panel however many variants a block has, labelled
points on the bias overview, a width honoured with text of 7 pt or more, and every figure saved in each format asked
for (no JAX: a synthetic store)."""

import xml.etree.ElementTree as ElementTree

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from varbench.reports import figures, page, schema, store
from varbench.reports.figures import _labels

#: One block of 34 variants of five families: more than any legend can list.
VARIANTS = ([f"score_function:samples={k}" for k in range(1, 12)] + [f"pathwise:samples={k}" for k in range(1, 7)]
            + ["measure_valued", "arm", "disarm"] + [f"n_step:n={n}" for n in range(1, 9)]
            + [f"gae:lambda={v}" for v in (0.0, 0.25, 0.5, 0.75, 1.0)])


def rows(block, label, ks, variance, bias=0.0):
    """Tidy rows of one estimator (one cell) at the grid values ``ks``."""
    results = [{"problem": "gaussian", "estimator": label, "num_samples": 1000, "seed": 0, "method": "mc",
                "evaluations_per_estimate": 1, "total_variance": variance * k, "estimates_per_second": 1e6,
                "params": {"mean": 0.0}, "grad_mean": {"mean": 1.0 + bias}, "grad_se": {"mean": 0.01},
                "variance": {"mean": variance * k}, "grad_exact": {"mean": 1.0}, "bias": {"mean": bias},
                "variance_ci": {"mean": [0.9 * variance * k, 1.1 * variance * k]}} for k in ks]
    return schema.measurement_rows(results, [{"options": {"k": k}, "params": {}} for k in ks], block=block,
                                   cell=f"{block}-{label}", problem_name="gaussian",
                                   estimator_name=label.split(":")[0], estimator_label=label, estimator_options={},
                                   static={})


def block_frame(labels=VARIANTS):
    return pd.DataFrame([r for j, label in enumerate(labels)
                         for r in rows("many", label, [1, 2], 1.0 + 0.3 * j, bias=0.05 * (j % 4 == 0))])


def legend_sizes(fig):
    """The number of entries of every legend of ``fig`` (the panels' and the figure's)."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [len(legend.get_texts()) for legend in legends]


def shown_names(fig):
    """Every text that names something: legend entries, labels at line ends and next to points."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return {t.get_text() for legend in legends for t in legend.get_texts()} | {
        t.get_text() for ax in fig.axes for t in ax.texts}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The store of one 34-variant block, reported as a paper column (3.3 in) in PNG, PDF and SVG; every figure is
    kept (as drawn) before it is saved."""
    root = tmp_path_factory.mktemp("store")
    frame_rows = block_frame().to_dict("records")
    config = {"block": [{"name": "many", "estimators": VARIANTS, "figure": {"kind": "variance_vs", "x": "k"}}]}
    keys = {}
    for row in frame_rows:
        keys.setdefault(row["cell"], f"many · {row['estimator_label']} · {row['cell']}")
    store.write_manifest(root, {"config_hash": "x", "config": config, "cells": keys, "cells_done": len(keys),
                                "started": "t0", "finished": "t1",
                                "environment": {"varbench_version": "0", "jax_version": "0", "backend": "cpu"}})
    for cell in keys:
        store.write_cell(root, cell, [row for row in frame_rows if row["cell"] == cell])
    drawn = {}
    save = page._save

    def keep(fig, folder, name, export=page.Export()):
        drawn[name] = (fig.get_size_inches().copy(), legend_sizes(fig), shown_names(fig),
                       min(t.get_fontsize() for t in _labels._texts(fig)))
        return save(fig, folder, name, export)

    page._save = keep
    try:
        html = page.write_report(root, root / "rep", formats="svg,pdf", width=3.3)
    finally:
        page._save = save
    return root / "rep", html.read_text(), drawn


def test_no_panel_of_a_34_variant_block_lists_more_than_8_estimators(report):
    _, _, drawn = report
    assert {"many", "bias_vs_variance", "work_normalized"} <= set(drawn)
    for name, (_, sizes, _, _) in drawn.items():
        assert all(n <= figures.MAX_PER_PANEL for n in sizes), (name, sizes)
    shown = drawn["many"][2]
    assert {figures.short_label(label) for label in VARIANTS} <= shown  # split into panels, none left out


def test_figures_are_drawn_at_the_width_asked_with_readable_text_and_saved_in_every_format(report):
    folder, html, drawn = report
    for name, (size, _, _, smallest) in drawn.items():
        assert size[0] == pytest.approx(3.3) and smallest >= figures.MIN_FONT, (name, size, smallest)
        stem = folder / name
        assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        assert ElementTree.parse(stem.with_suffix(".svg")).getroot().tag.endswith("svg")
        with Image.open(stem.with_suffix(".png")) as image:  # printed 3.3 in wide, nothing sticking out
            assert image.size[0] <= 1.02 * 3.3 * page.PRINT_DPI, (name, image.size)
    assert "data:image/png;base64" in html and ".pdf" not in html and ".svg" not in html  # the page embeds PNG


def test_other_figures_split_many_estimators_too():
    labels = VARIANTS[:4] + VARIANTS[-14:]  # 18: three panels
    frame = block_frame(labels)
    trace = pd.DataFrame([dict(driver="score_function", estimator_label=label, step=step, log_variance=j + step / 10)
                          for j, label in enumerate(labels) for step in (0, 10)])
    series = figures.series_vs(frame, x=schema.grid_column("k"), hue="estimator_label")
    model = frame.assign(estimator_name=np.where(frame["estimator_label"] == "arm", "model_pathwise",
                                                 frame["estimator_name"]), grid_T=5.0)
    model[schema.option_column("k")] = model[schema.grid_column("k")]  # the model's option along x
    for fig in (figures.trace_log_variance(trace), series, figures.model_bias(model, x="k", line="T")):
        assert max(legend_sizes(fig) or [0]) <= figures.MAX_PER_PANEL


def test_panel_groups_keep_families_together_and_cut_large_ones_evenly():
    groups = figures.panel_groups(VARIANTS)
    assert sorted(label for _, g in groups for label in g) == sorted(VARIANTS)  # each once
    assert all(len(g) <= figures.MAX_PER_PANEL for _, g in groups)
    for _, g in groups:  # a panel holds whole families, or a piece of one
        families = {figures.family_of(label) for label in g}
        assert len(families) == 1 or all(
            sum(figures.family_of(v) == f for v in VARIANTS) == sum(figures.family_of(v) == f for v in g)
            for f in families)
    assert [len(g) for title, g in groups if title.startswith("score function")] == [6, 5]  # 11: 6 + 5, not 8 + 3
    assert figures.panel_groups(VARIANTS[:8]) == [("", VARIANTS[:8])]  # few: one panel, no title


def test_many_variants_of_one_estimator_get_distinct_readable_shades():
    labels = ["score_function"] + [f"score_function:samples={k}" for k in range(2, 14)]
    colors = [np.array(c) for c in figures.estimator_palette(labels).values()]
    assert mcolors.to_hex(colors[0]) == figures.ESTIMATOR_COLORS["score_function"].lower()
    gaps = [np.abs(a - b).max() for i, a in enumerate(colors) for b in colors[i + 1:]]
    assert min(gaps) > 0.02  # fixed steps made every variant past the sixth black or white
    assert all(0.02 < c.max() and c.min() < 0.98 for c in colors)


def test_the_overview_labels_each_point_and_the_labels_do_not_overlap():
    """Ten estimators whose points nearly coincide: each still gets its own label, none on top of another."""
    labels = VARIANTS[:10]
    frame = pd.DataFrame([r for j, label in enumerate(labels)
                          for r in rows("close", label, [1], 1.0 + 0.01 * j, bias=0.02 + 0.001 * j)])
    fig = figures.bias_vs_variance(frame, width=6.8)
    ax = [ax for ax in fig.axes if ax.get_visible()][0]
    texts = [t for t in ax.texts if t.get_gid() == _labels.POINT_GID]
    assert sorted(t.get_text() for t in texts) == sorted(figures.short_label(label) for label in labels)
    assert fig.get_size_inches()[0] == pytest.approx(6.8) and not legend_sizes(fig)[0] > 2  # the marker key only
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    overlaps = [a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1
                for i, a in enumerate(boxes) for b in boxes[i + 1:]]
    assert not any(overlaps)


@pytest.mark.parametrize("argv, words", [(["--figure-format", "png,jpg"], "png, pdf, svg"),
                                         (["--figure-width", "1"], "2.5 to 20"),
                                         (["--figure-width", "wide"], "2.5 to 20")])
def test_bad_figure_options_are_one_line_and_create_nothing(tmp_path, capsys, argv, words):
    from varbench.cli import main

    store.write_manifest(tmp_path / "s", {"config_hash": "x", "config": {"block": [{"name": "b"}]}})
    before = sorted(tmp_path.rglob("*"))
    assert main(["report", str(tmp_path / "s"), "--out", str(tmp_path / "rep")] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and sorted(tmp_path.rglob("*")) == before

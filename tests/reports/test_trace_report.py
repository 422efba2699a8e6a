"""A trace block's report as the discrete-VAE papers show one: the 95% band in the trace figure, the papers' figure
(EMA variance and ELBO along each driver's own run), the table at fixed steps in the report and in
``varbench results --format latex|markdown``; and a store written before those columns existed still reports."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from varbench.reports import export, figures, page, schema, store, trace_table

#: The columns of the papers' training protocol (absent in an older store).
PROTOCOL = ("paper_ema_variance", "objective_mc", "objective_mc_stderr", "elbo", "elbo_stderr", "total_variance_lo",
            "total_variance_hi")


def trace_frame(block="sbn_protocol", drivers=("disarm", "arms"), labels=("disarm", "arms", "rloo"),
                steps=(0, 100, 200, 300, 400), seeds=(0,)):
    """Trace rows of one block: every estimator measured at each driver's checkpoints, with encoder and decoder
    groups, the total's 95% interval, the papers' EMA variance on the driver's own rows and the ELBO."""
    out = []
    for seed in seeds:
        for i, driver in enumerate(drivers):
            for j, label in enumerate(labels):
                for step in steps:
                    enc = (1 + j) * 10.0 ** (-step / 400) * (1 + i) * (1 + seed)
                    total = 3 * enc
                    out.append(dict(
                        block=block, cell=f"{block}-{driver}-{seed}", driver=driver, estimator=label,
                        estimator_label=label, estimator_name=label, problem="sbn", step=step, trace_seed=seed,
                        num_samples=1000, method="mc",
                        evaluations_per_estimate=2.0 + j, total_variance=total, log_variance=np.log(total),
                        total_variance_lo=0.9 * total, total_variance_hi=1.1 * total, group_variance_encoder=enc,
                        group_variance_decoder=2 * enc, paper_ema_variance=0.5 * enc if label == driver else None,
                        objective_mc=100.0 - step / 10 - i + seed, objective_mc_stderr=0.2 + 0.1 * seed,
                        elbo=-100.0 + step / 10 + i - seed, elbo_stderr=0.2 + 0.1 * seed))
    return pd.DataFrame(out)


def old_frame(**kwargs):
    """The same rows as a store written before the protocol's columns."""
    return trace_frame(**kwargs).drop(columns=list(PROTOCOL))


def bands(fig):
    return [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]


def test_the_trace_figure_draws_the_95_percent_interval_as_a_band_where_the_store_has_it():
    fig = figures.trace_log_variance(trace_frame(drivers=("disarm",), steps=(0, 200, 400)))
    # the total's panel: a band per estimator, from ln(lo) to ln(hi) of its variance
    total = fig.axes[0]
    assert len([c for c in total.collections if isinstance(c, PolyCollection)]) == 3
    ys = np.concatenate([p.vertices[:, 1] for c in total.collections for p in c.get_paths()])
    frame = trace_frame(drivers=("disarm",), steps=(0, 200, 400))
    assert ys.min() == pytest.approx(np.log(frame["total_variance_lo"].min()))
    assert ys.max() == pytest.approx(np.log(frame["total_variance_hi"].max()))
    assert "95% interval" in fig._suptitle.get_text()  # the title says what the bands are
    old = figures.trace_log_variance(old_frame(drivers=("disarm",), steps=(0, 200, 400)), title="old")
    assert not bands(old) and old._suptitle.get_text() == "old"  # an older store: curves alone


def test_the_papers_figure_draws_each_drivers_own_ema_variance_and_its_elbo():
    frame = trace_frame()
    fig = figures.trace_papers(frame, title="SBN")
    ema, elbo = fig.axes
    assert "papers' metric" in ema.get_title() and "decay 0.999," in ema.get_title()
    assert "decay 0.99," in figures.trace_papers(frame, decay=0.99).axes[0].get_title()  # a block's own decay
    assert "ELBO" in elbo.get_ylabel()
    # one line per driver, its own rows only: ln of the papers' EMA variance, step by step
    lines = {line.get_color(): line.get_ydata() for line in ema.get_lines()}
    assert len(lines) == 2
    own = frame[frame["estimator_label"] == frame["driver"]]
    for driver, rows in own.groupby("driver", sort=False):
        expected = np.log(rows.sort_values("step")["paper_ema_variance"].to_numpy(float))
        assert any(np.allclose(y, expected) for y in lines.values()), driver
    assert len([c for c in elbo.collections if isinstance(c, PolyCollection)]) == 2  # an ELBO band per driver
    # a problem without an ELBO: its Monte Carlo objective instead; an older store: nothing to draw
    no_elbo = frame.assign(elbo=None, elbo_stderr=None)
    assert figures.trace_papers(no_elbo).axes[1].get_ylabel() == "objective (Monte Carlo)"
    assert figures.has_papers_figure(frame) and not figures.has_papers_figure(old_frame())


def test_the_table_at_fixed_steps_has_each_estimators_variance_work_and_the_drivers_ema():
    assert trace_table.table_steps([0, 100, 200]) == [0, 100, 200]
    assert trace_table.table_steps([0, 100, 200, 300, 400, 0]) == [0, 200, 400]
    assert trace_table.table_steps([0, 10, 20, 30]) == [0, 10, 30]
    frame = trace_frame()
    table, what = trace_table.numbers(frame)
    assert what == "encoder" and sorted(set(table["step"])) == [0, 200, 400] and len(table) == 2 * 3 * 3
    row = table[(table["driver"] == "arms") & (table["step"] == 200) & (table["estimator"] == "rloo")].iloc[0]
    source = frame[(frame["driver"] == "arms") & (frame["step"] == 200) & (frame["estimator_label"] == "rloo")].iloc[0]
    assert row["variance"] == pytest.approx(source["group_variance_encoder"])
    assert row["work"] == pytest.approx(source["group_variance_encoder"] * 4.0)  # × evaluations per estimate
    assert row["total_lo"] == pytest.approx(source["total_variance_lo"])
    assert np.isnan(row["paper_ema_variance"])  # not the driver: the papers' metric is the driver's own run
    driver_row = table[(table["driver"] == "arms") & (table["step"] == 200) & (table["estimator"] == "arms")].iloc[0]
    assert driver_row["paper_ema_variance"] == pytest.approx(0.5 * 2 * 2 * 10 ** -0.5)
    # two trace seeds: the mean, and the standard error of the mean of their ELBOs
    two, _ = trace_table.numbers(trace_frame(seeds=(0, 1)))
    first = two.iloc[0]
    assert first["objective"] == pytest.approx(-100.5) and first["objective_se"] == pytest.approx(
        np.sqrt(0.2 ** 2 + 0.3 ** 2) / 2)
    assert trace_table.plus_minus(-98.7312, 0.1234) == "-98.73 ± 0.12"
    assert trace_table.plus_minus(5.0, float("nan")) == "5"


def test_results_latex_prints_a_trace_blocks_table_in_the_configs_block_order():
    measurement = schema.measurement_rows(
        [{"problem": "gaussian", "estimator": "pathwise", "num_samples": 100, "seed": 0, "method": "mc",
          "evaluations_per_estimate": 1, "total_variance": 1.0, "params": {"mean": 0.0}, "grad_mean": {"mean": 1.0},
          "grad_se": {"mean": 0.1}, "variance": {"mean": 1.0}, "grad_exact": {"mean": 1.0}, "bias": {"mean": 0.0},
          "variance_ci": {"mean": [0.9, 1.1]}}],
        [{"options": {}, "params": {}}], block="sweep", cell="sweep-pathwise", problem_name="gaussian",
        estimator_name="pathwise", estimator_label="pathwise", estimator_options={}, static={})
    frame = schema.numeric(pd.concat([pd.DataFrame(measurement), trace_frame(steps=(0, 400))], ignore_index=True))
    manifest = {"config": {"block": [{"name": "sbn_protocol", "kind": "trace", "problem": "sbn:data=mnist",
                                      "trace": {"ema_decay": 0.99}},
                                     {"name": "sweep", "problem": "gaussian"}]}}
    latex = export.render("latex", schema.summary(frame, ["sbn_protocol", "sweep"]), frame, manifest)
    assert latex.index("tab:varbench-sbn-protocol") < latex.index("tab:varbench-sweep")
    trace_part = latex[:latex.index("tab:varbench-sweep")]
    assert r"\begin{tabular}{lllrrrrr}" in trace_part  # driver, step and estimator as text
    assert r"Variance $\times$ evaluations" in trace_part and "Papers' EMA variance" in trace_part
    # rloo at step 400 of the disarm run: encoder variance 0.3, × 4 evaluations = 1.2; the total's interval beside
    assert r" &  & rloo & $0.3000$ & $1.200$ & $0.90\ [0.81,\,0.99]$ & -- & -60.00 $\pm$ 0.20 \\" in trace_part
    assert "EMA(g$^2$) $-$ EMA(g)$^2$" in trace_part  # the caption's signs as LaTeX
    assert "EMA decay 0.99)" in trace_part  # the block's own decay, not the papers' default
    markdown = export.render("markdown", schema.summary(frame.iloc[0:0]), old_frame(steps=(0, 400)))
    assert "### sbn_protocol" in markdown and "EMA" not in markdown and "ELBO" not in markdown


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of a store with a trace block of the papers' protocol and one written before it."""
    root = tmp_path_factory.mktemp("store")
    blocks = {"protocol": trace_frame(block="protocol", drivers=("disarm",), labels=("disarm", "rloo"),
                                      steps=(0, 100)),
              "legacy": old_frame(block="legacy", drivers=("disarm",), labels=("disarm", "rloo"), steps=(0, 100))}
    config = {"block": [{"name": name, "kind": "trace", "estimators": ["disarm", "rloo"],
                         "figure": {"kind": "trace"}} for name in blocks]}
    config["block"][0]["trace"] = {"drivers": ["disarm"], "ema_decay": 0.995}
    keys = {f"{name}-disarm-0": f"{name} · disarm" for name in blocks}
    store.write_manifest(root, {"config_hash": "x", "config": config, "cells": keys, "cells_done": len(keys),
                                "started": "t0", "finished": "t1",
                                "environment": {"varbench_version": "0", "jax_version": "0", "backend": "cpu"}})
    for name, rows in blocks.items():
        store.write_cell(root, f"{name}-disarm-0", rows.astype(object).where(rows.notna(), None).to_dict("records"))
    out = root / "report"
    page.write_report(root, out, workers=1)
    return out


def test_the_report_shows_the_papers_figure_beside_varbenchs_and_the_table_under_the_block(report):
    markdown = (report / "report.md").read_text()
    assert "(protocol.png)" in markdown and "(protocol_papers.png)" in markdown
    assert (report / "protocol_papers.png").is_file()
    assert "## protocol: at fixed steps" in markdown and "## legacy: at fixed steps" in markdown
    section = markdown.split("## protocol: at fixed steps")[1].split("## legacy")[0]
    assert "Papers' EMA variance" in section and "ELBO ± s.e." in section and "EMA decay 0.995)" in section
    # an older store: its figure and its table, no papers' figure, no columns it has no numbers for
    assert "(legacy.png)" in markdown and not (report / "legacy_papers.png").exists()
    legacy = markdown.split("## legacy: at fixed steps")[1]
    assert "Papers' EMA variance" not in legacy and "ELBO" not in legacy
    assert "protocol_steps" in (report / "report.html").read_text()

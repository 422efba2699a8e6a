"""A store written by the default config's --quick mode (shrunk to seconds): dtypes, tables, the README's examples.

The config is the default one as --quick runs it, with each kept block cut to two estimators, two values per grid
axis and a few hundred samples, so every kind of block the default report has (Monte Carlo with a static option
split, exact, amortized with parameter groups, trace, sequential) is in one mixed store.
"""

import copy
import io
import tomllib

import numpy as np
import pandas as pd
import pytest
from varbench.reports import page, schema, store

from varbench import reports
from varbench.suite import default_config_path, run_suite

#: Blocks kept, with what else is cut (compilation dominates: one kernel per estimator and static option).
KEPT = {"gaussian_k_sweep": {"grid": {"cost": ["square"], "k": [0.5, 2.0]}},
        "gaussian_k_sweep_exact": {},
        "linear_vae_encoder": {"warmup": 0},
        "relax_trace": {"estimators": ["score_function"],
                        "trace": {"drivers": ["score_function"], "lr": 0.01, "steps": 2, "every": 1}},
        "rvi_lgssm": {"estimators": ["score_function:returns=to_go"]}}


def miniature_default_config() -> dict:
    raw = tomllib.loads(default_config_path().read_text())
    blocks = []
    for block in raw["block"]:
        if block["name"] not in KEPT:
            continue
        block = copy.deepcopy(block)
        quick = dict(block.get("quick") or {})
        quick["estimators"] = list(quick.get("estimators", block["estimators"]))[:2]
        quick["num_samples"] = 300
        grid = quick.get("grid", block.get("grid") or {})
        quick["grid"] = {k: (v[:2] if isinstance(v, list) else {**v, "num": 2}) for k, v in grid.items()}
        quick.update(KEPT[block["name"]])
        block["quick"] = quick
        blocks.append(block)
    return {**{k: v for k, v in raw.items() if k != "block"}, "block": blocks}


def _write_toml(path, raw) -> None:
    """A tiny TOML writer for the config's value types (tests may not add a dependency)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(map(value, v)) + "]"
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
    lines = [f"{k} = {value(v)}" for k, v in raw.items() if k != "block"]
    for block in raw["block"]:
        lines += ["", "[[block]]"] + [f"{k} = {value(v)}" for k, v in block.items()]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("quick")
    config = root / "mini.toml"
    _write_toml(config, miniature_default_config())
    run_suite(config, root / "store", quick=True, report=False, progress=lambda line: None)
    return root / "store"


def test_every_frame_is_numeric_where_the_values_are_numbers(quick_store):
    frame = reports.load(quick_store)
    assert set(frame["block"]) == set(KEPT)
    for column in ("bias_z", "bias", "grad_exact", "mse", "grad_se", "variance", "point", "objective_exact"):
        assert frame[column].dtype == np.float64, column
    frame["bias_z"].abs()  # the TypeError: None in an object column
    assert frame.loc[frame["block"] == "relax_trace", "param"].isna().all()
    for table in (reports.summary(frame), reports.group_table(frame), reports.group_variance(frame)):
        numeric = table.select_dtypes(exclude="number").columns
        assert set(numeric) <= {"block", "estimator", "estimator_label", "method", "group", "bias_detected", "cell",
                                "problem", "seed", "var_ratio_paired", "var_ratio_reference"}, numeric


def test_group_table_on_a_mixed_store_covers_only_amortized_blocks(quick_store):
    frame = reports.load(quick_store)
    table = reports.group_table(frame)
    assert list(table["block"].unique()) == ["linear_vae_encoder"]
    assert list(table["estimator"]) == ["score_function", "pathwise"]  # config order
    vae = frame[(frame["block"] == "linear_vae_encoder") & (frame["estimator_label"] == "pathwise")]
    encoder = vae["param"].str.startswith("enc_")
    assert table.set_index("estimator").loc["pathwise", "encoder_variance"] == pytest.approx(
        vae.loc[encoder, "variance"].sum(), rel=1e-6)
    assert table.set_index("estimator").loc["pathwise", "decoder_variance"] == pytest.approx(
        vae.loc[~encoder, "variance"].sum(), rel=1e-6)


def test_readme_report_examples_run(quick_store):
    frame = reports.load(str(quick_store))  # README: frame = reports.load("varbench-results")
    reports.group_table(reports.load(str(quick_store)))  # README: variance per encoder / decoder group
    assert len(frame) > 0


def test_summary_follows_the_config_and_counts_every_grid_point(quick_store):
    frame = reports.load(quick_store)
    manifest = store.read_manifest(quick_store)
    table = schema.summary(frame, *store.config_order(manifest))
    assert list(table.columns) == list(schema.SUMMARY_COLUMNS)
    blocks = [b for b in dict.fromkeys(table["block"])]
    assert blocks == [b for b in KEPT if b != "relax_trace"]  # trace rows have their own table
    assert list(table.loc[table["block"] == "gaussian_k_sweep", "estimator"]) == ["score_function", "pathwise"]
    exact = table[table["method"] == "exact"]
    assert (exact["points"] == 4).all()  # 2 costs (separately compiled cells, indices restart) × 2 values of k
    assert exact[["num_samples", "p_value", "estimates_per_second"]].isna().all().all()
    assert not exact["bias_detected"].any()  # exact means of unbiased estimators: rounding only


def test_report_tables_verdicts_failures_and_scrolling(quick_store, tmp_path):
    manifest = store.read_manifest(quick_store)
    manifest["cells_failed"] = {"gaussian_k_sweep_exact · measure_valued · cost=exp_square · seed 0":
                                "method=exact: quadrature did not converge"}
    manifest["cells_skipped"] = {"rvi_lgssm · arm · seed 0": "arm does not apply"}
    store.write_manifest(quick_store, manifest)
    html = page.write_report(quick_store, tmp_path / "rep").read_text()
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "<div class='scroll'>" in html and "overflow-x:auto" in html
    assert "max_abs_bias_z" not in md and "bias_detected" in md and "Holm" in md
    failed, skipped = md.index("## Cells that failed"), md.index("## Cells not measured (not applicable)")
    assert failed < skipped and "quadrature did not converge" in md[failed:skipped]
    assert md.index("FAILED cells (not measured") < failed  # also in the block's own section
    for name in ("gaussian_k_sweep", "bias_vs_variance", "work_normalized", "relax_trace", "rvi_lgssm"):
        assert (tmp_path / "rep" / f"{name}.png").exists(), name


def test_results_cli_uses_the_report_vocabulary(quick_store, capsys):
    from varbench.cli import main
    assert main(["results", str(quick_store), "--format", "json"]) == 0
    rows = pd.read_json(io.StringIO(capsys.readouterr().out))
    assert list(rows.columns) == list(schema.SUMMARY_COLUMNS)
    assert rows["block"].iloc[0] == "gaussian_k_sweep"

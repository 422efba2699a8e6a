import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from varbench.reports import load, records, schema, store, summary, to_frame

import varbench


def test_tidy_rows_per_parameter_coordinate():
    results = [varbench.measure("gaussian:dim=2", est, num_samples=2000) for est in ("pathwise", "score_function")]
    frame = to_frame(results)
    assert len(frame) == 2 * 4
    assert {"problem", "estimator", "param", "coordinate", "param_value", "grad_mean", "variance", "variance_lo",
            "variance_hi", "bias_z", "estimates_per_second"} <= set(frame.columns)
    assert "samples_per_second" not in frame
    row = frame[(frame.estimator == "pathwise")
                 & (frame.param == "mean") & (frame.coordinate == "1")]
    assert float(row.variance.iloc[0]) == results[0].variance["mean"][1]
    assert float(row.param_value.iloc[0]) == 1.0


def test_records_accept_plain_dicts_and_exact_results():
    res = varbench.measure("gaussian", "pathwise", method="exact")
    rows = records([res.to_dict()])
    assert len(rows) == 2 and rows[0]["bias_z"] is None and rows[0]["method"] == "exact"
    assert np.isclose(rows[0]["variance_lo"], rows[0]["variance"])


def test_reports_never_import_jax():
    code = "import sys, reports; reports.to_frame([]); assert not any(m.startswith('jax') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def _cell(cell, rate_column, rate):
    """Rows of one Monte Carlo cell whose throughput column is named ``rate_column``."""
    return [{"block": "b", "cell": cell, "point": 0, "estimator_label": "pathwise", "estimator_name": "pathwise",
             "problem": "gaussian", "estimator": "pathwise", "method": "mc", "seed": 0, "num_samples": 100,
             "evaluations_per_estimate": 1, "total_variance": 2.0, "param": name, "coordinate": "",
             "variance": 1.0, "grad_mean": 1.0, "grad_se": 0.1, "grad_exact": 1.0, "bias": 0.0, "bias_z": 0.0,
             rate_column: rate} for name in ("mean", "log_scale")]


@pytest.mark.parametrize("cells", [{"c0": ("samples_per_second", 10.0)},
                                   {"c0": ("samples_per_second", 10.0), "c1": ("estimates_per_second", 30.0)}],
                         ids=["old store", "resumed across the rename"])
def test_a_store_written_before_the_rename_reads_its_throughput_as_estimates_per_second(tmp_path, cells):
    store.write_manifest(tmp_path, {"config_hash": "h", "config": {"block": [{"name": "b"}]}})
    for key, (column, rate) in cells.items():
        store.write_cell(tmp_path, key, _cell(key, column, rate))
    assert "samples_per_second" in pd.read_parquet(tmp_path / "cells" / "c0.parquet")  # the old column on disk
    frame = load(tmp_path)
    assert "samples_per_second" not in frame and frame["estimates_per_second"].dtype == np.float64
    expected = {key: rate for key, (_, rate) in cells.items()}
    assert frame.groupby("cell")["estimates_per_second"].first().to_dict() == expected
    assert summary(frame)["estimates_per_second"].iloc[0] == np.median(list(expected.values()))
    assert schema.TIMING == ("compile_seconds", "run_seconds", "estimates_per_second")


def test_records_read_an_old_result_dictionary_under_the_current_names():
    old = {"problem": "gaussian", "params": {"mean": 0.0}, "grad_mean": {"mean": 1.0}, "variance": {"mean": 2.0},
           "variance_ci": {"mean": [1.5, 2.5]}, "samples_per_second": 5.0}  # a JSON line of an older varbench
    (row,) = records([old])
    assert row["estimates_per_second"] == 5.0 and "samples_per_second" not in row

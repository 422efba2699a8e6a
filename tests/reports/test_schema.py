import subprocess
import sys

import numpy as np
from varbench.reports import records, to_frame

import varbench


def test_tidy_rows_per_parameter_coordinate():
    results = [varbench.measure("gaussian:dim=2", est, num_samples=2000) for est in ("pathwise", "score_function")]
    frame = to_frame(results)
    assert len(frame) == 2 * 4
    assert {"problem", "estimator", "param", "coordinate", "param_value", "grad_mean", "variance", "variance_lo",
            "variance_hi", "bias_z", "samples_per_second"} <= set(frame.columns)
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

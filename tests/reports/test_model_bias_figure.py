"""The model_bias figure: relative bias norm and variance of a model-based estimator per model option (no JAX)."""

import numpy as np
import pandas as pd
import pytest
from varbench.reports import figures, schema


def fake_rows():
    def result(estimator, bias, variance):
        grad_exact = [3.0, 4.0]  # norm 5
        return {"problem": "lqr", "estimator": estimator, "num_samples": 100, "seed": 0, "method": "mc",
                "evaluations_per_estimate": 1, "total_variance": variance, "params": {"gain": [0.0, 0.0]},
                "grad_mean": {"gain": list(np.add(grad_exact, bias))}, "grad_se": {"gain": [0.03, 0.04]},
                "variance": {"gain": [variance / 2, variance / 2]}, "grad_exact": {"gain": grad_exact},
                "bias": {"gain": list(bias)}, "variance_ci": {"gain": [[0, 1], [0, 1]]}}

    rows = []
    cells = [("model_pathwise", {}, [0.0, 0.05], 2.0), ("model_pathwise", {"model_error": 0.2}, [0.6, 0.8], 1.5),
             ("model_pathwise", {"model_error": 0.1}, [0.3, 0.4], 1.8), ("gae", {"lambda": 0.9}, [0.0, 0.01], 90.0)]
    for i, (name, options, bias, variance) in enumerate(cells):
        rows += schema.measurement_rows([result(name, bias, variance)], [{"options": {}, "params": {}}],
                                        block="b", cell=f"c{i}", problem_name="lqr", estimator_name=name,
                                        estimator_label=name, estimator_options=options, static={"T": 5})
    return pd.DataFrame(rows)


def test_model_bias_figure_draws_relative_bias_and_reference_variances():
    fig = figures.model_bias(fake_rows(), x="model_error", line="T", title="t")
    left, right = fig.axes[0], fig.axes[1]
    bias_line = left.lines[0]
    np.testing.assert_allclose(bias_line.get_xdata(), [0.0, 0.1, 0.2])  # the default (0) is filled in, sorted
    np.testing.assert_allclose(bias_line.get_ydata(), [0.01, 0.1, 0.2])  # ‖bias‖ / ‖∇‖
    assert left.lines[1].get_ydata() == pytest.approx([1.96 * 0.01] * 3, rel=1e-3)  # noise floor 1.96 ‖se‖ / ‖∇‖
    assert any(np.allclose(line.get_ydata(), 90.0) for line in right.lines)  # the unbiased reference

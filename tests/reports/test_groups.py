"""Variance summed per parameter group from tidy records (no JAX involved)."""

import numpy as np
import pytest
from varbench.reports import group_table, group_variance

from varbench.suite import load_config, parse_config


def fake_results():
    def result(estimator, enc, dec, evaluations):
        return {"problem": "linear_vae", "estimator": estimator, "num_samples": 10, "seed": 0, "method": "mc",
                "evaluations_per_estimate": evaluations, "total_variance": float(np.sum(enc) + np.sum(dec)),
                "params": {"enc_bias": [0.0, 0.0], "dec_log_sigma": 0.0},
                "grad_mean": {"enc_bias": [1.0, 2.0], "dec_log_sigma": 3.0},
                "grad_se": {"enc_bias": [0.1, 0.1], "dec_log_sigma": 0.1},
                "variance": {"enc_bias": enc, "dec_log_sigma": dec},
                "variance_ci": {"enc_bias": [[0, 1], [0, 1]], "dec_log_sigma": [0, 1]}}
    from varbench.reports import to_frame
    return to_frame([result("score_function", [10.0, 30.0], 5.0, 1), result("pathwise", [1.0, 2.0], 4.0, 2)])


def test_group_variance_sums_coordinates_and_normalizes_work():
    out = group_variance(fake_results()).set_index(["estimator", "group"])
    assert out.loc[("score_function", "encoder"), "variance"] == pytest.approx(40.0)
    assert out.loc[("score_function", "encoder"), "coordinates"] == 2
    assert out.loc[("pathwise", "decoder"), "variance"] == pytest.approx(4.0)
    assert out.loc[("pathwise", "encoder"), "work_normalized_variance"] == pytest.approx(6.0)


def test_group_table_and_explicit_mapping():
    table = group_table(fake_results()).set_index("estimator")
    assert table.loc["score_function", "encoder_variance"] == pytest.approx(40.0)
    assert table.loc["pathwise", "decoder_variance_x_evaluations"] == pytest.approx(8.0)
    custom = group_variance(fake_results(), {"scale": ["dec_log_sigma"]})
    assert set(custom["group"]) == {"scale", "other"}


@pytest.mark.parametrize("name, sbn", [("default.toml", "sbn_estimators"), ("amortized.toml", "sbn_baselines")])
def test_amortized_suite_blocks_parse(name, sbn):
    from varbench.suite import default_config_path
    path = default_config_path().with_name(name)
    blocks = {b.name: b for b in parse_config(load_config(path))}
    assert {"linear_vae_encoder", "gaussian_vae_encoder", sbn} <= set(blocks)
    quick = {b.name: b for b in parse_config(load_config(path), quick=True)}
    assert quick["linear_vae_encoder"].num_samples < blocks["linear_vae_encoder"].num_samples
    if name == "default.toml":  # `quick = { skip = true }` keeps the quick suite to the headline block
        assert "gaussian_vae_encoder" not in quick and sbn not in quick

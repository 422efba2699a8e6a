
import pandas as pd
import pytest
from scipy import stats as sps
from varbench.reports import schema, store


def test_cells_and_manifest_round_trip(tmp_path):
    store.write_manifest(tmp_path, {"config_hash": "abc", "n": 1})
    store.write_cell(tmp_path, "k1", [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": None}])
    store.write_cell(tmp_path, "k2", [{"a": 3.0, "c": 7}])
    assert store.read_manifest(tmp_path) == {"config_hash": "abc", "n": 1}
    assert store.finished_cells(tmp_path) == {"k1", "k2"}
    frame = store.load(tmp_path)
    assert len(frame) == 3 and set(frame.columns) == {"a", "b", "c"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_failed_write_leaves_no_file_under_the_final_name(tmp_path):
    class Boom(Exception):
        pass

    def explode(tmp):
        open(tmp, "w").write("partial")
        raise Boom

    with pytest.raises(Boom):
        store.atomic_write(tmp_path / "cells" / "x.parquet", explode)
    assert store.finished_cells(tmp_path) == set() and not list(tmp_path.rglob("*.tmp"))


def test_load_refuses_a_directory_that_is_not_a_store(tmp_path):
    with pytest.raises(store.StoreError, match="not a varbench result store"):
        store.load(tmp_path)


def test_clear_removes_only_store_files(tmp_path):
    store.write_manifest(tmp_path, {})
    store.write_cell(tmp_path, "k", [{"a": 1}])
    (tmp_path / "mine.txt").write_text("keep")
    store.clear(tmp_path)
    assert store.read_manifest(tmp_path) is None and (tmp_path / "mine.txt").exists()


def test_summary_table():
    frame = pd.DataFrame({"block": ["b"] * 4, "estimator_label": ["e"] * 4, "cell": ["c0", "c0", "c1", "c1"],
                          "point": [0, 1, 0, 1], "param": "x", "grid_cost": ["cos", "cos", "square", "square"],
                          "grid_k": [1.0, 2.0, 1.0, 2.0], "seed": 0, "num_samples": 100,
                          "evaluations_per_estimate": 1, "total_variance": [1.0, 3.0, 5.0, 7.0],
                          "variance": [1.0, 3.0, 5.0, 7.0], "grad_exact": [1.0, 1.0, 2.0, 2.0],
                          "grad_se": [0.1, 0.1, 0.1, 0.1], "bias": [0.05, -0.2, 0.0, 0.1], "bias_z": [0.5, -2.0, 0, 1],
                          "samples_per_second": [10.0, 20.0, 30.0, 40.0], "method": ["mc"] * 4})
    row = schema.summary(frame).iloc[0]
    assert row.points == 4  # two cells (a static option) whose point indices both start at 0
    assert row.median_total_variance == 4.0 and row.estimates_per_second == 25.0
    assert not row.bias_detected and row.p_value == pytest.approx(min(1.0, 4 * 2 * sps.norm.sf(2.0)), rel=0.02)  # |z| = 2 of 4
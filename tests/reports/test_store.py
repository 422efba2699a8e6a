
import pandas as pd
import pytest
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
    frame = pd.DataFrame({"block": ["b", "b"], "estimator_label": ["e", "e"], "point": [0, 1],
                          "variance": [1.0, 3.0], "bias_z": [0.5, -2.0], "samples_per_second": [10.0, 20.0],
                          "method": ["mc", "mc"]})
    row = schema.summary(frame).iloc[0]
    assert row.points == 2 and row.median_variance == 2.0 and row.max_abs_bias_z == 2.0

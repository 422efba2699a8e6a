
import pandas as pd
import pytest
from scipy import stats as sps
from varbench.reports import schema, store


def _row(cell, **columns):
    """A measurement row with the columns every cell row has (:mod:`varbench.reports.store_cells`)."""
    return dict(block="b", cell=cell, estimator="e", estimator_label="e", estimator_name="e", problem="p",
                method="mc", param="x", coordinate="", point=0, grad_mean=1.0, variance=1.0, **columns)


def test_cells_and_manifest_round_trip(tmp_path):
    store.write_manifest(tmp_path, {"config_hash": "abc", "n": 1})
    store.write_cell(tmp_path, "k1", [_row("k1", a=1.0, b="x"), _row("k1", a=2.0, b=None)])
    store.write_cell(tmp_path, "k2", [_row("k2", a=3.0, c=7)])
    assert store.read_manifest(tmp_path) == {"config_hash": "abc", "n": 1}
    assert store.finished_cells(tmp_path) == {"k1", "k2"}
    frame = store.load(tmp_path)
    assert len(frame) == 3 and {"a", "b", "c"} <= set(frame.columns)
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


def _suite_store(root):
    """A store as the suite writes it: the manifest lists its cells, each file holds its own cell's rows."""
    store.write_manifest(root, {"config_hash": "abc", "config": {"block": [{"name": "b"}]}, "finished": "now",
                                "cells": {"k1": "b · one", "k2": "b · two", "k3": "b · three"}, "cells_done": 3})
    for key in ("k1", "k2", "k3"):
        store.write_cell(root, key, [_row(key, a=1.0, prov_git_commit="abc")])


def test_load_names_unreadable_and_foreign_cell_files_and_goes_on(tmp_path):
    _suite_store(tmp_path)
    path = tmp_path / "cells" / "k2.parquet"
    path.write_bytes(path.read_bytes()[:20])  # truncated: no Parquet footer
    store.write_cell(tmp_path, "zz", [_row("zz", a=9.0)])  # not a cell of this config
    with pytest.warns(store.StoreWarning) as caught:
        frame = store.load(tmp_path)
    messages = " ".join(str(w.message) for w in caught)
    assert "k2.parquet" in messages and "not readable Parquet" in messages and "zz.parquet" in messages
    assert sorted(frame["cell"]) == ["k1", "k3"]


def test_verify_checks_every_cell_and_the_manifest(tmp_path):
    _suite_store(tmp_path)
    found = store.verify(tmp_path)
    assert found.ok and found.cells_ok == 3 and not found.problems
    (tmp_path / "cells" / "k1.parquet").write_bytes(b"PAR1 not really")
    store.write_cell(tmp_path, "k3", [_row("k2", a=1.0)])  # rows of another cell under k3's name
    store.write_cell(tmp_path, "zz", [_row("zz", a=1.0)])
    (tmp_path / "cells" / ".k4.parquet.0123.tmp").write_text("killed writer")
    found = store.verify(tmp_path)
    text = "\n".join(found.problems)
    assert not found.ok and len(found.problems) == 3, found.problems
    assert "k1.parquet" in text and "not readable Parquet" in text
    assert "k3.parquet" in text and "rows of another cell ('k2')" in text
    assert "zz.parquet" in text and "not a cell of this store's config" in text
    assert any("temporary file" in note for note in found.notes)
    (tmp_path / "cells" / "k2.parquet").unlink()
    assert any("says 3 cells finished; 2 cell files" in p for p in store.verify(tmp_path).problems)
    with pytest.raises(store.StoreError, match="not a varbench result store"):
        store.verify(tmp_path / "nowhere")


def test_move_aside_keeps_the_file_out_of_the_cells(tmp_path):
    _suite_store(tmp_path)
    target = store.move_aside(tmp_path, tmp_path / "cells" / "k1.parquet")
    assert target.parent == tmp_path / store.CORRUPT and target.name.startswith("k1.parquet.")
    assert store.finished_cells(tmp_path) == {"k2", "k3"} and target.exists()


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
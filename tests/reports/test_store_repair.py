"""A damaged result store is found and mended: the manifest's schema on read, every cell's content in ``verify``,
``varbench store repair`` (rebuilt from the cells' metadata, nothing intact lost), and ``check --out`` refusing a
directory that holds another kind of store. The stores here are written without JAX (cells as the suite writes
them, with their metadata); tests/reports/test_store_faults.py runs a real suite into its stores."""

import json
import os

import pytest
from varbench.reports import manifest, store
from varbench.reports.manifest import Failure, FailureKind, Manifest, Run, RunStatus

from varbench.cli import main

HASH = "0123456789abcdef"
CONFIG = {"block": [{"name": "b", "problem": "gaussian", "estimators": ["pathwise", "score_function"]}]}
KEYS = {"k1": "b · pathwise · seed 0", "k2": "b · score_function · seed 0", "k3": "b · pathwise · seed 1"}


def rows(key, **columns):
    """Two measurement rows of cell ``key``, as the suite writes them (provenance included)."""
    return [{**dict(block="b", cell=key, estimator="pathwise", estimator_label="pathwise", estimator_name="pathwise",
                    problem="gaussian", method="mc", param=param, coordinate="", point=0, seed=0, num_samples=100,
                    grad_mean=1.0, variance=2.0, grad_se=0.1, total_variance=4.0, bias_z=None,
                    prov_started=f"2024-01-0{key[-1]}T00:00:00+00:00", prov_git_commit="abc"), **columns}
            for param in ("mean", "log_scale")]


def meta(key, config_hash=HASH):
    return store.CellMeta(config_hash=config_hash, config=CONFIG, label=KEYS.get(key), cells_total=4)


def write_store(root, keys=tuple(KEYS), finished=True):
    """A suite store of ``keys`` (the config has a fourth cell, never run), its manifest as the suite writes it."""
    run = Run(started="t0", command="varbench suite", host="h", pid=1, executor={"kind": "local"}, environment={})
    m = Manifest.begin(None, run, config=CONFIG, config_hash=HASH, quick=False, cells={**KEYS, "k4": "b · x"},
                       cells_done=0)
    for key in keys:
        store.write_cell(root, key, rows(key), meta(key))
        m = m.cell_done("b", 1, 0.5)
    m = m.cell_failed("b · x", Failure(FailureKind.MEASUREMENT, "nan"))
    manifest.write(root, m.completed("t1", len(keys)) if finished else m)
    return root


def cell_bytes(root):
    return {p.name: p.read_bytes() for p in (root / "cells").glob("*.parquet")}


@pytest.mark.parametrize("change, field, kind", [
    ({"cells": 5}, "cells", "an object, not an integer"),
    ({"runs": "x"}, "runs", "a list, not text"),
    ({"config": []}, "config", "an object, not a list"),
    ({"runs": [{"run": 1, "pid": "x"}]}, "runs[0].pid", "an integer or null, not text"),
    ({"cells_failed": {"a\nb": 1}}, 'cells_failed["a\\nb"]', "text, not an integer"),
    ({"cells_done": -1}, "cells_done", "a non-negative integer, not an integer"),
    ({"config": {"block": [{"name": 3}]}}, "config.block[0].name", "text, not an integer"),
    ({"config_hash": None}, "config_hash", "text, not null"),
])
def test_a_manifest_of_the_wrong_types_names_its_first_offending_field(tmp_path, capsys, change, field, kind):
    write_store(tmp_path)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**raw, **change}))
    with pytest.raises(store.DamagedManifestError) as info:
        manifest.read(tmp_path)
    message = str(info.value)
    assert f"field '{field}' must be {kind}" in message and "\n" not in message, message
    assert f"'varbench store repair {tmp_path}'" in message
    found = store.verify(tmp_path)  # a found problem, and the cells are checked all the same
    assert not found.ok and found.problems == [message] and found.cells_ok == 3
    assert main(["store", "verify", str(tmp_path)]) == 1
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and "internal error" not in err


def test_verify_checks_every_cells_content(tmp_path):
    write_store(tmp_path)
    cells = tmp_path / "cells"
    store.write_cell(tmp_path, "k1", [{k: v for k, v in r.items() if k != "grad_mean"} for r in rows("k1")],
                     meta("k1"))
    store.write_cell(tmp_path, "k2", rows("k2", variance="big"), meta("k2"))  # replaces the numeric column
    store.write_cell(tmp_path, "k3", rows("k3"), meta("k3", config_hash="fedcba9876543210"))
    (cells / "k4.parquet").mkdir()  # an empty directory in place of a cell file
    found = store.verify(tmp_path)
    text = "\n".join(found.problems)
    assert found.cells_ok == 0 and len(found.problems) == 5, found.problems
    assert "says 3 cells finished; 4 cell files of its config are present" in text  # k4 is not one of them
    assert f"{str(cells / 'k1.parquet')!r} lacks the column 'grad_mean' of a measurement row" in text
    assert f"{str(cells / 'k2.parquet')!r} holds other values than numbers in its column 'variance'" in text
    assert f"{str(cells / 'k3.parquet')!r} was measured for config hash fedcba9876543210, not this store's" in text
    assert f"{str(cells / 'k4.parquet')!r} is a directory, not a regular file" in text
    with pytest.warns(store.StoreWarning):
        assert store.load(tmp_path).empty  # every one left out, none read as a result


def test_cells_of_an_older_varbench_without_metadata_still_load_and_verify(tmp_path):
    write_store(tmp_path)
    store.write_cell(tmp_path, "k1", rows("k1"))  # no metadata, as before cells recorded their config
    assert store.read_cell_meta(tmp_path / "cells" / "k1.parquet")[1] == store.CellMeta()
    assert store.verify(tmp_path).ok and len(store.load(tmp_path)) == 6


@pytest.mark.parametrize("damage", ["truncated", "wrong types", "deleted", "a directory"])
def test_repair_rebuilds_the_manifest_from_the_cells_and_keeps_every_intact_one(tmp_path, capsys, damage):
    write_store(tmp_path)
    before = cell_bytes(tmp_path)
    path = tmp_path / "manifest.json"
    text = path.read_text()
    {"truncated": lambda: path.write_text(text[: len(text) // 2]),
     "wrong types": lambda: path.write_text(json.dumps({**json.loads(text), "runs": "x"})),
     "deleted": path.unlink,
     "a directory": lambda: (path.unlink(), path.mkdir())}[damage]()
    store.write_cell(tmp_path, "k9", rows("k9"), meta("k9", config_hash="fedcba9876543210"))  # another config's
    assert main(["store", "verify", str(tmp_path)]) == 1
    assert "varbench store repair" in capsys.readouterr().out
    assert main(["store", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rebuilt" in out and "k9.parquet" in out and out.rstrip().endswith("0 problem(s)"), out
    assert cell_bytes(tmp_path) == before and (tmp_path / "foreign").is_dir()
    rebuilt = manifest.read(tmp_path)
    assert rebuilt.config == CONFIG and rebuilt.config_hash == HASH and rebuilt.cells == KEYS
    assert rebuilt.cells_done == 3 and rebuilt.cells_total == 4 and rebuilt.finished is None
    assert rebuilt.started == "2024-01-01T00:00:00+00:00" and rebuilt.environment == {"git_commit": "abc"}
    assert [(r.number, r.status) for r in rebuilt.runs] == [(1, RunStatus.REPAIRED)]
    assert store.verify(tmp_path).ok and len(store.load(tmp_path)) == 6
    if damage != "deleted":  # the damaged manifest is kept for inspection
        assert [p.name.split(".")[0] for p in (tmp_path / "corrupt").iterdir()] == ["manifest"]


def test_repair_moves_damaged_cells_aside_and_recounts_an_intact_manifest(tmp_path, capsys):
    write_store(tmp_path)
    victim = tmp_path / "cells" / "k2.parquet"
    victim.write_bytes(victim.read_bytes()[:50])
    (tmp_path / "cells" / ".k4.parquet.0123.tmp").write_text("a killed writer's")
    kept = {k: v for k, v in cell_bytes(tmp_path).items() if k != "k2.parquet"}
    assert main(["store", "repair", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "k2.parquet" in out and "not readable Parquet" in out and "2 cell(s) of its config finished (it said 3)" \
        in out and "deleted 1 temporary file(s)" in out, out
    assert cell_bytes(tmp_path) == kept and len(list((tmp_path / "corrupt").iterdir())) == 1
    repaired = manifest.read(tmp_path)
    assert repaired.cells_done == 2 and repaired.finished is None and repaired.cells == {**KEYS, "k4": "b · x"}
    assert [r.status for r in repaired.runs] == [RunStatus.FINISHED, RunStatus.REPAIRED]
    assert "k2.parquet" in repaired.runs[-1].cells_moved_aside and "b · x" in repaired.cells_failed
    assert store.verify(tmp_path).ok


def test_repair_of_a_sound_store_changes_nothing(tmp_path, capsys):
    write_store(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert main(["store", "repair", str(tmp_path)]) == 0
    assert "repair: nothing to repair" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


def test_repair_without_a_recorded_config_says_so_and_keeps_the_cells(tmp_path, capsys):
    for key in KEYS:
        store.write_cell(tmp_path, key, rows(key))  # cells of an older varbench, and no manifest
    before = cell_bytes(tmp_path)
    assert main(["store", "repair", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "cannot rebuild the manifest: no intact cell file records its config" in out and "FAILED" in out
    assert cell_bytes(tmp_path) == before and not (tmp_path / "manifest.json").exists()
    assert not (tmp_path / store.LOCK).exists()
    assert main(["store", "repair", str(tmp_path / "nothing")]) == 2
    assert "not a varbench result store" in capsys.readouterr().err


def test_check_refuses_an_out_that_holds_another_kind_of_store(tmp_path, capsys):
    suite = write_store(tmp_path / "suite")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    for out, what in ((suite, "holds a suite's result store"), (tmp_path / "other", "holds 1 file(s)"),
                      (tmp_path / "other" / "notes.txt", "is an existing file")):
        argv = ["check", "pathwise", "--problems", "gaussian", "--level", "quick", "--out", str(out)]
        assert main(argv) == 2  # refused before the battery runs
        err = capsys.readouterr().err
        assert what in err and err.count("\n") == 1 and err.startswith("varbench: error: --out"), err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
    assert manifest.read(suite).config_hash == HASH and os.listdir(tmp_path / "other") == ["notes.txt"]

"""Fault injection on a real suite's store: a kill mid-run, a full disk, a read-only ``cells/``, a damaged or lost
manifest, a directory in place of a cell file. After repair and resume nothing finished is lost: the cell files
present before are byte for byte the same after. A hypothesis strategy puts random JSON values in the manifest's
fields: reading and verifying give a verification or a one-line StoreError, never another exception."""

import errno
import json
import os
import shutil
import textwrap

import hypothesis.strategies as st
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from varbench.reports import manifest, manifest_schema, store

from varbench.cli import main
from varbench.reports.manifest import RunStatus
from varbench.suite import run_suite

CONFIG = textwrap.dedent("""
    [[block]]
    name = "tiny"
    problem = "gaussian:dim=1,cost=square"
    estimators = ["pathwise"]
    num_samples = 200
    seeds = [0, 1, 2]
    grid = { k = [0.5, 1.0] }
""")
CELLS = 3  # one kernel, compiled once per module
QUIET = dict(progress=lambda line: None, report=False)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def finished(config, tmp_path_factory):
    """A finished store of the config (copied by each test that damages one)."""
    out = tmp_path_factory.mktemp("finished") / "store"
    run_suite(config, out, **QUIET)
    return out


@pytest.fixture
def out(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "store")
    return tmp_path / "store"


def cell_bytes(root):
    return {p.name: p.read_bytes() for p in (root / "cells").glob("*.parquet")}


def assert_nothing_lost(before, root):
    """Every cell file present ``before`` is there, byte for byte; and the store is whole and sound."""
    after = cell_bytes(root)
    assert {name: after.get(name) for name in before} == before
    assert len(after) == CELLS and store.verify(root).ok and not list(root.rglob("*.tmp"))


def test_a_run_killed_after_two_cells_resumes_without_losing_them(config, finished, tmp_path, monkeypatch):
    out, written = tmp_path / "store", []
    real = store.write_cell

    def die_before_the_third(root, key, *args, **kwargs):
        if len(written) == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, between two cells
        written.append(f"{key}.parquet")
        return real(root, key, *args, **kwargs)

    monkeypatch.setattr(store, "write_cell", die_before_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_suite(config, out, **QUIET)
    monkeypatch.undo()
    before = cell_bytes(out)
    assert sorted(before) == sorted(written) and manifest.read(out).run.status is RunStatus.INTERRUPTED
    assert manifest.read(out).cells_done == 2 and store.verify(out).ok
    for path in (out / "cells").glob("*.parquet"):  # each cell says what rebuilds the manifest
        meta = store.read_cell_meta(path)[1]
        assert meta.config_hash == manifest.read(out).config_hash and meta.config == manifest.read(out).config
        assert meta.label == manifest.read(out).cells[path.stem] and meta.cells_total == CELLS
    resumed = run_suite(config, out, **QUIET)
    assert resumed.run.cells_finished == CELLS - 2 and resumed.cells_done == CELLS
    assert_nothing_lost(before, out)


def test_a_full_disk_is_one_line_exit_1_and_keeps_the_finished_cells(config, tmp_path, monkeypatch, capsys):
    out, calls = tmp_path / "store", []
    real = pq.write_table

    def full_after_one(table, where, *args, **kwargs):
        calls.append(where)
        if len(calls) > 1:
            with open(where, "wb") as fh:
                fh.write(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", full_after_one)
    assert main(["suite", "--config", str(config), "--out", str(out)]) == 1
    err = error_line(capsys)
    assert "cannot write the cell file" in err and f"{str(out / 'cells')}/" in err
    assert "No space left on device [ENOSPC]" in err
    monkeypatch.undo()
    before = cell_bytes(out)
    assert len(before) == 1 and not list(out.rglob("*.tmp"))  # the half-written file never got a cell's name
    assert manifest.read(out).run.status is RunStatus.INTERRUPTED and store.verify(out).ok
    run_suite(config, out, **QUIET)
    assert_nothing_lost(before, out)


def error_line(capsys):
    """The command's one error line (progress lines come before it on stderr), never an internal error."""
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("varbench:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "internal error" not in errors[0], lines
    return errors[0]


def _resume_refused_for_permission(config, out, capsys, victim):
    assert main(["suite", "--config", str(config), "--out", str(out)]) == 1
    err = error_line(capsys)
    assert f"cannot write the cell file {str(victim)!r}: Permission denied [EACCES]" in err


def test_a_read_only_cells_folder_is_one_line_exit_1(config, out, monkeypatch, capsys):
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    victim.unlink()  # one cell to measure again, into a folder where the OS refuses to create files
    before = cell_bytes(out)
    real = os.open

    def refused(path, flags, *args, **kwargs):
        if os.path.dirname(os.fspath(path)) == str(out / "cells") and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    _resume_refused_for_permission(config, out, capsys, victim)
    monkeypatch.undo()
    assert cell_bytes(out) == before
    run_suite(config, out, **QUIET)
    assert_nothing_lost(before, out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_chmod_read_only_cells_folder_is_one_line_exit_1(config, out, capsys):
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    victim.unlink()
    before = cell_bytes(out)
    (out / "cells").chmod(0o555)
    try:
        _resume_refused_for_permission(config, out, capsys, victim)
    finally:
        (out / "cells").chmod(0o755)
    assert cell_bytes(out) == before


@pytest.mark.parametrize("damage", ["truncated", "wrong types", "deleted"])
def test_a_damaged_manifest_is_repaired_then_resumed_without_losing_a_cell(config, out, capsys, damage):
    before = cell_bytes(out)
    victim = sorted((out / "cells").glob("*.parquet"))[-1]
    victim.unlink()  # the resume has something to do
    del before[victim.name]
    path = out / "manifest.json"
    text = path.read_text()
    {"truncated": lambda: path.write_text(text[: len(text) // 2]),
     "wrong types": lambda: path.write_text(json.dumps({**json.loads(text), "cells": 5, "runs": "x"})),
     "deleted": path.unlink}[damage]()
    tree = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    if damage != "deleted":  # a resume refuses, naming the repair (never a way that throws the cells away)
        assert main(["suite", "--config", str(config), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"'varbench store repair {out}'" in err and "--no-resume" not in err, err
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == tree
    assert main(["store", "verify", str(out)]) == 1
    assert main(["store", "repair", str(out)]) == 0
    capsys.readouterr()
    assert manifest.read(out).runs[-1].status is RunStatus.REPAIRED
    resumed = run_suite(config, out, **QUIET)
    assert resumed.run.cells_finished == 1 and resumed.cells_done == CELLS
    assert_nothing_lost(before, out)


def test_a_directory_in_place_of_a_cell_is_found_moved_aside_and_measured_again(config, out, capsys):
    before = cell_bytes(out)
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    victim.unlink()
    victim.mkdir()
    del before[victim.name]
    assert main(["store", "verify", str(out)]) == 1
    assert f"{str(victim)!r} is a directory, not a regular file" in capsys.readouterr().out
    resumed = run_suite(config, out, **QUIET)
    assert resumed.run.cells_finished == 1 and victim.name in resumed.run.cells_moved_aside
    assert victim.is_file() and [p.is_dir() for p in (out / "corrupt").iterdir()] == [True]
    capsys.readouterr()
    assert_nothing_lost(before, out)


# --- random JSON values in the manifest's fields ------------------------------------------------------------------
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=6)
FIELDS = st.sampled_from(sorted(manifest_schema.FIELDS) + [f"runs.{k}" for k in manifest_schema.RUN_FIELDS]
                         + ["config.block", "config.block.name", "config.block.estimators", "config.block.quick"])
DELETED = object()


def _put(manifest_json, field, value):
    """``manifest_json`` with ``field`` (``runs.pid``: of the first run) set to ``value`` (or deleted)."""
    *path, name = field.split(".")
    holder = manifest_json
    for step in path:  # an earlier change may have replaced the way there: then this one has nothing to change
        holder = holder.get(step) if isinstance(holder, dict) else None
        holder = holder[0] if isinstance(holder, list) and holder else holder
    if isinstance(holder, dict):
        if value is DELETED:
            holder.pop(name, None)
        else:
            holder[name] = value


@pytest.fixture(scope="module")
def fuzzed(finished, tmp_path_factory):
    """The finished store with one cell file (each example reads them all)."""
    root = tmp_path_factory.mktemp("fuzzed") / "store"
    shutil.copytree(finished, root)
    for path in sorted((root / "cells").glob("*.parquet"))[1:]:
        path.unlink()
    return root, json.loads((finished / "manifest.json").read_text())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(FIELDS, JSON | st.just(DELETED)), min_size=1, max_size=3))
def test_random_values_in_the_manifest_give_a_verification_or_a_one_line_store_error(fuzzed, changes):
    root, original = fuzzed
    damaged = json.loads(json.dumps(original))
    for field, value in changes:
        _put(damaged, field, value)
    (root / "manifest.json").write_text(json.dumps(damaged))
    found = store.verify(root)  # never raises here: the directory holds cells, so it is a store
    assert isinstance(found, store.Verification) and all("\n" not in line for line in found.problems)
    try:
        read = manifest.read(root)
        store.config_order(store.read_manifest(root))
    except store.StoreError as err:
        assert "\n" not in str(err) and not found.ok
    else:
        assert read.config_hash == damaged["config_hash"]

"""A report draws its figures in worker processes with the same files as drawn one by one, draws again only the
figures whose data changed, records each figure's drawing time, and ``varbench suite --no-report`` draws none."""

import json
import shutil
import textwrap

import pandas as pd
import pytest
from varbench.cli import main
from varbench.reports import _drawing, _workers, page, schema, store

BLOCKS = ("b1", "b2")
LABELS = ("pathwise", "score_function")


def _rows(block, label, scale):
    """Tidy rows of one cell (one estimator of one block) at two grid values."""
    ks = [1, 2]
    results = [{"problem": "gaussian", "estimator": label, "num_samples": 1000, "seed": 0, "method": "mc",
                "evaluations_per_estimate": 1, "total_variance": scale * k, "estimates_per_second": 1e6,
                "params": {"mean": 0.0}, "grad_mean": {"mean": 1.0}, "grad_se": {"mean": 0.01},
                "variance": {"mean": scale * k}, "grad_exact": {"mean": 1.0}, "bias": {"mean": 0.0},
                "variance_ci": {"mean": [0.9 * scale * k, 1.1 * scale * k]}} for k in ks]
    return schema.measurement_rows(results, [{"options": {"k": k}, "params": {}} for k in ks], block=block,
                                   cell=f"{block}-{label}", problem_name="gaussian", estimator_name=label,
                                   estimator_label=label, estimator_options={}, static={})


def _write_cell(root, block, label, scale):
    store.write_cell(root, f"{block}-{label}", _rows(block, label, scale))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A store of two blocks of two estimators: four figures (one per block, bias and work overviews)."""
    root = tmp_path_factory.mktemp("store")
    config = {"block": [{"name": b, "estimators": list(LABELS), "figure": {"kind": "variance_vs", "x": "k"}}
                        for b in BLOCKS]}
    keys = {f"{b}-{label}": f"{b} · {label}" for b in BLOCKS for label in LABELS}
    store.write_manifest(root, {"config_hash": "x", "config": config, "cells": keys, "cells_done": len(keys),
                                "started": "t0", "finished": "t1",
                                "environment": {"varbench_version": "0", "jax_version": "0", "backend": "cpu"}})
    for i, b in enumerate(BLOCKS):
        for j, label in enumerate(LABELS):
            _write_cell(root, b, label, 1.0 + i + 0.5 * j)
    return root


@pytest.fixture(scope="module")
def serial(root, tmp_path_factory):
    """The store's report, its figures drawn one by one in this process."""
    out = tmp_path_factory.mktemp("serial") / "rep"
    page.write_report(root, out, workers=1)
    return out


def _stamps(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")}


def test_figures_drawn_in_workers_are_the_files_drawn_one_by_one(root, serial, tmp_path, monkeypatch):
    """A fresh report's workers start before its figures are known and draw each batch as the report finds it; a
    report into a folder with a record draws its changed figures (4 or more) in workers started then. Both give the
    files that one process draws."""
    handed = []

    class Counting(_workers.EarlyPool):
        def pool(self):
            pool = super().pool()
            if pool is not None and not hasattr(pool, "counted"):
                submit, pool.counted = pool.submit, True
                pool.submit = lambda fn, *args: handed.append(args[0].file) or submit(fn, *args)
            return pool

    monkeypatch.setattr(_workers, "EarlyPool", Counting)
    monkeypatch.setattr(_drawing, "EarlyPool", Counting)
    names = sorted(p.name for p in serial.glob("*.png"))
    page.write_report(root, tmp_path / "fresh", workers=2)
    assert sorted(handed) == names and len(names) == 4  # drawn by the workers, not the serial fallback
    shutil.copytree(tmp_path / "fresh", tmp_path / "again")
    for png in (tmp_path / "again").glob("*.png"):
        png.unlink()  # recorded, but missing: drawn again
    handed.clear()
    page.write_report(root, tmp_path / "again", workers=2)
    assert sorted(handed) == names
    for out in ("fresh", "again"):
        assert names == sorted(p.name for p in (tmp_path / out).glob("*.png"))
        for name in names:
            assert (serial / name).read_bytes() == (tmp_path / out / name).read_bytes(), (out, name)
        assert (serial / "report.md").read_text() == (tmp_path / out / "report.md").read_text()


def test_an_unchanged_store_redraws_nothing_and_one_changed_block_only_its_figures(root, serial, tmp_path, capsys):
    out = tmp_path / "rep"
    shutil.copytree(serial, out)  # modification times kept
    first = _stamps(out)
    recorded = json.loads((out / page.SIDECAR).read_text())["figures"]
    assert set(recorded) == set(first) and all(e["drawn"] and e["seconds"] > 0 for e in recorded.values())
    (out / "report.md").unlink()
    (out / "b1.png").unlink()  # a missing file is drawn again
    page.write_report(root, out, workers=1)
    again = _stamps(out)
    assert {name for name in first if again[name] != first[name]} == {"b1.png"}
    assert (out / "report.md").exists()  # the pages are always written
    assert [n for n, e in json.loads((out / page.SIDECAR).read_text())["figures"].items() if e["drawn"]] == ["b1.png"]

    _write_cell(root, "b2", "score_function", 7.0)  # the last cell of a resumed sweep changed block b2
    try:
        assert main(["report", str(root), "--out", str(out), "--timings"]) == 0
    finally:
        _write_cell(root, "b2", "score_function", 2.5)
    now = _stamps(out)
    assert {name for name in now if now[name] != again[name]} == {"b2.png", "bias_vs_variance.png",
                                                                  "work_normalized.png"}
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("3 of 4 figures drawn") and len(lines) == 6
    assert "b1.png  (unchanged" in "\n".join(lines[2:]) and "s  b2.png" in "\n".join(lines[2:])


def test_suite_without_report_draws_none_and_says_how_to(tmp_path, capsys):
    config = tmp_path / "one.toml"
    config.write_text(textwrap.dedent("""
        [[block]]
        name = "one"
        problem = "gaussian:dim=1"
        estimators = ["pathwise"]
        num_samples = 64
        grid = { k = [1.0] }
        figure = { kind = "variance_vs", x = "k" }
    """))
    out = tmp_path / "store"
    assert main(["suite", "--config", str(config), "--out", str(out), "--no-report"]) == 0
    assert not (out / "report").exists() and (out / "manifest.json").exists()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(f"no report drawn (draw it with: varbench report {out})")
    assert not pd.read_parquet(next((out / "cells").glob("*.parquet"))).empty


def test_workers_start_early_only_for_a_fresh_report_of_several_figures(tmp_path):
    assert _workers.expected_figures({"config": {"block": [{"name": "a"}, {"name": "b"}]}}) == 4  # + 2 overviews
    assert _workers.expected_figures(None) == 0 and _workers.stored_figures(tmp_path) == 0  # no store there
    assert _workers.start_workers(tmp_path, _workers.MIN_PARALLEL - 1) is None  # drawn here: cheaper
    assert _workers.start_workers(tmp_path, 8, workers=1) is None
    (tmp_path / page.SIDECAR).write_text("{}")  # an earlier report: most figures are unchanged
    assert _workers.start_workers(tmp_path, 8) is None

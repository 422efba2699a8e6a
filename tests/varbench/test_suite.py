import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from varbench.reports import store

from varbench.core.errors import VarbenchError
from varbench.engine import harness
from varbench.reports.manifest import RunStatus
from varbench.suite import GridPoint, cells_of, load_config, parse_config, run_cell, run_suite

SMALL = textwrap.dedent("""
    [[block]]
    name = "tiny"
    problem = "gaussian:dim=1"
    estimators = ["pathwise", "score_function"]
    num_samples = 2000
    seeds = [0, 1]
    grid = { cost = ["square", "cos"], k = [0.5, 1.0, 2.0], mean = [0.0, 1.0] }
    figure = { kind = "variance_vs", x = "k", col = "cost" }
    quick = { num_samples = 500 }

    [[block]]
    name = "tiny_exact"
    problem = "gaussian:cost=cos"
    estimators = ["pathwise"]
    method = "exact"
    grid = { k = [1.0, 2.0] }
""")


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_default_config_parses_and_expands():
    blocks = parse_config(load_config())
    assert {"gaussian_k_sweep", "gaussian_k_sweep_exact"} <= {b.name for b in blocks}
    sweep = next(b for b in blocks if b.name == "gaussian_k_sweep")
    cells = cells_of(sweep)
    # One cell per cost x estimator; the k grid lives inside each cell (one compiled kernel).
    assert len(cells) == 3 * len(sweep.estimators) and len(cells[0].points) == 30
    quick = next(b for b in parse_config(load_config(), quick=True) if b.name == "gaussian_k_sweep")
    assert quick.num_samples < sweep.num_samples


def test_cells_split_static_options_and_batch_values(small_config):
    block = parse_config(load_config(small_config))[0]
    cells = cells_of(block)
    assert len(cells) == 2 * 2 * 2  # cost x estimator x seed
    assert len(cells[0].points) == 3 * 2  # k x mean, vmapped
    assert cells[0].static == {"cost": "square"} and cells[0].points[0] == GridPoint(options={"k": 0.5},
                                                                                      params={"mean": 0.0})
    assert len({c.key for c in cells}) == len(cells)


def test_a_fifty_point_k_sweep_compiles_once():
    raw = {"block": [{"name": "sweep", "problem": "gaussian:cost=cos", "estimators": ["score_function"],
                      "num_samples": 1000, "grid": {"k": {"start": 0.1, "stop": 5.0, "num": 50}}}]}
    cell = cells_of(parse_config(raw)[0])[0]
    harness.clear_cache()
    before = harness.compile_count()
    rows = run_cell(cell)
    assert harness.compile_count() - before == 1
    assert len({r["point"] for r in rows}) == 50 and len(rows) == 50 * 2


@pytest.mark.parametrize("raw, fragment", [
    ({}, r"at least one \[\[block\]\]"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": []}]}, "non-empty list"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "method": "x"}]}, "valid methods"),
    ({"block": [{"name": "a", "problem": "nope", "estimators": ["pathwise"]}]}, "valid problems"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["nope"]}]}, "valid estimators"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "colour": 1}]}, "valid keys"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "grid": {"z": [1]}}]},
     "neither an option nor a parameter"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"]}] * 2}, "unique"),
    # `samples` is an estimator option (draws per estimate); the number of estimates is `num_samples`
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "samples": 10}]},
     "^block 'a': 'samples' is now 'num_samples'"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "quick": {"samples": 10}}]},
     "^block 'a': quick: 'samples' is now 'num_samples'"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "quick": {"colour": 1}}]},
     "quick: unknown key 'colour'; valid keys: title, "),
    # a cell given twice would be measured twice and never count as finished on a resume
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "seeds": [0, 0]}]},
     "^block 'a': 'seeds' lists 0 twice; list each once$"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["score_function", "score_function:samples=1"]}]},
     "^block 'a': 'estimators' lists 'score_function:samples=1' twice \\(the same as 'score_function'\\)"),
    ({"block": [{"name": "a", "problem": "gaussian", "estimators": ["pathwise"], "grid": {"cost": ["cos", "cos"]}}]},
     "^block 'a': grid axis 'cost' lists 'cos' twice"),
])
def test_bad_configs_are_one_line_errors(raw, fragment):
    with pytest.raises(VarbenchError, match=fragment):
        blocks = parse_config(raw)
        for b in blocks:
            cells_of(b)


def test_cells_carry_their_parsed_estimator_and_typed_grid_points():
    raw = {"block": [{"name": "b", "problem": "gaussian:dim=1", "estimators": ["score_function:baseline=ema"],
                      "grid": {"cost": ["cos"], "k": [1.0, 2.0]}, "seeds": [3]},
                     {"name": "t", "kind": "trace", "problem": "bernoulli", "estimators": ["score_function"],
                      "trace": {"drivers": ["disarm"], "steps": 4}}]}
    measure_block, trace_block = parse_config(raw)
    cell, = cells_of(measure_block)
    spec = cell.estimator
    assert (spec.label, spec.name, spec.options) == ("score_function:baseline=ema", "score_function",
                                                     {"baseline": "ema"})
    assert spec.estimator is measure_block.specs[spec.label].estimator and cell.driver is None
    assert cell.points == (GridPoint({"k": 1.0}, {}), GridPoint({"k": 2.0}, {})) and cell.static == {"cost": "cos"}
    trace_cell, = cells_of(trace_block)
    assert trace_cell.driver.label == "disarm" and trace_block.trace_table.steps == 4
    assert trace_block.trace_table.every == 100 and [s.label for s in trace_block.measured] == ["score_function"]
    assert trace_cell.label == "t · trace driven by disarm · seed 0"


def test_the_command_line_executor_goes_over_the_configs_table():
    from varbench.executors import ExecutorChoice
    from varbench.suite import executor_of

    table = {"executor": {"kind": "dask", "workers": 3}}
    assert executor_of({}, None) == ExecutorChoice("local")
    assert executor_of(table, None, ["m"]) == ExecutorChoice("dask", 3, None, ("m",))
    assert executor_of(table, ExecutorChoice("local")) == ExecutorChoice("local")
    assert executor_of(table, ExecutorChoice("dask")) == ExecutorChoice("dask", 3)  # the table's size
    assert executor_of(table, ExecutorChoice("dask", 2)) == ExecutorChoice("dask", 2)
    with pytest.raises(VarbenchError, match="unknown key 'nodes'; valid keys: kind, workers, scheduler"):
        executor_of({"executor": {"nodes": 2}}, ExecutorChoice("local"))


def test_suite_writes_a_tidy_store_and_a_report(small_config, tmp_path):
    out = tmp_path / "store"
    lines = []
    manifest = run_suite(small_config, out, progress=lines.append)
    assert manifest.cells_done == manifest.cells_total == 8 + 1
    assert manifest.compile_counts["tiny"] >= 1 and manifest.finished
    assert manifest.environment["jax_version"] and manifest.config_hash
    assert store.read_manifest(out) == json.loads(json.dumps(manifest.to_json(), default=str))
    frame = store.load(out)
    # one row per problem x estimator x options x params point x parameter coordinate x seed
    tiny = frame[frame.block == "tiny"]
    assert len(tiny) == 2 * 2 * 2 * 6 * 2
    assert {"grid_k", "grid_cost", "grid_mean", "seed", "variance_lo", "bias_z", "estimator_name"} <= set(frame)
    assert (out / "report" / "report.html").exists() and (out / "report" / "report.md").exists()
    html = (out / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "Work-normalized variance" in html
    assert "tiny.png" in (out / "report" / "report.md").read_text()


def test_rerun_skips_finished_cells_and_config_changes_are_refused(small_config, tmp_path):
    out = tmp_path / "store"
    run_suite(small_config, out, progress=lambda line: None, report=False)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    lines = []
    run_suite(small_config, out, progress=lines.append, report=False)
    assert "9 already finished" in lines[0] and "0 to run" in lines[0]
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    with pytest.raises(VarbenchError, match="different config"):
        run_suite(small_config, out, quick=True, progress=lambda line: None, report=False)
    run_suite(small_config, out, quick=True, resume=False, progress=lambda line: None, report=False)
    assert store.read_manifest(out)["quick"] is True


def test_killed_suite_resumes_without_recomputing_finished_cells(small_config, tmp_path):
    out = tmp_path / "store"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "varbench", "suite", "--config", str(small_config), "--out",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(store.finished_cells(out)) < 2:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = store.finished_cells(out)
    assert 2 <= len(finished) < 9, "the suite should have been killed midway"
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    # Whatever was finished reads back (no torn files under final names).
    assert len(store.load(out)) > 0
    lines = []
    manifest = run_suite(small_config, out, progress=lines.append, report=False)
    assert "took over the lock" in lines[0] and str(proc.pid) in lines[0]  # the killed run's lock is stale
    assert f"{len(finished)} already finished" in lines[1]
    assert manifest.cells_done == 9 and [r.status for r in manifest.runs] == [RunStatus.INTERRUPTED, RunStatus.FINISHED]
    for name, stamp in stamps.items():
        assert (out / "cells" / name).stat().st_mtime_ns == stamp  # not recomputed


def test_sigterm_releases_the_lock_and_records_the_run_as_interrupted(tmp_path):
    """A batch system ending the job (SIGTERM) interrupts the suite like Ctrl-C: the lock is released, the run is
    recorded as interrupted, what was finished is kept."""
    from varbench.reports import store_lock

    gate = tmp_path / "gate"  # the gated cell waits for this file: the suite is stopped at a known point
    config = tmp_path / "gated.toml"
    config.write_text(SMALL.split("[[block]]")[0] + "[[block]]" + SMALL.split("[[block]]")[2] + textwrap.dedent(f"""
        [[block]]
        name = "held"
        problem = "gaussian:dim=1"
        estimators = ["gated:file={gate}"]
        num_samples = 500
    """))
    out = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "varbench", "suite", "--config", str(config), "--out", str(out),
                             "--plugin", "tests.plugins.gate"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 120
        while len(store.finished_cells(out)) < 1 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert store_lock.read_lock(out)["pid"] == proc.pid
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        gate.touch()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "varbench: interrupted" in err
    assert store_lock.read_lock(out) is None
    manifest = store.read_manifest(out)
    assert manifest["runs"][-1]["status"] == "interrupted" and manifest["runs"][-1]["cells_finished"] == 1
    assert store.finished_cells(out) and store.verify(out).ok


def test_results_and_report_commands(small_config, tmp_path, capsys):
    from varbench.cli import main
    out = tmp_path / "store"
    run_suite(small_config, out, progress=lambda line: None, report=False)
    assert main(["results", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tiny" in text and "pathwise" in text and "median_total_variance" in text and "bias_detected" in text
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.html").exists()
    assert main(["results", str(tmp_path / "nothing")]) == 2
    assert "not a varbench result store" in capsys.readouterr().err
    assert main(["suite", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_failed_cells_are_failures_not_inapplicable_and_a_resume_does_not_retry_them(tmp_path, monkeypatch):
    """An exact-mode cell whose quadrature does not converge is listed as failed (with its reason), never as "not
    applicable"; resuming keeps that failure rather than recomputing it on every resume, except out-of-memory."""
    import varbench.suite._cell as cell_module
    from varbench.core.errors import OutOfMemoryError, QuadratureNotConvergedError
    from varbench.reports.manifest import Failure, FailureKind

    path = tmp_path / "exact.toml"
    path.write_text(SMALL.split("[[block]]")[0] + "[[block]]" + SMALL.split("[[block]]")[2])
    real = cell_module.run_cell

    def not_converging(cell):
        raise QuadratureNotConvergedError("method=exact: quadrature did not converge (relative change 2e-05)")

    monkeypatch.setattr(cell_module, "run_cell", not_converging)
    manifest = run_suite(path, tmp_path / "s", progress=lambda line: None, report=False)
    (label, failure), = manifest.cells_failed.items()
    assert "tiny_exact" in label and "did not converge" in failure.reason and not manifest.cells_skipped
    assert failure.kind is FailureKind.MEASUREMENT
    assert store.read_manifest(tmp_path / "s")["cells_failed"][label] == failure.reason  # no prefix in the file
    monkeypatch.setattr(cell_module, "run_cell", real)
    lines = []
    manifest = run_suite(path, tmp_path / "s", progress=lines.append, report=False)
    assert "1 failed before and not retried" in lines[0] and "0 to run" in lines[0]
    assert label in manifest.cells_failed and manifest.cells_done == 0
    # running out of memory depends on what else ran: retried
    raw = store.read_manifest(tmp_path / "s")
    raw["cells_failed"] = {label: Failure(FailureKind.OUT_OF_MEMORY, str(OutOfMemoryError("chunk too large"))).text()}
    assert raw["cells_failed"][label].startswith("out of memory: ")  # the manifest's layout
    store.write_manifest(tmp_path / "s", raw)
    manifest = run_suite(path, tmp_path / "s", progress=lines.append, report=False)
    assert not manifest.cells_failed and manifest.cells_done == 1


def test_progress_lines_carry_an_eta():
    from varbench.suite._progress import eta
    assert eta(0, 10, 5.0) == "?"
    assert eta(2, 10, 10.0) == "0m40s" and eta(1, 100, 3600.0) == "99h00m"

"""The suite on Dask (varbench.executors): the same results as in-process, a worker killed mid-cell, a client killed
mid-run, two writers on one store, a truncated cell file; and the executor's one-line errors.

One LocalCluster of 2 worker processes serves the whole module (runs connect to it with ``scheduler=``); its
workers keep compiled kernels between tests, and configs are tiny (a few ``gaussian`` cells of 2000 estimates).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pytest
from varbench.reports import schema, store, store_lock

from varbench.core.errors import VarbenchError
from varbench.executors import ExecutorChoice
from varbench.reports.manifest import RunStatus
from varbench.suite import run_suite

distributed = pytest.importorskip("distributed")

CONFIG = textwrap.dedent("""
    [[block]]
    name = "tiny"
    problem = "gaussian:dim=1,cost=square"
    estimators = ["pathwise", "score_function"]
    num_samples = 2000
    seeds = [0, 1, 2]
    grid = { k = [0.5, 1.0], mean = [0.0, 1.0] }

    [[block]]
    name = "tiny_exact"
    problem = "gaussian:cost=cos"
    estimators = ["pathwise"]
    method = "exact"
    grid = { k = [1.0, 2.0] }
""")
CELLS = 2 * 3 + 1
KEY = ["cell", "point", "param", "coordinate"]
QUIET = dict(progress=lambda line: None, report=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a LocalCluster of 2 workers that varbench starts, from a client whose import path has a
    folder holding another ``varbench`` first (as the working directory is under ``python -m`` or in a notebook
    run from the folder that holds a clone): its workers must import the client's varbench all the same."""
    shadow = tmp_path_factory.mktemp("holds_a_clone")
    (shadow / "varbench").mkdir()
    (shadow / "varbench" / "__init__.py").write_text("raise ImportError('a worker imported another varbench')\n")
    sys.path.insert(0, str(shadow))  # only while the workers start: they copy the client's import path
    try:
        local = ExecutorChoice.checked("dask", workers=2).start()
    finally:
        sys.path.remove(str(shadow))
    try:  # checked here, with a function that needs nothing of varbench: a task of varbench's would hang the worker
        assert set(_varbench_of_workers(local.client).values()) == {_varbench_file()}
    except BaseException:
        local.close()
        raise
    yield local.scheduler
    local.close()


def _varbench_file() -> str:
    import varbench
    return varbench.__file__


def _varbench_of_workers(client) -> dict[str, str]:
    """Where each worker imports varbench from (``eval`` is a builtin: the worker imports nothing to run it)."""
    return client.run(eval, "__import__('varbench').__file__")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def local_store(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "store"
    run_suite(config, out, **QUIET)
    return out


def _same_measurements(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every field except timing and provenance is equal, row for row."""
    assert len(a) == len(b) and set(a.columns) == set(b.columns)
    columns = schema.measured_columns(a)
    a = a.sort_values(KEY).reset_index(drop=True)[columns]
    b = b.sort_values(KEY).reset_index(drop=True)[columns]
    pd.testing.assert_frame_equal(a, b)


def test_dask_gives_the_results_of_the_local_executor(config, local_store, cluster, tmp_path):
    manifest = run_suite(config, tmp_path / "dask", executor=ExecutorChoice.checked(scheduler=cluster), **QUIET)
    assert manifest.cells_done == CELLS and not manifest.cells_failed
    run, = manifest.runs
    assert run.executor["kind"] == "dask" and run.executor["workers"] == 2 and run.status is RunStatus.FINISHED
    frame, local = store.load(tmp_path / "dask"), store.load(local_store)
    _same_measurements(frame, local)
    # every row says where it was computed: the workers' pids, not ours
    assert set(frame["prov_executor"]) == {"dask"} and set(local["prov_executor"]) == {"local"}
    assert os.getpid() not in set(frame["prov_pid"]) and frame["prov_worker"].str.startswith("tcp://").all()
    assert frame["prov_git_commit"].notna().all() or frame["prov_git_commit"].isna().all()
    assert {"prov_jax_version", "prov_backend", "prov_devices", "prov_started", "prov_finished", "prov_host"} <= \
        set(frame.columns)
    assert store.verify(tmp_path / "dask").ok


def test_a_cell_whose_plugin_raises_fails_alone_on_dask_as_in_process(cluster, tmp_path, capfd):
    """The cell is a failed cell with one line naming the exception (tests/varbench/test_broken_plugins.py holds the
    same in process); the other cells finish, and no worker prints a traceback."""
    path = tmp_path / "broken.toml"
    tiny = "[[block]]" + CONFIG.split("[[block]]")[1]  # the kernels of its good cells are the workers' already
    path.write_text(tiny.replace('["pathwise", "score_function"]', '["pathwise", "broken_raise", "score_function"]')
                    .replace("seeds = [0, 1, 2]", "seeds = [0]"))
    manifest = run_suite(path, tmp_path / "dask", executor=ExecutorChoice.checked(scheduler=cluster),
                         plugins=["tests.plugins.broken"], **QUIET)
    assert manifest.cells_done == 2 and manifest.cells_total == 3
    assert store.read_manifest(tmp_path / "dask")["cells_failed"] == {
        "tiny · broken_raise · seed 0": "code error: estimator 'broken_raise' raised ValueError while traced: boom"}
    assert "Traceback" not in capfd.readouterr().err


def test_a_worker_killed_mid_cell_loses_only_that_cell_which_is_retried(cluster, tmp_path):
    marker = tmp_path / "died"
    path = tmp_path / "die.toml"
    path.write_text(CONFIG.replace('["pathwise", "score_function"]', f'["pathwise", "die_once:marker={marker}"]')
                    .replace("seeds = [0, 1, 2]", "seeds = [0]"))
    plugins = ["tests.plugins.die_once"]
    manifest = run_suite(path, tmp_path / "dask", executor=ExecutorChoice.checked(scheduler=cluster), plugins=plugins,
                         **QUIET)
    assert marker.exists(), "a worker should have died"
    assert manifest.cells_done == manifest.cells_total == 3 and not manifest.cells_failed
    (label, workers), = manifest.run.cells_retried.items()
    assert "die_once" in label and len(workers) == 1 and manifest.cells_retried == {label: 2}
    assert store.read_manifest(tmp_path / "dask")["runs"][-1]["cells_retried"] == {label: list(workers)}
    frame = store.load(tmp_path / "dask")
    died = frame[frame["estimator_name"] == "die_once"]
    assert (died["prov_attempts"] == 2).all() and (frame[frame["estimator_name"] != "die_once"]["prov_attempts"]
                                                   == 1).all()
    # and the retried cell's numbers are those of an undisturbed run (in-process, where it never dies)
    run_suite(path, tmp_path / "local", plugins=plugins, **QUIET)
    _same_measurements(frame, store.load(tmp_path / "local"))


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_client_resumes_without_losing_or_recomputing_and_a_second_writer_is_refused(cluster, tmp_path):
    gate = tmp_path / "gate"
    config = tmp_path / "gated.toml"  # the gated cells wait for the gate: the client is killed at a known point
    config.write_text(CONFIG.replace('"score_function"', f'"gated:file={gate}"'))
    out = tmp_path / "store"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "varbench", "suite", "--config", str(config), "--out", str(out),
                             "--scheduler", cluster, "--plugin", "tests.plugins.gate"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        # the three pathwise cells finish; both workers then hold a gated cell; the rest waits on the scheduler
        _wait_for(lambda: len(store.finished_cells(out)) >= 3 or proc.poll() is not None, "three finished cells")
        # a second writer, with another config, is refused while the first runs, and writes nothing
        other = tmp_path / "other.toml"
        other.write_text(CONFIG.replace('"tiny"', '"foreign"'))
        with pytest.raises(VarbenchError, match=rf"locked by pid {proc.pid} on host .*still running"):
            run_suite(other, out, **QUIET)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        gate.touch()  # the workers finish the gated cells the dead client asked for (their results go nowhere)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    finished = store.finished_cells(out)
    assert len(finished) == 3, "the client should have been killed with the gated cells unfinished"
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    assert store_lock.read_lock(out)["pid"] == proc.pid  # left behind by the killed client
    lines = []
    manifest = run_suite(config, out, executor=ExecutorChoice.checked(scheduler=cluster),
                         plugins=["tests.plugins.gate"], progress=lines.append, report=False)
    assert any("took over the lock" in line and str(proc.pid) in line for line in lines)
    assert "3 already finished" in next(line for line in lines if line.startswith("varbench suite"))
    assert manifest.cells_done == CELLS
    assert [r.status for r in manifest.runs] == [RunStatus.INTERRUPTED, RunStatus.FINISHED]
    assert manifest.runs[1].cells_finished == CELLS - 3
    for name, stamp in stamps.items():
        assert (out / "cells" / name).stat().st_mtime_ns == stamp  # not recomputed
    assert store_lock.read_lock(out) is None and store.verify(out).ok
    assert store.finished_cells(out) == set(manifest.cells)  # nothing lost, nothing foreign


def test_a_second_writer_waits_with_wait(config, local_store, tmp_path):
    """``wait=True`` polls a live writer's lock until it is released, then resumes (here: nothing left to run)."""
    out = tmp_path / "store"
    shutil.copytree(local_store, out)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / store_lock.LOCK).write_text(json.dumps(dict(pid=sleeper.pid, host=store_lock.host_name(),
                                                           started="now", command="another suite", token="x")))
        lines, result = [], {}
        worker = threading.Thread(target=lambda: result.update(m=run_suite(config, out, wait=True, report=False,
                                                                           progress=lines.append)))
        worker.start()
        _wait_for(lambda: any("waiting for the result store" in line for line in lines), "the waiting line")
        assert worker.is_alive() and f"pid {sleeper.pid}" in lines[0]
        (out / store_lock.LOCK).unlink()  # the other writer finishes
        worker.join(timeout=120)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result["m"].cells_done == CELLS and any("0 to run" in line for line in lines)


def test_a_truncated_cell_file_is_named_left_out_then_moved_aside_and_recomputed(config, local_store, tmp_path,
                                                                                 capsys):
    from varbench.cli import main

    out = tmp_path / "store"
    shutil.copytree(local_store, out)
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet") if p != victim}
    with pytest.warns(store.StoreWarning, match=victim.name):
        frame = store.load(out)
    assert victim.stem not in set(frame["cell"]) and frame["cell"].nunique() == CELLS - 1
    # results, report and verify name it and go on with the rest
    assert main(["results", str(out)]) == 0
    captured = capsys.readouterr()
    assert "tiny" in captured.out and victim.name in captured.err and "warning" in captured.err
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert victim.name in capsys.readouterr().err and (tmp_path / "report" / "report.html").exists()
    assert main(["store", "verify", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"BAD: cell file {str(victim)!r} is not readable Parquet" in text and "FAILED" in text
    # a resume moves it aside and measures that cell (only that cell) again
    lines = []
    manifest = run_suite(config, out, progress=lines.append, report=False)
    assert any(victim.name in line and "moved aside" in line for line in lines)
    assert manifest.cells_done == CELLS and victim.exists()
    moved, = (out / "corrupt").iterdir()
    assert moved.name.startswith(victim.name) and moved.read_bytes() == data[: len(data) // 2]
    assert manifest.run.cells_finished == 1 and victim.name in manifest.run.cells_moved_aside
    assert {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet") if p != victim} == stamps
    assert main(["store", "verify", str(out)]) == 0
    assert "OK" in capsys.readouterr().out
    _same_measurements(store.load(out), store.load(local_store))


def test_a_resume_under_another_commit_keeps_the_old_cells_provenance(config, local_store, tmp_path, monkeypatch):
    import varbench.provenance as provenance

    out = tmp_path / "store"
    shutil.copytree(local_store, out)
    first = store.read_manifest(out)
    victim = sorted((out / "cells").glob("*.parquet"))[0]
    victim.unlink()
    monkeypatch.setattr(provenance, "_process", {})
    monkeypatch.setattr(provenance, "git_commit", lambda: "0123abcd" * 5)
    manifest = run_suite(config, out, **QUIET)
    assert manifest.environment == first["environment"]  # the store's first environment is kept
    assert [r.environment["git_commit"] for r in manifest.runs] == [first["environment"]["git_commit"],
                                                                  "0123abcd" * 5]
    frame = store.load(out)
    assert set(frame[frame["cell"] == victim.stem]["prov_git_commit"]) == {"0123abcd" * 5}
    old = frame[frame["cell"] != victim.stem]
    assert set(old["prov_git_commit"].astype(str)) == {str(first["environment"]["git_commit"])}
    assert set(old["prov_run"]) == {1} and set(frame[frame["cell"] == victim.stem]["prov_run"]) == {2}


def test_trace_and_check_give_the_same_results_on_dask(cluster):
    import varbench
    from varbench.executors import ExecutorChoice
    from varbench.trace import TraceSettings, trace

    # a stateful estimator: each checkpoint's measurement needs the state it had there
    kwargs = dict(estimators=["score_function", "score_function:baseline=ema"],
                  settings=TraceSettings(steps=20, every=10, num_samples=1000), seed=3)
    local = trace("bernoulli", "score_function:baseline=ema", **kwargs)
    dask = trace("bernoulli", "score_function:baseline=ema", executor=ExecutorChoice.checked(scheduler=cluster),
                 **kwargs)
    untimed = lambda records: [{k: v for k, v in r.items() if k not in schema.TIMING} for r in records]
    assert json.dumps(untimed(local), sort_keys=True) == json.dumps(untimed(dask), sort_keys=True)
    here = varbench.check("score_function", problems=["gaussian", "bernoulli"], level="quick")
    there = varbench.check("score_function", problems=["gaussian", "bernoulli"], level="quick",
                           executor=ExecutorChoice.checked(scheduler=cluster))
    assert here.rows == there.rows and len({r.problem for r in here.rows}) == 2
    timing = ("seconds_per_estimate", "work_seconds")
    assert [{k: v for k, v in e._asdict().items() if k not in timing} for e in here.variance] == \
        [{k: v for k, v in e._asdict().items() if k not in timing} for e in there.variance]


def test_executor_errors_are_one_line_and_create_nothing(config, tmp_path, monkeypatch, capsys):
    from varbench import executors
    from varbench.cli import main

    out = tmp_path / "new" / "store"
    cases = [
        (["--executor", "local", "--workers", "2"], "apply to --executor dask"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "one or the other"),
        (["--executor", "spark"], "invalid choice"),
        (["--workers", "0"], "positive integer"),
        (["--scheduler", "not an address"], "address of a Dask scheduler"),
    ]
    for extra, fragment in cases:
        assert main(["suite", "--config", str(config), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1 and "Traceback" not in err, err
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1)
    assert main(["suite", "--config", str(config), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "distributed", None)  # not installed
    assert main(["suite", "--config", str(config), "--out", str(out), "--executor", "dask"]) == 2
    assert 'pip install "varbench[dask]"' in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG + '\n[executor]\nkind = "dask"\nnodes = 3\n')
    with pytest.raises(VarbenchError, match="unknown key 'nodes'; valid keys: kind, workers, scheduler"):
        run_suite(bad, out, **QUIET)
    assert not (tmp_path / "new").exists()


def test_the_config_can_name_the_executor_and_it_is_not_part_of_the_hash(config, cluster, local_store, tmp_path):
    from varbench.suite import config_hash, load_config

    with_executor = tmp_path / "dask.toml"
    with_executor.write_text(f'executor = {{ kind = "dask", scheduler = "{cluster}" }}\n' + CONFIG)
    assert config_hash(load_config(with_executor), False) == config_hash(load_config(config), False)
    out = tmp_path / "store"
    shutil.copytree(local_store, out)
    next(iter((out / "cells").glob("*.parquet"))).unlink()
    manifest = run_suite(with_executor, out, **QUIET)  # resumes the local store, on the cluster
    assert manifest.run.executor["kind"] == "dask" and manifest.run.cells_finished == 1


def test_a_folder_named_like_the_package_on_the_import_path_is_dropped_for_workers(tmp_path, monkeypatch):
    """What a worker of a LocalCluster runs first: entries that would import another ``varbench`` go."""
    import varbench
    from varbench.executors import _drop_shadowing_entries

    origin = os.path.normcase(os.path.abspath(varbench.__file__))
    real = os.path.dirname(os.path.dirname(origin))
    portion, copy, plain = tmp_path / "holds_clone", tmp_path / "other_copy", tmp_path / "plain"
    (portion / "varbench").mkdir(parents=True)                # a clone's folder: a namespace portion
    (copy / "varbench").mkdir(parents=True)
    (copy / "varbench" / "__init__.py").write_text("")        # another copy of the package
    plain.mkdir()
    # the real package on the path: a copy before it goes, a namespace portion after it stays (it never wins)
    monkeypatch.setattr(sys, "path", [str(plain), str(copy), real, str(portion)])
    assert _drop_shadowing_entries("varbench", origin) == [str(copy)]
    assert sys.path == [str(plain), real, str(portion)]
    # found by a finder after the path (an editable install): a namespace portion anywhere would win, so it goes
    monkeypatch.setattr(sys, "path", [str(portion), str(plain)])
    assert _drop_shadowing_entries("varbench", origin) == [str(portion)]
    assert sys.path == [str(plain)]


def test_local_cluster_workers_import_the_clients_varbench_not_a_folder_on_the_path(cluster):
    """The module's cluster was started with another ``varbench`` first on the client's import path."""
    with ExecutorChoice.checked(scheduler=cluster).start() as pool:
        assert set(_varbench_of_workers(pool.client).values()) == {_varbench_file()}
        outcome, = pool.map(len, ["abc"])
    assert outcome.value == 3 and outcome.error is None

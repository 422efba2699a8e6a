"""The manifest as typed values (varbench.reports.manifest): its JSON layout, resume rules and the check's manifest."""

import json

import pytest
from varbench.reports import manifest, store
from varbench.reports.manifest import CheckManifest, Failure, FailureKind, Manifest, Run, RunStatus


def _run(**changes):
    fields = dict(started="t1", command="varbench suite", host="h", pid=7, executor={"kind": "local"},
                  environment={"git_commit": "abc"})
    return Run(**{**fields, **changes})


def test_a_failures_kind_is_the_prefix_of_its_reason_in_the_file():
    assert Failure(FailureKind.OUT_OF_MEMORY, "chunk too large").text() == "out of memory: chunk too large"
    assert Failure(FailureKind.WORKER_DIED, "3 workers died").text() == "worker died: 3 workers died"
    assert Failure(FailureKind.MEASUREMENT, "did not converge").text() == "did not converge"
    for failure in (Failure(kind, "why: because") for kind in FailureKind):
        assert Failure.parse(failure.text()) == failure
    assert Failure(FailureKind.CODE_ERROR, "ValueError: boom").text() == "code error: ValueError: boom"
    assert [k for k in FailureKind if k.retried_on_resume] == [FailureKind.OUT_OF_MEMORY, FailureKind.WORKER_DIED,
                                                               FailureKind.CODE_ERROR]


def test_a_manifest_round_trips_through_its_file(tmp_path):
    first = Manifest.begin(None, _run(), config={"block": [{"name": "b"}]}, config_hash="h1", quick=False,
                           cells={"k1": "b · one", "k2": "b · two"}, cells_done=0)
    first = first.cell_done("b", compiled=2, seconds=1.5).cell_retried("b · one", ("tcp://w1",), attempts=2)
    first = first.cell_failed("b · two", Failure(FailureKind.OUT_OF_MEMORY, "chunk")).cell_skipped("b · x", "no")
    manifest.write(tmp_path, first.completed("t2", cells_done=1))
    raw = store.read_manifest(tmp_path)
    assert list(raw) == ["config", "config_hash", "quick", "started", "resumed", "finished", "environment", "runs",
                         "cells", "cells_total", "cells_done", "cells_skipped", "cells_failed", "cells_retried",
                         "compile_counts", "seconds"]
    assert list(raw["runs"][0]) == ["run", "started", "finished", "status", "command", "host", "pid", "executor",
                                    "environment", "cells_finished", "cells_retried", "cells_moved_aside",
                                    "took_over_lock"]
    assert raw["runs"][0]["status"] == "finished" and raw["runs"][0]["cells_retried"] == {"b · one": ["tcp://w1"]}
    assert raw["cells_failed"] == {"b · two": "out of memory: chunk"} and raw["cells_retried"] == {"b · one": 2}
    assert raw["finished"] == "t2" and raw["compile_counts"] == {"b": 2} and raw["seconds"] == {"b": 1.5}
    assert manifest.read(tmp_path) == first.completed("t2", cells_done=1)
    assert manifest.read(tmp_path / "none") is None


def test_a_resumed_run_keeps_the_history_and_only_the_failures_that_would_fail_again():
    before = Manifest.begin(None, _run(), config={}, config_hash="h", quick=True, cells={"k": "c"}, cells_done=0)
    before = before.cell_done("b", 1, 2.0).cell_failed("same", Failure(FailureKind.MEASUREMENT, "nan"))
    before = before.cell_failed("oom", Failure(FailureKind.OUT_OF_MEMORY, "chunk"))  # killed: still running
    after = Manifest.begin(before, _run(started="t3", environment={"git_commit": "def"}), config={},
                           config_hash="h", quick=True, cells={"k": "c"}, cells_done=1)
    assert [(r.number, r.status) for r in after.runs] == [(1, RunStatus.INTERRUPTED), (2, RunStatus.RUNNING)]
    assert after.started == "t1" and after.resumed == ("t3",) and after.environment == {"git_commit": "abc"}
    assert list(after.cells_failed) == ["same"] and after.compile_counts == {"b": 1} and after.seconds == {"b": 2.0}
    assert after.cells_done == 1 and after.run.cells_finished == 0
    interrupted = after.interrupted("t4")
    assert interrupted.run.status is RunStatus.INTERRUPTED and interrupted.run.finished == "t4"
    assert interrupted.finished is None


def test_an_older_or_foreign_manifest_reads_with_defaults(tmp_path):
    (tmp_path / manifest.MANIFEST).write_text(json.dumps({"config_hash": "x", "runs": [{"run": 1, "status": "odd"}],
                                                          "cells_failed": {"c": "worker died: gone"}}))
    read = manifest.read(tmp_path)
    assert read.config_hash == "x" and read.cells == {} and read.runs[0].status is RunStatus.INTERRUPTED
    assert read.cells_failed == {"c": Failure(FailureKind.WORKER_DIED, "gone")}
    (tmp_path / manifest.MANIFEST).write_text("[1, 2]")
    with pytest.raises(store.StoreError, match="not a varbench manifest"):
        manifest.read(tmp_path)


def test_the_check_battery_writes_its_manifest_through_the_same_module(tmp_path):
    check = CheckManifest(config={"block": [{"name": "check_00_gaussian"}]}, config_hash="c", check={"ok": True},
                          environment={"backend": "cpu"})
    manifest.write(tmp_path, check)
    raw = store.check_store(tmp_path, need_blocks=True)
    assert raw == {"kind": "check", "config": {"block": [{"name": "check_00_gaussian"}]}, "config_hash": "c",
                   "check": {"ok": True}, "environment": {"backend": "cpu"}}
    assert store.own_cells(raw) is None  # a check store lists no cells: every cell file is its own

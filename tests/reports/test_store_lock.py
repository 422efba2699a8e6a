"""The result store's lock (varbench.reports.store_lock): one writer, stale locks of dead processes taken over,
other hosts' locks refused with a hint, ``wait`` polling until the holder is gone, nothing left by a refusal."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from varbench.reports import store_lock
from varbench.reports.store_lock import (
    LOCK,
    StaleLockWarning,
    StoreLock,
    StoreLockedError,
)


def _holder(**fields):
    return json.dumps(dict(dict(pid=1, host=store_lock.host_name(), started="2025-01-01T00:00:00+00:00",
                                command="varbench suite --out x", token="t"), **fields))


@pytest.fixture
def live_pid():
    """The pid of a process that runs for the whole test (another writer, as far as the lock can tell)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: no process has this pid (until the system reuses it)
    return proc.pid


def test_the_lock_holds_its_owner_and_is_released(tmp_path):
    with StoreLock(tmp_path, command="varbench suite") as lock:
        holder = store_lock.read_lock(tmp_path)
        assert holder["pid"] > 0 and holder["host"] == store_lock.host_name() and holder["command"] == "varbench suite"
        assert holder["token"] == lock.token
        with pytest.raises(StoreLockedError, match=rf"locked by pid {holder['pid']} on host .*still running"):
            StoreLock(tmp_path).acquire()  # a second writer, even in the same process
    assert store_lock.read_lock(tmp_path) is None and list(tmp_path.iterdir()) == []


def test_a_live_writer_on_this_host_is_refused_by_name(tmp_path, live_pid):
    (tmp_path / LOCK).write_text(_holder(pid=live_pid))
    stamp = tmp_path.stat().st_mtime_ns
    with pytest.raises(StoreLockedError, match=f"pid {live_pid}"):
        StoreLock(tmp_path).check()
    with pytest.raises(StoreLockedError) as info:
        StoreLock(tmp_path).acquire()
    assert tmp_path.stat().st_mtime_ns == stamp  # a refusal writes nothing, not even a temporary file
    message = str(info.value)
    assert f"pid {live_pid} on host {store_lock.host_name()}" in message and "varbench suite --out x" in message
    assert "--wait" in message and "\n" not in message
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == live_pid  # untouched


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, dead_pid):
    (tmp_path / LOCK).write_text(_holder(pid=dead_pid))
    with pytest.warns(StaleLockWarning, match=rf"pid {dead_pid} .*no longer exists"):
        lock = StoreLock(tmp_path).acquire()
    assert lock.took_over["pid"] == dead_pid and store_lock.read_lock(tmp_path)["token"] == lock.token
    lock.release()
    assert not (tmp_path / LOCK).exists()


def test_another_hosts_lock_is_refused_with_a_hint(tmp_path):
    (tmp_path / LOCK).write_text(_holder(pid=4242, host="node-17"))
    with pytest.raises(StoreLockedError, match=r"pid 4242 on host node-17 .*another host; if that host is known to "
                                               r"be down, delete .*\.lock"):
        StoreLock(tmp_path).acquire()


def test_an_unreadable_lock_is_refused_not_taken(tmp_path):
    (tmp_path / LOCK).write_text("{not json")
    with pytest.raises(StoreLockedError, match="unknown writer .* if no varbench process writes there, delete"):
        StoreLock(tmp_path).acquire()


def test_wait_polls_until_the_holder_releases(tmp_path, live_pid):
    (tmp_path / LOCK).write_text(_holder(pid=live_pid))
    said, got = [], threading.Event()
    waiter = StoreLock(tmp_path, wait=True, on_wait=said.append, poll=0.01)
    thread = threading.Thread(target=lambda: (waiter.acquire(), got.set()))
    thread.start()
    deadline = time.monotonic() + 30
    while not said and time.monotonic() < deadline:
        time.sleep(0.01)
    assert said and f"pid {live_pid}" in said[0] and not got.is_set()
    (tmp_path / LOCK).unlink()  # the holder finishes
    thread.join(timeout=30)
    assert got.is_set() and store_lock.read_lock(tmp_path)["token"] == waiter.token
    waiter.release()
    with pytest.raises(StoreLockedError):  # and a timeout gives up
        (tmp_path / LOCK).write_text(_holder(pid=live_pid))
        StoreLock(tmp_path, wait=True, timeout=0.05, poll=0.01).acquire()


def test_a_refused_lock_creates_nothing_and_a_release_never_removes_another_writers_lock(tmp_path, live_pid):
    target = tmp_path / "a" / "b" / "store"
    lock = StoreLock(target).acquire()
    lock.release()
    assert not (tmp_path / "a").exists()  # the folders it created, empty again, are gone
    (tmp_path / LOCK).write_text(_holder(pid=live_pid))
    mine = StoreLock(tmp_path)
    mine.held = True  # as if ours had been replaced by another writer's meanwhile
    mine.release()
    assert json.loads((tmp_path / LOCK).read_text())["pid"] == live_pid


def test_only_one_of_many_concurrent_writers_gets_the_lock(tmp_path):
    # each process says whether it got the lock, then holds it until its stdin closes (so none is stale meanwhile)
    code = ("import sys; from varbench.reports.store_lock import StoreLock, StoreLockedError\n"
            "try:\n    StoreLock(sys.argv[1]).acquire(); print('got', flush=True)\n"
            "except StoreLockedError:\n    print('refused', flush=True)\nsys.stdin.read()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        answers = sorted(p.stdout.readline().strip() for p in procs)
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=60)
    assert answers.count("got") == 1 and answers.count("refused") == 3

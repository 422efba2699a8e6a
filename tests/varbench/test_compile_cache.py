"""The persistent compilation cache: where it is, how to move or disable it, and that a new process reuses it."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from varbench.cli import main
from varbench.engine import compile_cache, settings


@pytest.fixture
def restore_cache():
    before = settings.current()
    yield
    settings.configure(**dataclasses.asdict(before))  # back to this process's settings


def _info(capsys, *argv):
    assert main([*argv, "info", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cache_dir_flag_environment_and_off(tmp_path, capsys, monkeypatch, restore_cache):
    facts = _info(capsys, "--cache-dir", str(tmp_path / "flag"))
    assert facts["compilation_cache"] == str(tmp_path / "flag") and facts["source"] == settings.GIVEN
    assert facts["enabled"] and facts["backend"] and facts["jax"]
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "env"))
    assert _info(capsys)["compilation_cache"] == str(tmp_path / "env")
    assert _info(capsys, "--cache-dir", str(tmp_path / "flag"))["source"] == settings.GIVEN  # the flag wins
    monkeypatch.setenv(settings.CACHE_ENV, "off")
    assert _info(capsys)["enabled"] is False
    settings.ensure_configured()  # what the engine does before compiling: a choice already made stands
    assert compile_cache.info()["enabled"] is False and settings.current().cache_dir is None
    monkeypatch.delenv(settings.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.default_dir() == tmp_path / "xdg" / "varbench" / "jax"


def test_a_second_process_reuses_the_compiled_kernel(tmp_path):
    # Fresh processes (the cache only matters across them): the first writes executables, the second reads them
    # back instead of compiling it again.
    cache = tmp_path / "cache"
    env = dict(os.environ, JAX_PLATFORMS="cpu", **{settings.CACHE_ENV: str(cache)})
    cmd = [sys.executable, "-m", "varbench", "run", "--problem", "gaussian:cost=square", "--estimator", "pathwise",
           "--samples", "1000", "--format", "json"]
    results, listings = [], []
    for _ in range(2):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout))
        kernels = sorted(n for n in os.listdir(cache) if n.startswith("jit_mc_kernel"))
        kept = sorted(os.listdir(cache / "kernels"))  # the lowered program, read back instead of traced
        listings.append([(n, os.stat(cache / n).st_mtime_ns) for n in kernels] +
                        [(n, os.stat(cache / "kernels" / n).st_mtime_ns) for n in kept])
    # Small helper executables near the size threshold may or may not be written, depending on how long they took
    # to compile; the kernel must be written once and then only read.
    assert len(listings[0]) == 2 and listings[1] == listings[0]
    assert results[1]["grad_mean"] == results[0]["grad_mean"]  # same seed, same executable, same answer
    info = subprocess.run([sys.executable, "-m", "varbench", "info", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=600)
    facts = json.loads(info.stdout)
    assert facts["kept_kernels"] == 1 and facts["kept_kernels_bytes"] > 0

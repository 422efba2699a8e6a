"""varbench.configure: one Settings value, from arguments, the environment or the defaults; plain data that another
process (a Dask worker) applies as it is."""

import dataclasses
from pathlib import Path

import pytest

import varbench
from varbench.core.errors import VarbenchError
from varbench.engine import compile_cache, compile_tier, settings
from varbench.engine.settings import Settings


@pytest.fixture(autouse=True)
def restore():
    before = settings.current()
    yield
    settings.configure(**dataclasses.asdict(before))


def test_arguments_environment_and_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "env"))
    monkeypatch.setenv(settings.OPTIMIZE_ENV, "full")
    monkeypatch.setenv(settings.EIGEN_ENV, "1")
    assert varbench.configure() == Settings(str(tmp_path / "env"), "full", True)
    # Each argument given wins over its variable; the others still come from the environment.
    assert varbench.configure(cache_dir=tmp_path / "arg", optimize="fast") == Settings(str(tmp_path / "arg"), "fast",
                                                                                       True)
    assert settings.current() == settings.ensure_configured() == Settings(str(tmp_path / "arg"), "fast", True)
    assert compile_cache.info()["compilation_cache"] == str(tmp_path / "arg") and compile_tier.mode() == "fast"
    for off in (None, "off", " None "):
        assert varbench.configure(cache_dir=off).cache_dir is None and not compile_cache.info()["enabled"]
    for name in (settings.CACHE_ENV, settings.OPTIMIZE_ENV, settings.EIGEN_ENV):
        monkeypatch.delenv(name)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert varbench.configure() == Settings(str(tmp_path / "xdg" / "varbench" / "jax"), "auto", False)
    assert compile_cache.info()["source"] == "per-user default"


def test_a_directory_given_to_jax_itself_is_kept(tmp_path, monkeypatch):
    import jax

    monkeypatch.delenv(settings.CACHE_ENV, raising=False)
    theirs = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "own"))
    try:
        assert varbench.configure().cache_dir == str(tmp_path / "own")
        assert compile_cache.info()["source"] == "JAX's own setting"
    finally:
        jax.config.update("jax_compilation_cache_dir", theirs)


def test_settings_travel_as_plain_data():
    sent = dataclasses.asdict(Settings("/tmp/shared-cache", "full", False))
    assert sent == {"cache_dir": "/tmp/shared-cache", "optimize": "full", "xla_multi_thread_eigen": False}
    assert varbench.configure(**sent) == Settings("/tmp/shared-cache", "full", False)
    off = dataclasses.asdict(Settings(None, "fast", False))
    assert varbench.configure(**off).cache_dir is None  # None is "off", not "not given"


def test_bad_settings_are_refused_with_one_line():
    with pytest.raises(VarbenchError, match="optimize must be one of auto, fast, full; got 'quick'"):
        Settings(None, "quick", False)
    with pytest.raises(VarbenchError, match="xla_multi_thread_eigen must be True or False; got 'yes'"):
        varbench.configure(xla_multi_thread_eigen="yes")
    with pytest.raises(VarbenchError, match="cache_dir must be a directory name or None"):
        Settings(Path("/tmp"), "auto", False)


def test_a_cache_dir_that_is_a_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    """JAX would warn on every compile and run without a cache: refused, from the argument, the environment or the
    CLI (exit 2), and nothing is created."""
    file = tmp_path / "cache.txt"
    file.write_text("not a directory")
    with pytest.raises(VarbenchError, match=r"compilation cache .*cache.txt.* \(given .*\) is an existing file"):
        varbench.configure(cache_dir=file)
    monkeypatch.setenv("VARBENCH_CACHE_DIR", str(file))
    with pytest.raises(VarbenchError, match=r"\(VARBENCH_CACHE_DIR\) is an existing file; give a directory"):
        varbench.configure()
    monkeypatch.delenv("VARBENCH_CACHE_DIR")
    from varbench.cli import main

    assert main(["--cache-dir", str(file), "run", "--problem", "gaussian", "--estimator", "pathwise"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is an existing file" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.txt"]

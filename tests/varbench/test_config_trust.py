"""What a shared suite config may make ``varbench suite`` do: connect to a Dask scheduler only with
``--allow-config-scheduler`` (or the same address given with ``--scheduler``), and run code only through the plugins
it names, whose failures (even ``sys.exit``) are one line naming the plugin, with nothing created and ``sys.path`` as
it was. No test here runs a cell: every case is refused, or resolved without starting anything."""

from __future__ import annotations

import sys
import textwrap

import pytest

from varbench.cli import build_parser, main
from varbench.cli._suite import _executor
from varbench.executors import default_workers

BLOCK = textwrap.dedent("""
    [[block]]
    name = "tiny"
    problem = "gaussian:dim=1,cost=square"
    estimators = ["pathwise"]
    num_samples = 100
""")
FAR = "tcp://127.0.0.1:9"   # nothing listens there


def _config(tmp_path, head: str) -> str:
    path = tmp_path / "shared.toml"
    path.write_text(head + "\n" + BLOCK)
    return str(path)


def _refused(capsys, argv: list[str], *fragments: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_a_scheduler_named_by_a_config_needs_the_flag_and_nothing_is_created(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    from varbench import executors

    out = tmp_path / "new" / "store"
    for head in (f'executor = {{ scheduler = "{FAR}" }}', f'executor = {{ kind = "dask", scheduler = "{FAR}" }}'):
        config = _config(tmp_path, head)
        for extra in ([], ["--executor", "dask"]):  # --executor dask alone takes the config's scheduler
            _refused(capsys, ["suite", "--config", config, "--out", str(out), *extra], "--allow-config-scheduler",
                     repr(FAR), "unpickles")
    assert not (tmp_path / "new").exists()
    # with the flag, varbench does connect (and nothing listens there)
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1)
    _refused(capsys, ["suite", "--config", config, "--out", str(out), "--allow-config-scheduler"],
             f"cannot reach the Dask scheduler at {FAR!r}")
    assert not (tmp_path / "new").exists()


def test_the_command_line_decides_over_the_configs_executor_table(tmp_path):
    pytest.importorskip("distributed")
    parse = lambda *argv: build_parser().parse_args(["suite", "--config", config, *argv])
    config = _config(tmp_path, f'executor = {{ scheduler = "{FAR}" }}')
    assert _executor(parse("--executor", "local")).kind == "local"       # the config's scheduler is not used
    assert _executor(parse("--workers", "2")) == _executor(parse("--executor", "dask", "--workers", "2"))
    assert _executor(parse("--workers", "2")).scheduler is None
    assert _executor(parse("--scheduler", "tcp://mine:8786")).scheduler == "tcp://mine:8786"
    assert _executor(parse("--scheduler", FAR)).scheduler == FAR   # the user's own choice: no flag needed
    assert _executor(parse("--allow-config-scheduler")).scheduler == FAR
    # a config asking for a local cluster gets one of a fixed size, so that the suite's own (second) reading of the
    # config cannot bring in a scheduler
    config = _config(tmp_path, 'executor = { kind = "dask" }')
    choice = _executor(parse())
    assert (choice.kind, choice.workers, choice.scheduler) == ("dask", default_workers(), None)
    config = _config(tmp_path, "")
    assert _executor(parse()).kind == "local"


@pytest.fixture
def clean_path(tmp_path, monkeypatch):
    """The working directory is ``tmp_path`` and is not on ``sys.path`` (as under the ``varbench`` script)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    return list(sys.path)


def test_a_plugin_that_exits_on_import_is_one_line_naming_it(tmp_path, capsys, clean_path):
    (tmp_path / "exits_beside.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "exits_cwd.py").write_text("import sys\nsys.exit(3)\n")
    out = tmp_path / "new" / "store"
    config = _config(tmp_path, 'plugins = ["exits_beside.py"]')  # a config's plugin: found beside the config
    _refused(capsys, ["suite", "--config", config, "--out", str(out)], "exits_beside.py", "SystemExit: 3")
    plain = _config(tmp_path, "")
    _refused(capsys, ["suite", "--config", plain, "--out", str(out), "--plugin", "exits_cwd"],  # from the cwd
             "plugin 'exits_cwd' failed to import: SystemExit: 3")
    assert sys.path == clean_path and not (tmp_path / "new").exists()
    assert "exits_beside" not in sys.modules and "exits_cwd" not in sys.modules


def test_a_plugin_named_by_a_config_does_not_leave_the_working_directory_on_sys_path(tmp_path, capsys, clean_path):
    import importlib.util

    (tmp_path / "cwd_registers.py").write_text("VALUE = 1\n")
    (tmp_path / "cwd_bystander.py").write_text("VALUE = 2\n")
    config = tmp_path / "configs"
    config.mkdir()
    (config / "shared.toml").write_text('plugins = ["cwd_registers"]\n' + BLOCK.replace('"pathwise"', '"nonesuch"'))
    # the plugin is imported from the working directory; the config is then refused for its own mistake (so that
    # no cell runs), and afterwards no other file there can be imported in place of a module
    _refused(capsys, ["suite", "--config", str(config / "shared.toml"), "--out", str(tmp_path / "s")],
             "unknown estimator 'nonesuch'")
    assert sys.modules.pop("cwd_registers").VALUE == 1
    assert sys.path == clean_path and importlib.util.find_spec("cwd_bystander") is None

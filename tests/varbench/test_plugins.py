"""The plugin contract: a user's estimator, written against varbench's public names only, runs through every entry
point exactly like a built-in one, and broken plugins are one-line errors naming the plugin."""

from __future__ import annotations

import importlib.metadata
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import varbench
from varbench import catalog
from varbench.cli import main
from varbench.core.errors import VarbenchError

PLUGIN = "tests.plugins.my_score"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_load_plugin_registers_and_measures_like_a_builtin():
    varbench.load_plugin(PLUGIN)
    assert catalog.ESTIMATORS["my_score"].__module__ == PLUGIN
    assert catalog.origin(catalog.ESTIMATORS["my_score"]) == PLUGIN
    mine = varbench.measure("gaussian:cost=square,k=0", "my_score", method="exact")
    builtin = varbench.measure("gaussian:cost=square,k=0", "score_function", method="exact")
    for name in mine.variance:  # the same estimator, so exact mode agrees to rounding
        np.testing.assert_allclose(mine.grad_mean[name], builtin.grad_mean[name], rtol=1e-12)
        np.testing.assert_allclose(mine.variance[name], builtin.variance[name], rtol=1e-12)
    assert mine.estimator == "my_score" and mine.evaluations_per_estimate == 1


@pytest.mark.parametrize("command", [
    ["run", "--problem", "gaussian:cost=square,k=0", "--estimator", "my_score", "--method", "exact",
     "--format", "json"],
    ["run", "--problem", "bernoulli", "--estimator", "my_score", "--samples", "2000", "--format", "json"],
    ["trace", "--problem", "bernoulli", "--estimator", "my_score", "--steps", "2", "--every", "1",
     "--samples", "1000", "--format", "json"],
])
def test_cli_plugin_option(capsys, command):
    code, out, err = _run(capsys, *command, "--plugin", PLUGIN)
    assert code == 0, err
    first = json.loads(out.splitlines()[0])
    assert "my_score" in (first.get("estimator"), first.get("driver"))


def test_list_shows_where_each_estimator_comes_from(capsys):
    code, out, _ = _run(capsys, "list", "--format", "json", "--plugin", PLUGIN)
    data = json.loads(out)
    assert code == 0 and data["estimators"]["my_score"]["origin"] == PLUGIN
    assert data["estimators"]["pathwise"]["origin"] == "built in"
    assert data["problems"]["gaussian"]["origin"] == "built in"


def test_list_table_has_a_from_column(capsys):
    code, out, _ = _run(capsys, "list", "--plugin", PLUGIN)
    rows = {cells[0]: cells for cells in ([c.strip() for c in re.split("[│┃]", line)[1:-1]]
                                          for line in out.splitlines()) if len(cells) == 3 and cells[0]}
    assert code == 0 and rows["name"][1] == "from"
    assert rows["my_score"][1] == f"plugin {PLUGIN}" and "plain score function" in rows["my_score"][2]
    assert rows["pathwise"][1] == rows["gaussian"][1] == "built in"


def test_readme_plugin_example_is_the_test_plugin():
    """tests/plugins/my_score.py is the README's example: the same estimate, with the direct term ∇θ f."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    body = (Path(__file__).parents[1] / "plugins" / "my_score.py").read_text(encoding="utf-8")
    example = readme.split("class MyScore(varbench.Estimator):\n", 1)[1].split("\n\n", 1)[0]
    estimate = example.split("def estimate_from_noise(self, problem, params, state, noise):\n", 1)[1]
    assert "+ problem.cost(p, x))(params)" in estimate
    assert all(line.strip() in body for line in estimate.splitlines() + example.splitlines()[:2])


def test_plugin_example_is_unbiased_where_the_cost_depends_on_the_params():
    # sbn's cost depends on the decoder params: without the direct term the example was biased there
    varbench.load_plugin(PLUGIN)
    spec = "sbn:latent=2,data_subset=1,batch_size=1"
    mine = varbench.measure(spec, "my_score", method="exact")
    for name, exact in mine.grad_exact.items():
        np.testing.assert_allclose(mine.grad_mean[name], exact, rtol=1e-9, atol=1e-12)


def test_suite_config_names_its_plugins(tmp_path, capsys):
    config = tmp_path / "plugin.toml"
    config.write_text(textwrap.dedent(f"""
        plugins = ["{PLUGIN}"]
        [[block]]
        name = "mine"
        problem = "gaussian:cost=square,k=0"
        estimators = ["my_score", "score_function"]
        method = "exact"
        """))
    code, out, err = _run(capsys, "suite", "--config", str(config), "--out", str(tmp_path / "store"))
    assert code == 0, err
    from varbench import reports
    frame = reports.load(tmp_path / "store")
    assert set(frame["estimator_name"]) == {"my_score", "score_function"}


FILE_PLUGIN = textwrap.dedent("""
    import jax
    import varbench

    @varbench.register_estimator
    @varbench.pytree_dataclass
    class FilePathwise(varbench.Estimator):
        name = "{name}"

        def evaluations_per_estimate(self, problem):
            return 1

        def noise(self, problem, params):
            return problem.latent_noise(params)

        def estimate_from_noise(self, problem, params, state, noise):
            return jax.grad(lambda p: problem.cost(p, problem.latent(p, noise)))(params)
    """)


def test_a_plugin_file_path_works_like_a_module_name(tmp_path, capsys, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "file_plugin_a.py").write_text(FILE_PLUGIN.format(name="file_pathwise_a"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, out, err = _run(capsys, "run", "--plugin", "../file_plugin_a.py", "--problem", "gaussian", "--estimator",
                          "file_pathwise_a", "--method", "exact", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["variance"]["mean"] == pytest.approx([4.0], rel=1e-12)  # as the built-in pathwise
    code, _, err = _run(capsys, "run", "--plugin", "../no_such_plugin.py", "--problem", "gaussian", "--estimator",
                        "pathwise")
    assert code == 2 and "no file" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("named, module", [("file_plugin_b", "file_plugin_b"), ("file_plugin_c.py", "file_plugin_c")])
def test_a_config_finds_its_plugins_beside_it_from_any_folder(named, module, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / f"{module}.py").write_text(FILE_PLUGIN.format(name=f"pathwise_from_{module}"))
    (folder / "mine.toml").write_text(textwrap.dedent(f"""
        plugins = ["{named}"]
        [[block]]
        name = "mine"
        problem = "gaussian:cost=square,k=0"
        estimators = ["pathwise_from_{module}"]
        method = "exact"
        """))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = _run(capsys, "suite", "--config", "../configs/mine.toml", "--out", "store")
    assert code == 0, err


def test_entry_point_plugins_are_loaded(monkeypatch):
    entry = importlib.metadata.EntryPoint(name="mine", value=PLUGIN, group=catalog.ENTRY_POINT_GROUP)
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [entry] if kw.get("group") == catalog.ENTRY_POINT_GROUP else real(**kw))
    monkeypatch.setattr(catalog, "_loaded", False)
    catalog.load_builtins()
    assert "my_score" in catalog.estimator_names()


@pytest.mark.parametrize("module, message", [
    ("tests.plugins.broken_import", r"plugin 'tests.plugins.broken_import' failed to import: RuntimeError: this "
                                    r"plugin is broken on purpose"),
    ("tests.plugins.no_such_module", r"plugin 'tests.plugins.no_such_module' could not be imported: no module named"),
    ("tests.plugins.name_clash", r"plugin 'tests.plugins.name_clash': estimator name 'pathwise' .* is already "
                                 r"registered by varbench.estimators.pathwise.Pathwise"),
    ("tests.plugins.incomplete", r"plugin 'tests.plugins.incomplete': estimator class "
                                 r"tests.plugins.incomplete.Incomplete does not implement estimate_from_noise\(\)"),
])
def test_broken_plugins_are_one_line_errors(module, message, capsys):
    with pytest.raises(VarbenchError, match=message) as info:
        varbench.load_plugin(module)
    assert "\n" not in str(info.value)
    code, _, err = _run(capsys, "list", "--plugin", module)
    assert code == 2 and err.count("\n") == 1 and module in err


def test_registration_rules():
    with pytest.raises(VarbenchError, match="must be decorated with @varbench.pytree_dataclass"):
        @varbench.register_estimator
        class NotADataclass(varbench.Estimator):
            name = "not_a_dataclass"
    with pytest.raises(VarbenchError, match="needs its own class attribute name"):
        @varbench.register_problem
        @varbench.pytree_dataclass
        class Nameless(varbench.problems.Gaussian):
            pass
    with pytest.raises(VarbenchError, match="takes a subclass of varbench.Estimator"):
        varbench.register_estimator(int)


def test_a_plugin_found_in_the_working_directory_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    """The working directory is searched for the plugin only while it is imported: afterwards, a file there is
    never imported in place of another module; a plugin that calls sys.exit on import is one line, not an exit."""
    import sys

    (tmp_path / "cwd_plugin_ok.py").write_text("VALUE = 1\n")
    (tmp_path / "cwd_plugin_exits.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    assert varbench.load_plugin("cwd_plugin_ok").VALUE == 1
    assert sys.path == before
    with pytest.raises(varbench.VarbenchError, match="plugin 'cwd_plugin_exits' failed to import: SystemExit: 3"):
        varbench.load_plugin("cwd_plugin_exits")
    assert sys.path == before
    sys.modules.pop("cwd_plugin_ok", None)

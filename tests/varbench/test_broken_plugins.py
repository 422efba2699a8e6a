"""A broken plugin estimator (an estimate of the wrong shape or a complex dtype, a string evaluation count, code
that raises while traced) is one line naming it in ``run`` (exit 1), a failed row in ``check``, and in a suite a
failed cell (the other cells finish, exit 1) that a resume measures again (on Dask too: test_executors.py)."""

from __future__ import annotations

import json
import textwrap

import pytest

import varbench
from varbench.cli import main
from varbench.core.errors import EstimatorContractError, EstimatorRaisedError
from varbench.reports import store
from varbench.suite import run_suite

PLUGIN = "tests.plugins.broken"

#: Each broken estimator and the one line that names its defect.
BROKEN = {
    "broken_shape": "estimator 'broken_shape' returned a gradient of shape (3,) for param 'mean' of shape (1,)",
    "broken_count": "evaluations_per_estimate of estimator 'broken_count' must return a positive int, got 'two'",
    "broken_raise": "estimator 'broken_raise' raised ValueError while traced: boom",
    "broken_divide": "estimator 'broken_divide' raised ZeroDivisionError while traced: division by zero",
    "broken_complex": "estimator 'broken_complex' returned a gradient of dtype complex64 for param 'mean'; an "
                      "estimate must be real floating point, like the params (float32)",
}


def _suite_config(folder, middle: str) -> str:
    path = folder / f"{middle.split(':')[0]}.toml"
    path.write_text(textwrap.dedent(f"""
        plugins = ["{PLUGIN}"]

        [[block]]
        name = "tiny"
        problem = "gaussian"
        estimators = ["pathwise", "{middle}", "score_function"]
        num_samples = 64
    """))
    return str(path)


@pytest.fixture(autouse=True)
def _no_report(monkeypatch):
    """The suite's HTML report is not what these tests look at (and costs seconds)."""
    monkeypatch.setattr("varbench.reports.page.write_report", lambda out, **options: None)


@pytest.mark.parametrize("name", BROKEN)
@pytest.mark.parametrize("method", ["mc", "exact"])
def test_run_names_the_estimator_and_its_defect_in_one_line_and_exits_1(capsys, name, method):
    code = main(["run", "--plugin", PLUGIN, "--problem", "gaussian", "--estimator", name, "--method", method,
                 "--num-samples", "64"])
    out, err = capsys.readouterr()
    hint = " (set VARBENCH_DEBUG=1 for its traceback)" if "raised" in BROKEN[name] else ""
    assert (code, out, err) == (1, "", f"varbench: error: {BROKEN[name]}{hint}\n")


def test_the_python_api_raises_the_contract_errors():
    varbench.load_plugin(PLUGIN)
    with pytest.raises(EstimatorRaisedError, match="raised ValueError while traced: boom") as raised:
        varbench.measure("gaussian", "broken_raise", num_samples=64)
    assert isinstance(raised.value.__cause__, ValueError)  # the user's exception stays reachable for debugging
    with pytest.raises(EstimatorContractError, match="dtype complex64"):
        varbench.measure_batch(["gaussian:k=1", "gaussian:k=2"], "broken_complex", params=[None, None],
                               num_samples=64)


@pytest.mark.parametrize("name", BROKEN)
def test_check_fails_the_estimator_with_the_reason(capsys, name):
    code = main(["check", name, "--plugin", PLUGIN, "--problems", "gaussian", "--level", "quick", "--format",
                 "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["passed"]
    (row,) = report["rows"]  # nothing else runs on an estimator that breaks the contract
    assert (row["check"], row["status"], row["detail"]) == ("runs: estimator contract", "fail", BROKEN[name])


def _cells_by_estimator(out):
    labels = store.read_manifest(out)["cells"]  # key -> label
    return {label.split(" · ")[1]: key for key, label in labels.items()}


@pytest.mark.parametrize("name", BROKEN)
def test_a_broken_cell_fails_alone_and_the_suite_goes_on(tmp_path, capsys, name):
    out = tmp_path / "store"
    code = main(["suite", "--config", _suite_config(tmp_path, name), "--out", str(out)])
    printed, err = capsys.readouterr()
    label = f"tiny · {name} · seed 0"
    assert code == 1 and f"2 of 3 cells finished, 0 not applicable, 1 failed ({label})" in printed
    keys = _cells_by_estimator(out)
    assert {p.stem for p in (out / store.CELLS).glob("*.parquet")} == {keys["pathwise"], keys["score_function"]}
    label = f"tiny · {name} · seed 0"
    assert store.read_manifest(out)["cells_failed"] == {label: f"code error: {BROKEN[name]}"}
    assert f"FAILED {label}: code error: {BROKEN[name]}\n" in err and "Traceback" not in err


def test_a_resume_measures_only_the_failed_cell_again_once_the_plugin_is_fixed(tmp_path, capsys):
    fixed = tmp_path / "fixed"
    config, out = _suite_config(tmp_path, f"broken_raise:fixed={fixed}"), tmp_path / "store"
    first = run_suite(config, out, report=False)
    (label,) = first.cells_failed
    assert first.cells_done == 2 and label.startswith("tiny · broken_raise")
    done = {p.name: p.stat().st_mtime_ns for p in (out / store.CELLS).glob("*.parquet")}
    fixed.write_text("")  # the author fixes the plugin
    capsys.readouterr()
    again = run_suite(config, out, report=False)
    header, *cells = capsys.readouterr().err.splitlines()
    assert "2 already finished" in header and "1 to run" in header
    assert [line.split("] ", 1)[1].split(" (")[0] for line in cells] == [f"done {label}"]
    assert again.cells_done == 3 and not again.cells_failed
    assert done == {n: (out / store.CELLS / n).stat().st_mtime_ns for n in done}  # the good cells were left alone


def test_anything_a_cell_raises_is_a_failed_cell_naming_the_exception_but_an_interrupt_stops(tmp_path, monkeypatch):
    """Not only the contract errors: any exception of user code while a cell runs (here a ZeroDivisionError after
    the estimator was traced) fails that cell alone, with the exception's type and message; an interrupt still stops
    the suite (recorded as interrupted)."""
    import varbench.suite._cell as cell_module

    real, fixed, out = cell_module.run_cell, tmp_path / "fixed", tmp_path / "store"
    fixed.write_text("")
    config = _suite_config(tmp_path, f"broken_raise:fixed={fixed}")

    def run_cell(cell, error=ZeroDivisionError("float division by zero")):
        rows = real(cell)
        if cell.estimator.name == "broken_raise":
            raise error
        return rows

    monkeypatch.setattr(cell_module, "run_cell", run_cell)
    manifest = run_suite(config, out, report=False, progress=lambda line: None)
    (label,) = manifest.cells_failed
    assert manifest.cells_done == 2 and label.startswith("tiny · broken_raise")
    assert store.read_manifest(out)["cells_failed"] == {label: "code error: ZeroDivisionError: float division by zero"}
    monkeypatch.setattr(cell_module, "run_cell", lambda cell: run_cell(cell, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # the resume measures the failed cell again, and is interrupted there
        run_suite(config, out, report=False, progress=lambda line: None)
    assert store.read_manifest(out)["runs"][-1]["status"] == "interrupted"


@pytest.mark.parametrize("name", ["broken_raise", "broken_complex"])
def test_trace_names_a_broken_driver_before_it_drives_anything(capsys, tmp_path, name):
    code = main(["trace", "--plugin", PLUGIN, "--problem", "gaussian", "--estimator", name, "--steps", "2",
                 "--num-samples", "64", "--save-params", str(tmp_path / "ckpt")])
    out, err = capsys.readouterr()
    hint = " (set VARBENCH_DEBUG=1 for its traceback)" if "raised" in BROKEN[name] else ""
    assert (code, err) == (1, f"varbench: error: {BROKEN[name]}{hint}\n")
    assert not (tmp_path / "ckpt").exists()  # refused before the first checkpoint was written

"""The layers import downward only (core ← problems, estimators ← engine ← application edge), reports/ imports
neither JAX nor the engine, and the installed distribution claims only the name ``varbench``."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: folder in the repository -> the installed package it becomes
FOLDERS = {"varbench/core": "varbench.core", "varbench/engine": "varbench.engine", "problems": "varbench.problems",
           "estimators": "varbench.estimators", "reports": "varbench.reports"}
#: what each layer may import from the project (besides itself)
ALLOWED = {
    "varbench.core": (),
    "varbench.problems": ("varbench.core",),
    "varbench.estimators": ("varbench.core",),
    "varbench.engine": ("varbench.core",),
    "varbench.reports": (),
}


def _imports(path: pathlib.Path, package: str) -> list[str]:
    """Every module imported by ``path`` (top-level and function-level), absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                out.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module == "varbench":  # ``from varbench import x``: the name x of the top-level package
                out += [f"varbench.{a.name}" for a in node.names]
            else:
                out.append(node.module or "")
    return out


def _modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield package, path


@pytest.mark.parametrize("package,path", list(_modules()), ids=lambda x: str(x).split("/varbench/")[-1]
                         if isinstance(x, pathlib.Path) else x)
def test_imports_point_downward(package, path):
    allowed = (package, "varbench.__version__") + ALLOWED[package]
    for name in _imports(path, package):
        if name == "varbench" or name.startswith("varbench."):
            assert name != "varbench" and name.startswith(allowed), f"{path.name} ({package}) imports {name}"
        assert name.split(".")[0] not in ("problems", "estimators", "reports"), \
            f"{path.name} imports the repository folder {name!r}; use varbench.{name}"
        if package == "varbench.reports":
            assert name.split(".")[0] != "jax", f"reports/{path.name} imports JAX"


def test_reports_and_the_command_line_load_without_jax():
    """The reports, and the parser of every command: ``varbench report`` never pays for importing JAX."""
    code = ("import sys, varbench.reports, varbench.reports.page, varbench.cli; varbench.cli.build_parser(); "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_a_report_process_whose_workers_draw_imports_no_plotting_library():
    """``varbench report`` loads the store and writes the pages; its worker processes draw. Its own process imports
    neither pyplot nor seaborn nor scipy.stats (a second of a report's five), until it draws a figure itself."""
    code = ("import sys, varbench.reports.page, varbench.reports._jobs, varbench.reports.figures as f; "
            "f.estimator_palette(['score_function']); f.WorkSize.at(3.3); "
            "heavy = [m for m in ('matplotlib.pyplot', 'seaborn', 'scipy.stats') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_distribution_claims_only_the_varbench_name(tmp_path):
    """``import problems`` fails outside the repository; the code is reached as ``varbench.problems``."""
    code = ("import importlib.util as u, varbench.problems, varbench.estimators, varbench.reports\n"
            "assert all(u.find_spec(n) is None for n in ('problems', 'estimators', 'reports')), 'generic names'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)

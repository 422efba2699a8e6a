"""Examples that cannot drift: every docstring example in the package runs as a doctest, and the README's Python
snippets run, in order, in a fresh interpreter (after the suite the README tells a reader to run first)."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import pkgutil
import re
import subprocess
import sys
import textwrap

import pytest

import varbench

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _modules():
    for info in pkgutil.walk_packages(varbench.__path__, "varbench."):
        if not info.name.endswith("__main__"):
            yield info.name
    yield "varbench"


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name.startswith(name):
                yield pytest.param(test, id=test.name)


@pytest.mark.parametrize("test", list(_doctests()))
def test_docstring_example(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda text: pytest.fail(text, pytrace=False))
    assert runner.failures == 0


def readme_python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"), re.M | re.S)


SMALL_SUITE = """
[[block]]
name = "readme_store"
problem = "linear_vae:data_subset=8,batch_size=4,latent=2"
estimators = ["pathwise", "stl"]
num_samples = 2000
"""


def test_readme_python_snippets_run(tmp_path):
    blocks = readme_python_blocks()
    assert len(blocks) >= 5
    # The README reads a store at varbench-results, written by `varbench suite`: a small config stands in for it.
    (tmp_path / "small.toml").write_text(SMALL_SUITE)
    script = "\n".join([
        "from varbench.suite import run_suite",
        "run_suite('small.toml', 'varbench-results', report=False, progress=lambda line: None)",
        *(f"# --- README block {i}\n{block}" for i, block in enumerate(blocks)),
    ])
    (tmp_path / "readme.py").write_text(script)
    done = subprocess.run([sys.executable, "readme.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, textwrap.shorten(done.stderr[-3000:], 3000)

"""Examples that cannot drift: every docstring example in the package runs as a doctest, the README's Python
snippets run, in order, in a fresh interpreter (after the suite the README tells a reader to run first), and so do
the Python snippets of the documentation pages that are not executed notebooks (the tutorials run when the site is
built: tests/test_docs.py)."""

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


#: A snippet whose first line names a file (``# my_estimators.py: ...``) is that file: written, then imported by the
#: snippets that load it, as a reader who saves it would.
_FILE_SNIPPET = re.compile(r"^# (\w+\.py)\b")
#: Printed once the README's snippets have run, before the documentation's.
_README_DONE = "--- the README's snippets ran ---"


def docs_python_blocks() -> list[tuple[str, str]]:
    """``(page, snippet)`` for every ```python block of the documentation's Markdown pages, pages in path order;
    executed notebooks (the tutorials) and generated pages are left out."""
    blocks = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if "_build" in page.parts or "_generated" in page.parts or "file_format: mystnb" in text:
            continue
        name = str(page.relative_to(ROOT))
        blocks += [(name, block) for block in re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)]
    return blocks


@pytest.fixture(scope="module")
def snippets_run(tmp_path_factory):
    """One fresh interpreter runs the README's snippets in order (one namespace, as a reader pastes them), then
    each documentation page's snippets in a namespace of its own (a page cannot lean on another page's names);
    both read a store at varbench-results, which a small config stands in for."""
    tmp_path = tmp_path_factory.mktemp("snippets")
    readme = readme_python_blocks()
    docs = docs_python_blocks()
    files = {m.group(1): block for _, block in docs if (m := _FILE_SNIPPET.match(block))}
    for name, block in files.items():
        (tmp_path / name).write_text(block)
    (tmp_path / "small.toml").write_text(SMALL_SUITE)
    pages: dict[str, list[str]] = {}
    for page, block in docs:
        if not _FILE_SNIPPET.match(block):
            pages.setdefault(page, []).append(block)
    script = "\n".join([
        "from varbench.suite import run_suite",
        "run_suite('small.toml', 'varbench-results', report=False, progress=lambda line: None)",
        # The README's snippets share one namespace, named as the plugin file its estimator snippet is: the docs'
        # pages load that file again, which re-registers the same class instead of a second one named my_score.
        f"exec(compile({chr(10).join(readme)!r}, 'README.md', 'exec'), {{'__name__': 'my_estimators'}})",
        f"print({_README_DONE!r}, flush=True)",
        *(f"exec(compile({chr(10).join(code)!r}, {page!r}, 'exec'), {{'__name__': 'docs_page'}})"
          for page, code in pages.items()),
    ])
    (tmp_path / "snippets.py").write_text(script)
    done = subprocess.run([sys.executable, "snippets.py"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    return readme, files, done


def test_readme_python_snippets_run(snippets_run):
    readme, _, done = snippets_run
    assert len(readme) >= 3  # measure; a suite's results; a plugin and its check
    assert _README_DONE in done.stdout, textwrap.shorten(done.stderr[-3000:], 3000)


def test_docs_python_snippets_run(snippets_run):
    _, files, done = snippets_run
    assert {"my_estimators.py", "my_problems.py"} <= set(files)  # the plugin how-to's files
    assert done.returncode == 0, textwrap.shorten(done.stderr[-3000:], 3000)

"""A source checkout imported directly (``python -m varbench`` in the repository root with a non-editable install
puts the root's ``varbench/`` first on ``sys.path``) still finds the subpackages that live in sibling folders."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_subpackages_resolve_to_the_checkouts_sibling_folders_without_any_install():
    # -S: no site-packages, so neither an editable install's finder nor an installed varbench can answer.
    code = ("import sys, importlib.util; sys.path.insert(0, sys.argv[1]); "
            "print(*(importlib.util.find_spec('varbench.' + n).origin for n in ('problems', 'estimators', 'reports')))")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(ROOT / n / "__init__.py") for n in ("problems", "estimators", "reports")]

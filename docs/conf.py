"""Sphinx configuration of the varbench documentation site.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (the ``docs`` extra installs what it
needs). The tutorials are text notebooks that myst-nb executes at every build, so their outputs cannot drift from
the code; the reference pages for the CLI, the config schema, the record fields and the catalogue of problems and
estimators are generated from the code by ``_ext/varbench_docs.py`` into ``reference/_generated/`` (git-ignored).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
# The tutorials and autodoc run varbench on CPU unless the builder says otherwise: a docs build needs no accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import varbench  # noqa: E402  (after the path and the environment above)

project = "varbench"
author = "the varbench authors"
copyright = "the varbench authors"
release = version = varbench.__version__

extensions = [
    "myst_nb",  # Markdown pages and executed text notebooks ({code-cell}); brings myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # Google-style docstrings (Args / Returns / Raises)
    "sphinx.ext.mathjax",
    "sphinxarg.ext",  # the CLI reference, from varbench.cli.build_parser()
    "varbench_docs",  # generated reference pages and checks of docstring cross-references
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
root_doc = "index"
# Text from docstrings and the CLI's help is shown as written: "--executor" must not become an en dash.
smartquotes = False
exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**/.ipynb_checkpoints",
                    # included by the pages beside them, not pages of their own
                    "reference/_generated", "threat_model.md"]
# No network: intersphinx stays off, and nothing is fetched at build time.

# --- MyST and myst-nb -------------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "fieldlist"]
myst_heading_anchors = 3
# Every build executes every tutorial: a tutorial whose code no longer runs fails the build (-W or not).
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 600
# Each notebook runs in a fresh temporary folder, so files its cells write never land in the source tree.
nb_execution_in_temp = True
nb_merge_streams = True

# --- autodoc, autosummary, napoleon ---------------------------------------------------------------------------------
autosummary_generate = False  # the tables link to the autodoc entries on the same page; no stub files
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": False, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
# Every cross-reference must resolve: a role that names nothing is a warning, and -W makes it an error. References to
# code that exists but has no page of its own are rendered as code (varbench_docs.resolve_existing).
nitpicky = True

# --- HTML ---------------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"varbench {release}"
html_static_path = []
html_show_sourcelink = False

"""Sphinx extension of the varbench site: reference pages generated from the code, and cross-references checked.

At ``builder-inited`` it writes Markdown pages into ``docs/reference/_generated/`` (git-ignored), each from the code
that defines what it documents, so nothing generated is committed and nothing can drift:

* ``api_*.md``: autosummary tables and autodoc entries of every name in ``varbench.__all__`` and of the public
  modules users import (:mod:`._api`);
* ``catalog.md``: every registered problem and estimator, from the registry (:mod:`._catalog`);
* ``config.md``: every table and key of a suite config, from ``varbench.suite._schema.config_schema()``;
  ``records.md``: the fields of a Result and the columns of a store's rows; ``shipped_configs.md``: the blocks of
  the configs that ship with varbench; ``gallery.md``: the figures of the committed report (:mod:`._tables`).

The pages that include them live beside them in ``docs/reference/``. ``missing-reference`` is also handled here:
with ``nitpicky = True`` every Python cross-reference of a docstring must resolve; one that names code which exists
but has no entry of its own on the site is rendered as code, and one that names nothing stays a warning (an error
under ``-W``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from varbench_docs import _api, _catalog, _tables

#: Where the generated pages go, relative to the source folder.
GENERATED = Path("reference") / "_generated"


def _write(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (an unchanged page is not rebuilt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def generate(app: Any) -> None:
    """``builder-inited``: write every generated page (before Sphinx reads the sources)."""
    out = Path(app.srcdir) / GENERATED
    pages = {**_api.pages(), "catalog.md": _catalog.page(), "config.md": _tables.config_page(),
             "records.md": _tables.records_page(), "shipped_configs.md": _tables.shipped_configs_page(),
             # docs/gallery.md includes it: image paths are relative to that page
             "gallery.md": _tables.gallery_page(Path(app.srcdir).parent / "reports" / "gallery", "../reports/gallery/")}
    for name, text in pages.items():
        _write(out / name, text)


def _candidates(target: str, node: Any) -> list[str]:
    """The full names ``target`` may stand for, read as Python would: itself, then relative to the module and class
    being documented, to every enclosing scope of the object whose docstring holds the reference (a re-exported
    function's docstring speaks from the module that defines it), and to the classes of the module (an autosummary
    row's first sentence speaks from its class)."""
    target = target.lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    names = [target]
    if module and cls:
        names.append(f"{module}.{cls}.{target}")
    if module:
        names.append(f"{module}.{target}")
    source = str(node.source or "")
    if "docstring of " in source:
        scope = source.split("docstring of ", 1)[1].split(":")[0].split(".")
        names += [".".join(scope[:cut] + [target]) for cut in range(len(scope), 0, -1)]
    if module and "." not in target:
        loaded = _import(module)
        for name in getattr(loaded, "__all__", ()):
            home = getattr(getattr(loaded, name, None), "__module__", None)
            names += [f"{module}.{name}.{target}"] + ([f"{home}.{target}"] if isinstance(home, str) else [])
    return names


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - not importable: nothing to resolve against
        return None


def _exists(dotted: str) -> bool:
    """Whether the dotted name is a module, or an attribute reachable from the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - not a module: try a shorter prefix
            continue
        for attr in parts[cut:]:
            if obj is None:  # inside a field that has no value on its class: nothing more can be checked
                return False
            if hasattr(obj, attr):
                obj = getattr(obj, attr)
            elif attr in getattr(obj, "__dataclass_fields__", {}) or attr in getattr(obj, "__annotations__", {}):
                obj = None  # a dataclass field or an annotated attribute: it exists, with no value on the class
            else:
                return False
        return True
    return False


def resolve_existing(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """``missing-reference``: a Python reference to code that exists but has no entry here is rendered as code
    (it is right, only not documented on its own); a reference to nothing is left to Sphinx's warning."""
    if node.get("refdomain") != "py":
        return None
    if node.get("reftype") in ("obj", "data", "attr", "meth", "func", "class", "exc", "mod", "const"):
        if any(_exists(name) for name in _candidates(node["reftarget"], node)):
            return contnode
    if _external(node["reftarget"]):
        return contnode
    return None


#: Short names of libraries as annotations spell them.
_ALIASES = {"np": "numpy", "pd": "pandas", "jnp": "jax.numpy"}


def _external(target: str) -> bool:
    """Whether ``target`` names another library's object (JAX, NumPy, pandas, the standard library): without
    intersphinx (no network at build time) it is rendered as code, as long as its library can be imported."""
    target = target.lstrip("~.")
    head = target.split(".")[0]
    if "." not in target or head == "varbench":
        return False
    return _import(_ALIASES.get(head, head)) is not None


_DATA_DOCSTRINGS: dict[str, list[str]] = {}


def keep_data_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """``autodoc-process-docstring`` before napoleon: remember a data or attribute docstring as written, and drop
    the docstring of the value's type that autodoc shows for data without a ``#:`` comment (``dict()`` -> ...)."""
    if what in ("data", "attribute"):
        inherited = (type(obj).__doc__ or "").strip().splitlines()
        if lines and inherited and lines[0].strip() == inherited[0].strip():
            lines.clear()
        _DATA_DOCSTRINGS[name] = list(lines)


def restore_data_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """``autodoc-process-docstring`` after napoleon: put the data or attribute docstring back as written. Napoleon
    reads its first line as ``type: description``, so ``#: Result fields renamed since...: old -> new`` would
    become a "type" named after its first words; these docstrings are plain sentences."""
    if what in ("data", "attribute") and name in _DATA_DOCSTRINGS:
        lines[:] = _DATA_DOCSTRINGS.pop(name)


def setup(app: Any) -> dict[str, Any]:
    """Register the generator, the reference resolver and the data docstrings' guard."""
    app.connect("builder-inited", generate)
    app.connect("missing-reference", resolve_existing)
    app.connect("autodoc-process-docstring", keep_data_docstring, priority=400)
    app.connect("autodoc-process-docstring", restore_data_docstring, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["GENERATED", "generate", "keep_data_docstring", "resolve_existing", "restore_data_docstring", "setup"]

"""The catalogue of problems and estimators, generated from the registry (what ``varbench list`` shows, and more).

For each registered class: its name, one-line summary, the reference paragraph of its docstring, its options with
defaults and rules from their ``option()`` metadata; a problem's capabilities and parameter shapes; an estimator's
bias and state flags, the built-in problems it applies to at their default options and its cost evaluations per
estimate there. Nothing is compiled: ``check_applies`` and ``evaluations_per_estimate`` are plain Python.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from varbench.catalog import ESTIMATORS, PROBLEMS, describe, estimator_names, origin, problem_names
from varbench.core.capabilities import capabilities_of
from varbench.core.pytree import options_of

#: Where an estimator's evaluations per estimate are stated: the first of these it applies to, at default options.
DEFAULT_PROBLEMS = ("gaussian", "bernoulli", "categorical", "lgssm", "hmm", "lqr", "nile", "linear_vae",
                    "gaussian_vae", "logistic_regression", "sbn")

_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_SPECIAL = re.compile(r"([\\*_\[\]<>|$#])")


def plain(text: str, table: bool = True) -> str:
    """Docstring text (reStructuredText) as Markdown: roles and ````code```` become code spans, everything else is
    escaped, so a formula such as ``V_t(z_{t-1})`` never turns into markup; with ``table``, a ``|`` inside a code
    span is escaped too, so that it does not split a table cell."""
    text = _ROLE.sub(lambda m: "``" + m.group(1).split(".")[-1] + "``", " ".join(text.split()))
    out = []
    for i, part in enumerate(re.split(r"``(.*?)``", text)):
        if i % 2:
            out.append("`" + (part.replace("|", "\\|") if table else part) + "`" if part else "")
        else:
            out.append(_SPECIAL.sub(r"\\\1", part).replace("`", "\\`"))
    return "".join(out)


def citation(cls: type) -> str:
    """The paragraph of the class docstring that cites its sources (``References:``, else the first with a year)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", inspect.cleandoc(cls.__doc__ or ""))]
    cited = [p for p in paragraphs if re.match(r"References?:", p)]
    cited = cited or [p for p in paragraphs if "Reference" in p or re.search(r"\b(1[89]|20)\d\d\b", p)]
    if not cited:
        return ""
    return plain(re.sub(r"^References?:\s*", "", cited[0]), table=False)


def _option_fields(cls: type) -> dict[str, Any]:
    """Every option field a spec of ``cls`` may carry, by key (its own first, then its variants' and wrappers')."""
    fields: dict[str, Any] = {}
    sources = [options_of(cls)] + [options_of(v) for v in getattr(cls, "spec_variants", ())]
    if cls in ESTIMATORS.values():
        from varbench.estimators import WRAPPERS
        sources += [w.spec_options() for w in WRAPPERS if w.accepts(cls)]
    for source in sources:
        for key, field in source.items():
            fields.setdefault(key, field)
    return fields


def options_table(cls: type) -> str:
    """The options of ``cls`` as a Markdown table (``-`` when it has none)."""
    rows = describe(cls)
    if not rows:
        return "No options.\n"
    fields = _option_fields(cls)
    lines = ["| option | default | compiled | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        meta = fields[row["name"]].metadata if row["name"] in fields else {}
        allowed = ", ".join(map(str, row["choices"])) if row["choices"] else (
            f">= {meta['minimum']}" if meta.get("minimum") is not None else "")
        compiled = "static" if meta.get("static", True) else "traced"
        lines.append(f"| `{row['name']}` | `{row['default']!r}` | {compiled} | {plain(allowed)} | "
                     f"{plain(row['doc'])} |")
    return "\n".join(lines) + "\n"


def _default_problems() -> dict[str, Any]:
    return {name: PROBLEMS[name]() for name in DEFAULT_PROBLEMS if name in PROBLEMS}


def applicability(cls: type, problems: dict[str, Any]) -> tuple[list[str], str]:
    """Which built-in problems (at default options) an estimator at its defaults applies to, and a sentence on its
    cost evaluations per estimate (on the first of them, or why none applies)."""
    estimator = cls()
    applies, refusal = [], ""
    for name, problem in problems.items():
        try:
            estimator.check_applies(problem)
        except Exception as err:  # noqa: BLE001 - a refusal is the information shown
            refusal = refusal or ("" if "problems that are" in str(err) else f"{name}: {err}")
            continue
        applies.append(name)
    if not applies:
        return [], (f"per problem (none applies at its default options; {plain(refusal)})" if refusal
                    else "per problem")
    try:
        count = int(estimator.evaluations_per_estimate(problems[applies[0]]))
    except Exception:  # noqa: BLE001 - a count that needs more than the defaults
        return applies, "per problem"
    return applies, f"{count} on `{applies[0]}` (at its defaults; it may depend on the problem and the options)"


def _problem_entry(name: str) -> str:
    cls = PROBLEMS[name]
    flags = [f for f in ("discrete", "has_exact_objective") if getattr(cls, f, False)] + capabilities_of(cls)
    try:
        shapes = ", ".join(f"`{k}` {tuple(v)}" for k, v in cls().param_shapes().items())
    except Exception:  # noqa: BLE001 - a plugin problem may need options to be built
        shapes = "depend on the options"
    cite = citation(cls)
    return (f"(catalog-problem-{name})=\n### `{name}`\n\n{plain(cls.summary)}\n\n"
            + (f"**References.** {cite}\n\n" if cite else "")
            + f"- **capabilities:** {', '.join(f'`{f}`' for f in flags) or 'none'}\n"
            f"- **params at the default options:** {shapes}\n- **from:** {origin(cls)}\n\n{options_table(cls)}\n")


def _estimator_entry(name: str, problems: dict[str, Any]) -> str:
    cls = ESTIMATORS[name]
    applies, evaluations = applicability(cls, problems)
    cite = citation(cls)
    return (f"(catalog-estimator-{name})=\n### `{name}`\n\n{plain(cls.summary)}\n\n"
            + (f"**References.** {cite}\n\n" if cite else "")
            + f"- **unbiased:** {'yes' if cls.unbiased else 'no (its bias is measured, not tested away)'}; "
            f"**stateful:** {'yes' if cls.stateful else 'no'}\n"
            f"- **applies to (built-in problems at their defaults):** "
            f"{', '.join(f'`{p}`' for p in applies) or 'none'}\n"
            f"- **cost evaluations per estimate:** {evaluations}\n- **from:** {origin(cls)}\n\n{options_table(cls)}\n")


def page() -> str:
    """The catalogue page: an overview table of each registry, then an entry per name."""
    problems = _default_problems()
    out = ["<!-- generated by docs/_ext/varbench_docs/_catalog.py at build time; do not edit -->\n\n",
           "## Problems\n\n| problem | summary |\n| --- | --- |\n"]
    out += [f"| [`{n}`](#catalog-problem-{n}) | {plain(PROBLEMS[n].summary)} |\n" for n in problem_names()]
    out.append("\n")
    out += [_problem_entry(n) for n in problem_names()]
    out.append("## Estimators\n\n| estimator | summary |\n| --- | --- |\n")
    out += [f"| [`{n}`](#catalog-estimator-{n}) | {plain(ESTIMATORS[n].summary)} |\n" for n in estimator_names()]
    out.append("\n")
    out += [_estimator_entry(n, problems) for n in estimator_names()]
    return "".join(out)

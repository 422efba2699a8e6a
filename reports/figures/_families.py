"""Estimator families: how a figure groups an estimator's variants into panels, the marker and dash of each family,
and the short labels written next to lines and points.

A label is ``name`` or ``name:key=value,...``; its name is the registered estimator (``estimator_name``), which
groups its variants. Names are grouped further into families by how the gradient is formed (the table below is the
built-in estimators'; a plugin's name is its own family, ``other``). Figures never import the estimators (no JAX).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple, Sequence

#: The family of each built-in estimator name.
FAMILY = {
    "score_function": "score function", "rloo": "score function", "vimco": "score function",
    "nvil": "score function", "muprop": "score function", "unordered_set": "score function",
    "pathwise": "pathwise", "stl": "pathwise", "dreg": "pathwise", "measure_valued": "measure-valued",
    "arm": "antithetic", "disarm": "antithetic", "vimco_disarm": "antithetic",
    "gumbel_softmax": "relaxation", "straight_through": "relaxation", "rebar": "relaxation", "relax": "relaxation",
    "actor_critic": "critic", "n_step": "critic", "gae": "critic", "model_pathwise": "model-based",
}
OTHER = "other"


class Style(NamedTuple):
    """How a family's lines look besides their colour (which is the estimator's)."""

    marker: str
    dash: object


#: A distinct marker and dash per family, so a figure printed in grey still tells families apart.
#: No family has the circle: a hollow circle is an exact value.
FAMILY_STYLE = {
    "score function": Style("s", "-"), "pathwise": Style("^", (0, (5, 1.5))),
    "measure-valued": Style("D", (0, (1, 1.2))), "antithetic": Style("v", (0, (6, 1.5, 1, 1.5))),
    "relaxation": Style("P", (0, (3, 1, 1, 1, 1, 1))), "critic": Style("p", (0, (4, 2))),
    "model-based": Style("*", (0, (8, 2))), OTHER: Style("h", (0, (2, 2))),
}
#: The most estimators a panel's legend lists; a block with more is split into several panels.
MAX_PER_PANEL = 8

#: Short names written next to points and line ends (the key under a figure spells them out).
ABBREVIATION = {
    "score_function": "SF", "pathwise": "PW", "measure_valued": "MVD", "gumbel_softmax": "GS",
    "straight_through": "ST", "actor_critic": "AC", "n_step": "n-step", "model_pathwise": "model-PW",
    "disarm": "DisARM", "dreg": "DReG", "vimco_disarm": "VIMCO-DisARM", "muprop": "MuProp",
    "unordered_set": "unordered",
}
#: Short option keys in those labels ("" writes the value alone: ``returns=to_go`` is ``to_go``).
OPTION_SHORT = {"lambda": "λ", "samples": "K", "baseline": "b", "critic": "", "returns": "", "model": "",
                "model_error": "ε", "fit_transitions": "N", "temperature": "τ"}


def name_of(label: str) -> str:
    """The estimator name of a label (``score_function:samples=2`` -> ``score_function``)."""
    return str(label).split(":", 1)[0]


def family_of(label: str) -> str:
    """The family of a label's estimator (:data:`OTHER` for a name the table does not know)."""
    return FAMILY.get(name_of(label), OTHER)


def style_of(label: str) -> Style:
    """The marker and dash of a label's family."""
    return FAMILY_STYLE[family_of(label)]


def short_label(label: str) -> str:
    """A label short enough to write next to a point: the name abbreviated, option keys shortened.

    Args:
      label: ``name`` or ``name:key=value,...``.

    Returns:
      For example ``SF to_go,b=value,learned`` for ``score_function:returns=to_go,baseline=value,critic=learned``.
    """
    name, _, options = str(label).partition(":")
    short = ABBREVIATION.get(name, name.upper() if name in FAMILY else name)
    parts = []
    for option in filter(None, options.split(",")):
        key, eq, value = option.partition("=")
        if not eq:
            parts.append(option)
            continue
        key = OPTION_SHORT.get(key, key)
        parts.append(f"{key}={value}" if key else value)
    return f"{short} {','.join(parts)}" if parts else short


def abbreviation_key(labels: Iterable[str]) -> str:
    """The key to the abbreviated names of :func:`short_label` among ``labels`` (empty: none abbreviated).

    Args:
      labels: the labels written short in a figure.

    Returns:
      For example ``SF = score_function, GS = gumbel_softmax, K = samples``.
    """
    labels = list(labels)
    names = dict.fromkeys(name_of(label) for label in labels)
    pairs = [f"{short_label(n)} = {n}" for n in names if short_label(n).lower() != n]  # not RLOO = rloo
    keys = dict.fromkeys(option.partition("=")[0] for label in labels
                         for option in str(label).partition(":")[2].split(",") if "=" in option)
    pairs += [f"{OPTION_SHORT[k]} = {k}" for k in keys if OPTION_SHORT.get(k)]
    return ", ".join(pairs)


def _chunks(members: list[str], limit: int) -> list[list[str]]:
    """``members`` cut into pieces of at most ``limit``: a name's variants together where they fit, else in balanced
    pieces; names that fit share a piece."""
    if len(members) <= limit:
        return [members]
    by_name: dict[str, list[str]] = {}
    for label in members:
        by_name.setdefault(name_of(label), []).append(label)
    out: list[list[str]] = []
    for group in by_name.values():
        size = -(-len(group) // -(-len(group) // limit))  # 10 variants: 5 + 5, not 8 + 2
        for i in range(0, len(group), size):
            piece = group[i:i + size]
            if out and len(out[-1]) + len(piece) <= limit:
                out[-1] += piece
            else:
                out.append(piece)
    return out


def panel_groups(labels: Sequence[str], limit: int = MAX_PER_PANEL) -> list[tuple[str, list[str]]]:
    """A block's labels split into groups of at most ``limit``, a panel (or a row of panels) each.

    Up to ``limit`` labels stay together (one group, no title). More are grouped by family, in order of first
    appearance: small families share a group, a family larger than ``limit`` is cut into balanced pieces (its
    estimator names kept together where they fit).

    Args:
      labels: the labels, in drawing order (repeats ignored).
      limit: the most labels in a group.

    Returns:
      ``(title, labels)`` per group: the families it holds (``"score function (2 of 3)"`` for a piece), ``""``
      when every label fits in one group.
    """
    labels = list(dict.fromkeys(labels))
    if len(labels) <= limit:
        return [("", labels)]
    families: dict[str, list[str]] = {}
    for label in labels:
        families.setdefault(family_of(label), []).append(label)
    groups: list[tuple[list[str], list[str], bool]] = []  # (families, labels, open to another family)
    for family, members in families.items():
        pieces = _chunks(members, limit)
        if len(pieces) > 1:  # a piece of a family is a panel of its own
            groups += [([f"{family} ({k + 1} of {len(pieces)})"], p, False) for k, p in enumerate(pieces)]
        elif groups and groups[-1][2] and len(groups[-1][1]) + len(members) <= limit:
            groups[-1][0].append(family)
            groups[-1][1].extend(members)
        else:
            groups.append(([family], list(members), True))
    return [(" + ".join(names), members) for names, members, _ in groups]

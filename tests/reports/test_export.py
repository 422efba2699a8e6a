"""Tables for papers (``varbench results --format latex|markdown``): rounding, escaping, structure, bold cells.

The store here is written by hand (tidy rows of known variances, a planted bias, a name full of LaTeX's special
characters), so the tests need no JAX and take well under a second; the LaTeX is checked structurally, and compiled
only where a TeX engine is installed.
"""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from varbench.reports import export, manifest, ratios, schema, store

#: An estimator label with every character LaTeX treats specially.
NASTY = r"rloo:w=50%&#1_$2{x}~^\y"
#: (label, total variance, cost evaluations, planted relative bias): the planted one has the lowest variance and the
#: lowest variance × evaluations, so bold must skip it; NASTY has the lowest variance without a bias, pathwise the
#: lowest variance × evaluations.
ESTIMATORS = (("score_function", 4.0, 1, 0.0), ("pathwise", 1.0, 1, 0.0), (NASTY, 0.8, 4, 0.0),
              ("planted_bias", 0.5, 1, 0.5))


def tidy_rows(block, label, total, evaluations, rel_bias, *, se=1e-3, num_samples=10_000, points=2):
    """Rows of one block × estimator: two coordinates per point, gradient (1, 2), variance split evenly."""
    rows = []
    for point in range(points):
        for coordinate, grad in enumerate((1.0, 2.0)):
            rows.append(dict(block=block, estimator=label, estimator_label=label, estimator_name=label.split(":")[0],
                             problem="gaussian", cell=f"{block}-{abs(hash(label))}", point=point, param="mean",
                             coordinate=str(coordinate), method="mc", seed=0, num_samples=num_samples,
                             grad_mean=grad * (1 + rel_bias),
                             evaluations_per_estimate=evaluations, total_variance=total, estimates_per_second=1e6,
                             grad_exact=grad, grad_se=se, bias=rel_bias * grad, variance=total / 2,
                             variance_lo=0.45 * total, variance_hi=0.55 * total))
    return rows


@pytest.fixture(scope="module")
def frame():
    rows = [r for label, total, evals, bias in ESTIMATORS for r in tidy_rows("toy_block", label, total, evals, bias)]
    rows += tidy_rows("loose", "score_function", 2.0, 1, 0.0, se=0.5)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables(frame):
    return export.paper_tables(schema.summary(frame), frame)


@pytest.mark.parametrize("value, lo, hi, expected", [
    (1.2345e-4, 1.18e-4, 1.29e-4, ("1.23", "1.18", "1.29", -4)),
    (9.96e-5, 9.7e-5, 1.01e-4, ("1.00", "0.97", "1.01", -4)),  # rounding carries into the next power of ten
    (1234.0, 1000.0, 1460.0, ("1.2", "1.0", "1.5", 3)),
    (45.348, 38.2, 54.1, ("45", "38", "54", 0)),
    (2.6006, 2.51, 2.70, ("2.60", "2.51", "2.70", 0)),
    (0.0123456, 0.0123, 0.0124, ("0.01235", "0.01230", "0.01240", 0)),
    (3.0, 0.1, 83.0, ("3", "0", "83", 0)),  # never coarser than the value's own first digit
    (46.0872, 46.0872, 46.0872, ("46.09", None, None, 0)),  # exact: no interval, four significant digits
    (1.23456e-7, np.nan, np.nan, ("1.235", None, None, -7)),
])
def test_numbers_are_rounded_to_the_digit_their_interval_supports(value, lo, hi, expected):
    assert tuple(export.round_to_interval(value, lo, hi)) == expected


def test_missing_numbers_are_not_rounded():
    assert export.round_to_interval(np.nan) is None and export.round_to_interval(np.inf, 1, 2) is None


def test_latex_special_characters_are_escaped_once():
    assert export.latex_escape(NASTY) == (r"rloo:w=50\%\&\#1\_\$2\{x\}\textasciitilde{}\textasciicircum{}"
                                          r"\textbackslash{}y")
    assert export.latex_escape("a ≤ b × c") == r"a $\leq$ b $\times$ c"


def _strip_escapes(line: str) -> str:
    """The line without backslash escapes (``\\&``, ``\\{``, ``\\\\``): what is left is LaTeX's own syntax."""
    return re.sub(r"\\.", "", line)


def _balanced(text: str) -> bool:
    depth = 0
    for char in _strip_escapes(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _tabulars(latex: str):
    """Per table: its column spec and its rows (header and body) as source lines."""
    found = re.findall(r"\\begin\{tabular\}\{([^}]*)\}\n(.*?)\\end\{tabular\}", latex, re.S)
    return [(spec, [line for line in body.splitlines() if not line.endswith("rule")]) for spec, body in found]


def test_latex_is_a_well_formed_booktabs_table(tables):
    latex = export.to_latex(tables)
    assert _balanced(latex)
    assert latex.count(r"\begin{table}") == latex.count(r"\end{table}") == len(tables) == 2
    for table in latex.split(r"\begin{table}")[1:]:
        order = [table.index(s) for s in (r"\caption{", r"\begin{tabular}", r"\toprule", r"\midrule",
                                          r"\bottomrule", r"\end{tabular}", r"\end{table}")]
        assert order == sorted(order)
    for spec, rows in _tabulars(latex):
        assert "|" not in spec and set(spec) <= set("lrc")
        assert len(rows) == 1 + 4 or len(rows) == 1 + 1
        for row in rows:
            assert row.endswith(r" \\")
            assert _strip_escapes(row).count("&") + 1 == len(spec), row
            assert _strip_escapes(row).count("$") % 2 == 0  # math opened and closed within the row


def test_latex_escapes_names_and_states_the_setup(tables):
    latex = export.to_latex(tables)
    assert export.latex_escape(NASTY) in latex and NASTY not in latex
    assert r"toy\_block" in latex and "toy_block" not in latex.replace(r"\label{tab:varbench-toy-block}", "")
    caption = re.search(r"\\caption\{(.*)\}\n", latex).group(1)
    assert "10000 estimates per grid point and seed" in caption and "1 seed" in caption and "Monte Carlo" in caption


def _row(latex: str, label: str) -> dict[str, str]:
    """The row of ``label`` in the first table of ``latex``: its cells by their (escaped) header."""
    (spec, rows), *_ = _tabulars(latex)
    split = [re.split(r"(?<!\\)&", line.removesuffix(r" \\")) for line in rows]
    row = next(cells for cells in split[1:] if cells[0].strip() == export.latex_escape(label))
    return {header.strip(): cell.strip() for header, cell in zip(split[0], row)}


VARIANCE, WORK, BIAS, RATIO = "Variance", r"Variance $\times$ evaluations", "Relative bias", "Ratio to reference"


def test_bold_marks_the_lowest_variance_without_a_detected_bias(tables):
    latex = export.to_latex(tables[:1])
    bold = {label: ["mathbf" in _row(latex, label)[c] for c in (VARIANCE, WORK)] for label, *_ in ESTIMATORS}
    assert bold == {"score_function": [False, False], "pathwise": [False, True], NASTY: [True, False],
                    "planted_bias": [False, False]}
    assert _row(latex, "planted_bias")[BIAS].startswith("detected") and _row(latex, "pathwise")[BIAS].startswith(
        r"$\leq$")
    assert _row(latex, NASTY)[VARIANCE] == r"$\mathbf{0.80}\ [0.72,\,0.88]$"


def test_an_inconclusive_bound_is_not_reported_as_no_bias(tables):
    loose = tables[1]
    column = loose.header.index("Relative bias")
    assert loose.block == "loose" and loose.rows[0][column].content.startswith("inconclusive (≤ ")


def _markdown_tables(text: str):
    blocks, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks


def _cells(line: str) -> list[str]:
    return re.split(r"(?<!\\)\|", line.strip())[1:-1]


def test_markdown_is_a_pipe_table_per_block(tables):
    text = export.to_markdown(tables)
    found = _markdown_tables(text)
    assert len(found) == 2 and text.count("### ") == 2
    for lines in found:
        width = len(_cells(lines[0]))
        assert width >= 5 and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[1])
        assert all(len(_cells(line)) == width for line in lines)
    nasty = next(line for line in found[0] if "rloo" in line)
    assert "**0.80** [0.72, 0.88]" in nasty


def test_variance_ratios_are_exported_when_the_summary_has_them(frame):
    summary = schema.summary(frame).drop(columns=list(ratios.RATIO_COLUMNS), errors="ignore")
    assert "Ratio" not in " ".join(export.paper_tables(summary, frame)[0].header)  # not required
    summary = summary.assign(var_ratio=[1.0, 0.25, 0.2, 0.125, 1.0], var_ratio_lo=[1.0, 0.2, 0.15, 0.1, 1.0],
                             var_ratio_hi=[1.0, 0.3, 0.25, 0.15, 1.0],
                             var_ratio_paired=[None, True, False, True, None],
                             var_ratio_reference="score_function")
    (table, _) = export.paper_tables(summary, frame)
    assert "Ratio to reference" in table.header and "score_function" in table.caption
    latex = export.to_latex([table])
    assert _tabulars(latex)[0][0] == "lrrrrr"
    assert _row(latex, "pathwise")[RATIO] == r"$0.25\ [0.20,\,0.30]$$^\dagger$"
    assert _row(latex, NASTY)[RATIO] == r"$\mathbf{0.20}\ [0.15,\,0.25]$"  # lowest without a detected bias
    assert _row(latex, "score_function")[RATIO] == "reference"


@pytest.fixture(scope="module")
def hand_store(frame, tmp_path_factory):
    """The rows above as a result store: one cell file per block × estimator and a manifest listing them."""
    root = tmp_path_factory.mktemp("export") / "store"
    cells = {}
    for (block, label), rows in frame.groupby(["block", "estimator_label"], sort=False):
        key = rows["cell"].iloc[0]
        store.write_cell(root, key, rows.to_dict("records"))
        cells[key] = f"{block} · {label}"
    config = {"block": [{"name": "toy_block", "title": "A toy", "problem": "gaussian:dim=2",
                         "estimators": [e[0] for e in ESTIMATORS]},
                        {"name": "loose", "problem": "gaussian", "estimators": ["score_function"]}]}
    manifest.write(root, manifest.Manifest(config=config, config_hash="0", cells=cells, cells_total=len(cells),
                                           cells_done=len(cells), environment={"varbench_version": "9.9"}))
    return root


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_results_command_exports_the_store(hand_store, fmt, capsys):
    from varbench.cli import main
    assert main(["results", str(hand_store), "--format", fmt]) == 0
    out = capsys.readouterr().out
    loaded = store.load(hand_store)
    m = store.check_store(hand_store)
    assert out == export.render(fmt, schema.summary(loaded, *store.config_order(m)), loaded, m)
    assert "A toy (block toy" in out and "varbench 9.9" in out


def test_results_table_spells_the_verdict_out(hand_store, capsys):
    from varbench.cli import main
    assert main(["results", str(hand_store)]) == 0
    out = capsys.readouterr().out
    assert "inconclusive (bound " in out and "yes (p " in out and "no bias detected (p = " in out
    assert "p_value" not in out


def test_unknown_format_is_refused_in_one_line(hand_store, capsys):
    from varbench.cli import main
    assert main(["results", str(hand_store), "--format", "pdf"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "latex" in err and "markdown" in err


TEX = shutil.which("pdflatex") or shutil.which("tectonic")


@pytest.mark.skipif(TEX is None, reason="no pdflatex or tectonic on PATH")
def test_latex_compiles(tables, tmp_path):
    doc = tmp_path / "tables.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[T1]{fontenc}\n"
                   "\\usepackage[utf8]{inputenc}\n\\begin{document}\n" + export.to_latex(tables)
                   + "\\end{document}\n")
    command = [TEX, "-interaction=nonstopmode", doc.name] if TEX.endswith("pdflatex") else [TEX, doc.name]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]

"""The sequential report: variance, bias and cost of the VI-as-RL estimators on one sequential problem.

For a sequential problem (``lgssm``, ``hmm``) it measures, at the problem's default params, the score function
with the full return and the reward-to-go, the value baseline, actor-critic, n-step advantages for n = 1..T,
GAE over a λ grid and (reparameterizable problems) the pathwise estimator with the entropy analytic and sampled;
the estimators that use a critic are measured with the oracle and the learned critic side by side. Used by
``varbench sequential``; Weber et al. (2015) predict the ordering full > to_go > value baseline.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from varbench.api import measure
from varbench.catalog import resolve_problem, spec_of
from varbench.core.errors import VarbenchError
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.result import Result

DEFAULT_LAMBDAS = (0.0, 0.5, 0.9, 1.0)
CRITICS = ("oracle", "learned")


def estimator_rows(problem: Any, lambdas: Sequence[float] = DEFAULT_LAMBDAS) -> list[tuple[str, bool]]:
    """The rows of the report.

    Args:
      problem: a sequential problem object (its ``num_steps`` sets the n-step rows).
      lambdas: the GAE λ grid.

    Returns:
      ``(estimator spec without critic, takes a critic)`` per row.
    """
    rows = [("score_function:returns=full", False), ("score_function:returns=to_go", False),
            ("score_function:returns=to_go,baseline=value", True), ("actor_critic", True)]
    rows += [(f"n_step:n={n}", True) for n in range(1, problem.num_steps + 1)]
    rows += [(f"gae:lambda={lam:g}", True) for lam in lambdas]
    if problem.reparameterizable:
        rows += [("pathwise:entropy=analytic", False), ("pathwise:entropy=sampled", False)]
    return rows


def _with_critic(spec: str, critic: str) -> str:
    return f"{spec}{',' if ':' in spec else ':'}critic={critic}"


def _summary(result: Result) -> dict[str, Any]:
    bias = np.concatenate([np.ravel(v) for v in result.bias.values()])
    rate = result.estimates_per_second
    out = dict(estimator=result.estimator, total_variance=result.total_variance,
               max_abs_bias=float(np.max(np.abs(bias))), bias_norm=float(np.linalg.norm(bias)),
               evaluations_per_estimate=result.evaluations_per_estimate,
               seconds_per_estimate=1.0 / rate if rate > 0 else None)
    if result.bias_z is not None:
        z = np.concatenate([np.ravel(v) for v in result.bias_z.values()])
        out["max_abs_bias_z"] = float(np.max(np.abs(z)))
    return out


def sequential_table(problem: Any, *, num_samples: int = 100_000, method: str = "mc", seed: int = 0,
                     lambdas: Sequence[float] = DEFAULT_LAMBDAS) -> dict[str, Any]:
    """Measure every row of the report at the problem's default params.

    Args:
      problem: a sequential problem spec or object (``lgssm``, ``hmm``).
      num_samples: estimates per row (``method="mc"``).
      method: ``"mc"`` or ``"exact"``.
      seed: the seed of every measurement.
      lambdas: the GAE λ grid.

    Returns:
      ``{"problem", "method", "num_samples", "elbo", "log_evidence", "rows": [...]}``. Each row has ``name`` and, per
      critic (``oracle``; ``learned`` where a critic is used), the summary of one :func:`varbench.measure` result:
      total variance (sum over parameter coordinates), max |bias| and bias norm (exact in ``method="exact"``; Monte
      Carlo noise included in ``"mc"``, see ``max_abs_bias_z``), cost evaluations per estimate and seconds per
      estimate.
    """
    problem = resolve_problem(problem)
    if not problem.sequential:
        raise VarbenchError(f"varbench sequential needs a sequential problem (lgssm, hmm); got {problem.name!r}")
    rows = []
    for spec, takes_critic in estimator_rows(problem, lambdas):
        row: dict[str, Any] = {"name": spec}
        for critic in CRITICS if takes_critic else CRITICS[:1]:
            full_spec = _with_critic(spec, critic) if takes_critic else spec
            result = measure(problem, full_spec, num_samples=num_samples, method=method, seed=seed)
            row[critic] = _summary(result)
        rows.append(row)
    params = {k: np.asarray(v, np.float64) for k, v in problem.default_params().items()}
    elbo, _ = exact_objective_and_gradient(problem, params)
    return {"problem": spec_of(problem), "method": method, "num_samples": num_samples if method == "mc" else None,
            "elbo": elbo,
            "log_evidence": float(problem.log_evidence()), "rows": rows}


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


COLUMNS = ("total variance", "max abs bias", "bias norm")


def table_lines(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The report as strings, shared by the rich table and Markdown.

    Args:
      report: a :func:`sequential_table` report.

    Returns:
      ``(header, rows)``: the column titles, and one list of cells per row.
    """
    header = ["estimator"] + [f"{c} ({critic})" for critic in CRITICS for c in COLUMNS] + ["evals/estimate",
                                                                                             "s/estimate"]
    body = []
    for row in report["rows"]:
        cells = [row["name"]]
        for critic in CRITICS:
            s = row.get(critic)
            cells += ["-"] * 3 if s is None else [_fmt(s["total_variance"]), _fmt(s["max_abs_bias"]),
                                                   _fmt(s["bias_norm"])]
        o = row["oracle"]
        cells += [str(o["evaluations_per_estimate"]), _fmt(o["seconds_per_estimate"])]
        body.append(cells)
    return header, body


def title(report: dict[str, Any]) -> str:
    """The report's one-line title: problem, method, ELBO and log evidence."""
    how = ("exact: quadrature/enumeration; s/estimate per node" if report["method"] == "exact"
           else f"mc, {report['num_samples']:,} estimates per row")
    return f"{report['problem']} ({how}): ELBO {report['elbo']:.5g}, log evidence {report['log_evidence']:.5g}"


def markdown(report: dict[str, Any]) -> str:
    """The report as a bold title and a Markdown table."""
    header, body = table_lines(report)
    lines = [f"**{title(report)}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def print_table(report: dict[str, Any]) -> None:
    """Print the report as a rich table (the estimator column is never cut)."""
    from rich.table import Table

    from varbench.display import make_console
    header, body = table_lines(report)
    table = Table(title=title(report), show_edge=False, header_style="bold")
    for i, col in enumerate(header):
        if i == 0:  # estimator specs are never cut ("gae:lambd…" names nothing); numeric headers wrap instead
            table.add_column(col, justify="left", no_wrap=True, min_width=max([len(c[0]) for c in body] + [len(col)]))
        else:
            table.add_column(col, justify="right", overflow="fold")
    for cells in body:
        table.add_row(*cells)
    make_console().print(table)

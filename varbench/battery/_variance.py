"""The measurements behind the variance check: the candidate's variance and the references', ranked."""

from __future__ import annotations

import numpy as np

from varbench import catalog
from varbench.battery._context import VARIANCE_SEED, CheckContext
from varbench.battery._references import default_references
from varbench.battery._report import CheckRow, Comparison, Status, VarianceEntry
from varbench.core.errors import NotApplicableError, VarbenchError
from varbench.core.estimator import Estimator
from varbench.core.naming import spec_of
from varbench.engine import harness, paired
from varbench.engine.result import Result
from varbench.reports import ratios


def candidate_variance(ctx: CheckContext) -> tuple[Result, float]:
    """The checked estimator's variance measurement and its seconds per estimate: the bias check's measurement
    where it has one (timed by a Monte Carlo run if it is exact), else a new one."""
    own = ctx.candidate.result
    if own is not None and own.method == "mc":
        return own, own.run_seconds / own.num_samples
    measured, seconds = _measured(ctx, ctx.estimator, exact=own is not None)
    return (own if own is not None else measured), seconds


def compare_variance(ctx: CheckContext, own: Result, seconds: float, biased: bool = False
                     ) -> tuple[Comparison, Result | None]:
    """The candidate's variance ``own`` ranked against the references that apply (measured exactly where the
    candidate's was), and the plain score function's measurement if it is one of them.

    ``biased`` says the candidate is biased; a reference is when it declares itself so (its bias is not measured).
    Biased entries are ranked apart (rank 0, listed last; see :func:`rank_entries`)."""
    entries = [_entry(ctx, ctx.label, True, own, seconds, biased)]
    results = [(ctx.problem, own)]
    measured = [(ctx.estimator, own)]
    plain = None
    for reference in _references(ctx):
        result, reference_seconds = _measured(ctx, reference, exact=own.method == "exact")
        results.append((ctx.problem, result))
        measured.append((reference, result))
        entries.append(_entry(ctx, spec_of(reference), False, result, reference_seconds, not reference.unbiased))
        if spec_of(reference) == "score_function":
            plain = result
    return Comparison(rank_entries(_with_ratios(ctx, entries, measured)), results), plain


def _with_ratios(ctx: CheckContext, entries: list[VarianceEntry], measured: list[tuple[Estimator, Result]]
                 ) -> list[VarianceEntry]:
    """The entries with their variance ratio to the plain score function (where it is among them, the candidate
    included; else the first reference): exact where both are exact, paired where they consume the same noise
    (:func:`varbench.engine.paired.measure_ratio`, one more Monte Carlo pass), else of the two measurements."""
    names = [e.estimator for e in entries]
    if len(entries) < 2:
        return entries
    index = names.index("score_function") if "score_function" in names else 1
    reference, reference_result = measured[index]
    out = []
    for i, (entry, (estimator, result)) in enumerate(zip(entries, measured)):
        ratio = (1.0, 1.0, 1.0, False) if i == index else _ratio(ctx, estimator, result, reference, reference_result)
        out.append(entry._replace(ratio=ratio[0], ratio_lo=ratio[1], ratio_hi=ratio[2], ratio_paired=ratio[3],
                                  ratio_reference=names[index]))
    return out


def _ratio(ctx: CheckContext, estimator: Estimator, result: Result, reference: Estimator, reference_result: Result
           ) -> tuple[float, float, float, bool]:
    """``(ratio, lo, hi, paired)`` of one estimator's total variance to the reference's."""
    if result.method == "exact" and reference_result.method == "exact":
        exact = result.total_variance / reference_result.total_variance if reference_result.total_variance > 0 \
            else float("nan")
        return exact, exact, exact, False
    if not (estimator.stateful or reference.stateful):
        try:
            r = paired.measure_ratio(ctx.subject.problem, estimator, reference, params=ctx.point.params,
                                     num_samples=ctx.level.variance_samples, seed=ctx.seed + VARIANCE_SEED)
            return r.ratio, r.lo, r.hi, True
        except VarbenchError:  # different noise (or a failure the other checks report): independent measurements
            pass
    return (*ratios.unpaired_ratio(result.total_variance, _total_se(result), reference_result.total_variance,
                                   _total_se(reference_result)), False)


def _total_se(result: Result) -> float:
    """The standard error of a result's total variance, from its coordinates' intervals (an upper bound:
    :func:`varbench.reports.ratios.total_variance_se`)."""
    variance = np.concatenate([np.ravel(result.variance[k]) for k in result.variance_ci])
    lo, hi = _coordinate_intervals(result).T
    return ratios.total_variance_se(variance, lo, hi)


def rank_entries(entries: list[VarianceEntry]) -> list[VarianceEntry]:
    """The unbiased entries ranked by total variance (``rank``) and by total variance × evaluations
    (``work_rank``), then the biased ones with rank 0: a lower variance bought with a bias is not better, and the
    bias is not known for every entry, so a biased entry's variance has no place in the ranking."""
    unbiased = sorted((e for e in entries if not e.biased), key=lambda e: e.total_variance)
    by_work = sorted(range(len(unbiased)), key=lambda i: unbiased[i].work_evaluations)
    work_rank = {i: rank for rank, i in enumerate(by_work, 1)}
    ranked = [e._replace(rank=i + 1, work_rank=work_rank[i]) for i, e in enumerate(unbiased)]
    return ranked + sorted((e._replace(rank=0, work_rank=0) for e in entries if e.biased),
                           key=lambda e: e.total_variance)


def variance_row(ctx: CheckContext, comparison: Comparison, own: Result, plain: Result | None) -> CheckRow:
    """The variance check's row: the candidate's total variance, interval and ranks (raw, and × evaluations
    where the ranked estimators differ in evaluations); flagged if its interval lies above the plain score
    function's in every coordinate. A biased candidate's row is BIASED, without a rank or that flag."""
    entries = comparison.entries
    mine = next(e for e in entries if e.candidate)
    others = ", ".join(f"{e.estimator} {e.total_variance:.3g}" + (" (biased)" if e.biased else "")
                       for e in entries if not e.candidate)
    detail = (f"total variance {mine.total_variance:.4g} [{mine.total_variance_lo:.4g}, "
              f"{mine.total_variance_hi:.4g}] ({own.method}), {_ranks(mine, entries)}"
              + (f"; references: {others}" if others else "") + _ratios_text(entries))
    if mine.biased:
        return ctx.row("variance", Status.BIASED, detail, own.total_variance)
    if plain is not None and _above_in_every_coordinate(own, plain):
        return ctx.row("variance", Status.FLAG,
                       detail + "; its interval lies above the plain score function's in every coordinate",
                       own.total_variance)
    return ctx.row("variance", Status.PASS, detail, own.total_variance)


def _ratios_text(entries: list[VarianceEntry]) -> str:
    """``; variance ratio to score_function: mine 0.55 [0.52, 0.57] (paired), rloo 0.1 (exact)``: every entry's
    but the reference's, the candidate first; nothing without ratios."""
    ratios_ = [e for e in sorted(entries, key=lambda e: not e.candidate)
               if e.ratio_reference and e.ratio_reference != e.estimator and np.isfinite(e.ratio)]
    if not ratios_:
        return ""
    def one(e: VarianceEntry) -> str:
        if e.ratio_lo == e.ratio_hi and not e.ratio_paired:
            return f"{e.estimator} {e.ratio:.3g} (exact)"
        how = "paired" if e.ratio_paired else "unpaired"
        return f"{e.estimator} {e.ratio:.3g} [{e.ratio_lo:.3g}, {e.ratio_hi:.3g}] ({how})"
    return f"; variance ratio to {ratios_[0].ratio_reference}: " + ", ".join(one(e) for e in ratios_)


def _ranks(mine: VarianceEntry, entries: list[VarianceEntry]) -> str:
    """The candidate's ranks among the unbiased entries: by variance, and by variance × evaluations when their
    evaluations differ (a K-sample estimator's variance is then not comparable on its own)."""
    if mine.biased:
        return "rank — (biased; variance not comparable)"
    ranked = [e for e in entries if not e.biased]
    text = f"rank {mine.rank} of {len(ranked)}"
    if len({e.evaluations for e in ranked}) > 1:
        text += f", {mine.work_rank} of {len(ranked)} by variance × evaluations"
    return text


def _references(ctx: CheckContext) -> list[Estimator]:
    """The reference estimators that apply to the problem, the candidate itself left out."""
    problem = ctx.subject.problem
    specs = list(ctx.against) if ctx.against is not None else default_references(problem)
    references = []
    for spec in specs:
        reference = catalog.resolve_estimator(spec)
        if spec_of(reference) == ctx.label:
            continue
        try:
            reference.check_applies(problem)
        except NotApplicableError:
            continue
        references.append(reference)
    return references


def _measured(ctx: CheckContext, estimator: Estimator, exact: bool) -> tuple[Result, float]:
    """The variance measurement (exact when ``exact`` and possible, else Monte Carlo) and seconds per estimate
    (from a Monte Carlo run; not timed at the quick level when the measurement is exact)."""
    problem, params = ctx.subject.problem, ctx.point.params
    result = None
    if exact:
        try:
            result = harness.measure(problem, estimator, params=params, method="exact",
                                     exact_budget=ctx.level.exact_budget)
        except NotApplicableError:
            result = None
    if result is not None and ctx.level.name == "quick":
        return result, float("nan")
    timed = harness.measure(problem, estimator, params=params, num_samples=ctx.level.variance_samples,
                            seed=ctx.seed + VARIANCE_SEED)
    return (result if result is not None else timed), timed.run_seconds / timed.num_samples


def _entry(ctx: CheckContext, name: str, candidate: bool, result: Result, seconds_per_estimate: float,
           biased: bool) -> VarianceEntry:
    intervals = _coordinate_intervals(result)
    return VarianceEntry(ctx.problem, ctx.point.label, name, candidate, result.method, result.total_variance,
                         float(np.sum(intervals[:, 0])), float(np.sum(intervals[:, 1])),
                         result.evaluations_per_estimate, result.total_variance * result.evaluations_per_estimate,
                         seconds_per_estimate, result.total_variance * seconds_per_estimate, biased=biased)


#: Relative margin by which an interval must lie above another to count as above: exact intervals have zero width, so
#: two estimators with the same variance (the same estimator written twice) differ only by float rounding, which
#: this covers with room to spare (estimates are computed in float32).
ROUNDING_RTOL = 1e-6


def _above_in_every_coordinate(own: Result, plain: Result) -> bool:
    """Whether ``own``'s variance interval lies above ``plain``'s in every coordinate, beyond float rounding."""
    low, high = _coordinate_intervals(own)[:, 0], _coordinate_intervals(plain)[:, 1]
    return bool(np.all(low > high + ROUNDING_RTOL * np.abs(high)))


def _coordinate_intervals(result: Result) -> np.ndarray:
    """The 95% interval of every coordinate's variance, as rows ``[lo, hi]``."""
    return np.concatenate([np.reshape(result.variance_ci[k], (-1, 2)) for k in result.variance_ci])

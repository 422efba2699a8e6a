"""The discrete-VAE papers' comparison at equal cost: encoder variance of one estimate on 200-latent binarized MNIST.

At the papers' initialization (the ``sbn`` problem's default params on ``data=mnist,latent=200,batch_size=100``,
dynamic binarization, as DisARM, ARMS, Double CV and RODEO train), each estimator is measured with
:func:`varbench.measure` and its variance summed over the ``encoder`` group of ``problem.param_groups()`` (the
decoder's gradient is the same direct term for all of them). Estimators are compared at EQUAL cost evaluations per
estimate (``evaluations_per_estimate``): the K = 2 set (RLOO, DisARM, ARMS, Double CV, RODEO with two samples) and
the K = 4 set (the same with four; DisARM has two evaluations, so its row there is the exact variance of the mean
of two independent DisARM estimates, half its own). The papers' RLOO (each data point's K latent samples with its
own leave-one-out baseline) is ``double_cv`` with α held at 0; varbench's ``rloo`` is listed too, but on ``sbn`` it
draws K separate minibatches and baselines the whole minibatch's cost, a much noisier estimator.

Interval: batch means. Each estimator is measured ``--batches`` times with ``--samples`` estimates and distinct
seeds; every measurement's encoder variance is unbiased, and the 95% interval is Student's t over those
``--batches`` values. (Summing the coordinates' own 95% bounds, ``Result.variance_ci``, is valid whatever their
correlation but far wider: it ignores that the errors of 157,000 coordinates largely cancel in their sum.) The ratio
to RLOO with the same evaluations has a delta-method interval on its log, the two measurements being independent.

Double CV and RODEO learn their control variates (α; the Stein network): before measuring, their state is trained
by ``--warmup`` of their own variance-minimising Adam steps at the same params (``update_samples`` estimates per
step, ``--update-samples``), then frozen. Usage (Markdown on stdout; JSON with ``--json``):

    python benchmarks/discrete_vae_table.py --json /tmp/dvae_linear.json
    python benchmarks/discrete_vae_table.py --architecture nonlinear --sets 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from typing import Any

import jax
import numpy as np
from scipy import stats

import varbench
from varbench.catalog import resolve_estimator, resolve_problem

PROBLEM = "sbn:data=mnist,latent=200,batch_size=100,binarization=dynamic,data_subset=5000"
#: The papers' RLOO: K samples of each data point's latents with that data point's leave-one-out baseline. It is
#: Double CV with α held at 0 (``lr=0``); varbench's ``rloo`` spends its K samples on K separate minibatches with
#: one baseline for the whole minibatch's cost, a different (and far noisier) estimator, listed for reference.
RLOO_PER_POINT = "double_cv:samples={k},lr=0"
SETS = {k: [RLOO_PER_POINT.format(k=k), f"rloo:samples={k}"] + (["disarm"] if k == 2 else [])
        + [f"arms:samples={k}", f"double_cv:samples={k}", f"rodeo:samples={k}"] for k in (2, 4)}
#: Estimators whose per-estimate memory is large at 200 latents (RODEO's Stein operator visits every one-bit
#: neighbour: K × 100 × 200 × 200 network inputs per estimate) get small chunks.
CHUNKS = {"rodeo": 4}


def trained_state(problem: Any, estimator: Any, params: dict, warmup: int, seed: int) -> Any:
    """The estimator's state after ``warmup`` of its own updates at ``params`` (``()`` when stateless)."""
    key_init, key_steps = jax.random.split(jax.random.key(seed))
    state = estimator.init(problem, params, key_init)
    if not estimator.stateful or float(getattr(estimator, "lr", 1.0)) == 0.0:
        return state  # nothing to learn (lr = 0 holds the control at its start)
    step = jax.jit(lambda p, s, k: estimator.update(problem, p, s, k))
    for t in range(warmup):
        state = step(params, state, jax.random.fold_in(key_steps, t))
    return jax.block_until_ready(state)


def control_summary(state: Any) -> float | None:
    """A learned control's size: α itself for Double CV, the norm of the weights otherwise (None if stateless)."""
    if not isinstance(state, dict) or "control" not in state:
        return None
    leaves = [np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree_util.tree_leaves(state["control"])]
    flat = np.concatenate(leaves)
    return float(flat[0]) if flat.size == 1 else float(np.linalg.norm(flat))


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean of independent unbiased values, and its 95% Student-t interval."""
    mean, half = float(np.mean(values)), 0.0
    if len(values) > 1:
        half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def measure_row(problem: Any, spec: str, args: argparse.Namespace) -> dict:
    """One estimator's encoder and decoder variance over ``args.batches`` measurements, and its cost."""
    estimator = resolve_estimator(spec)
    if "update_samples" in {f.name for f in dataclasses.fields(estimator)}:
        estimator = dataclasses.replace(estimator, update_samples=args.update_samples)
    params = {k: jax.numpy.asarray(v) for k, v in problem.default_params().items()}
    groups = problem.param_groups()
    started = time.perf_counter()
    state = trained_state(problem, estimator, params, args.warmup, args.seed)
    warmup_seconds = time.perf_counter() - started
    encoder, decoder, run, compile_s = [], [], 0.0, 0.0
    for b in range(args.batches):
        res = varbench.measure(problem, estimator, num_samples=args.samples, seed=args.seed + 1 + b,
                               state=state if estimator.stateful else None,
                               chunk_size=CHUNKS.get(spec.split(":")[0], args.chunk_size))
        encoder.append(sum(float(np.sum(res.variance[n], dtype=np.float64)) for n in groups["encoder"]))
        decoder.append(sum(float(np.sum(res.variance[n], dtype=np.float64)) for n in groups["decoder"]))
        run, compile_s = run + res.run_seconds, compile_s + res.compile_seconds
    mean, lo, hi = t_interval(np.asarray(encoder))
    evaluations = res.evaluations_per_estimate
    return {"estimator": spec, "evaluations": evaluations, "encoder_variance": mean, "encoder_ci": [lo, hi],
            "encoder_batches": encoder, "decoder_variance": float(np.mean(decoder)),
            "variance_x_evaluations": mean * evaluations, "num_samples": args.samples * args.batches,
            "ms_per_estimate": 1000 * run / (args.samples * args.batches), "compile_seconds": compile_s,
            "warmup_steps": args.warmup if estimator.stateful and float(estimator.lr) else 0,
            "warmup_seconds": warmup_seconds,
            "control": control_summary(state)}


def halved(row: dict) -> dict:
    """The mean of two independent estimates of ``row``'s estimator: half the variance, twice the evaluations."""
    out = {**row, "estimator": f"{row['estimator']} (mean of 2)", "evaluations": 2 * row["evaluations"],
           "ms_per_estimate": 2 * row["ms_per_estimate"]}
    for key in ("encoder_variance", "decoder_variance"):
        out[key] = row[key] / 2
    out["encoder_ci"] = [v / 2 for v in row["encoder_ci"]]
    out["encoder_batches"] = [v / 2 for v in row["encoder_batches"]]
    return out


def add_ratios(rows: list[dict]) -> None:
    """``ratio_to_rloo`` (and its 95% interval) against the papers' RLOO with the same evaluations, in place."""
    for row in rows:
        ref = next((r for r in rows if r["estimator"] == RLOO_PER_POINT.format(k=row["evaluations"])), None)
        if ref is None:
            row["ratio_to_rloo"] = row["ratio_ci"] = None
            continue
        a, b = np.asarray(row["encoder_batches"]), np.asarray(ref["encoder_batches"])
        ratio = a.mean() / b.mean()
        se_log = math.sqrt(np.var(a, ddof=1) / len(a) / a.mean() ** 2 + np.var(b, ddof=1) / len(b) / b.mean() ** 2)
        z = stats.t.ppf(0.975, min(len(a), len(b)) - 1)
        row["ratio_to_rloo"], row["ratio_ci"] = float(ratio), [float(ratio * math.exp(-z * se_log)),
                                                               float(ratio * math.exp(z * se_log))]


def markdown(rows: list[dict]) -> str:
    """The table, one row per estimator, grouped by evaluations."""
    lines = ["| estimator | evaluations | encoder variance [95% CI] | variance × evaluations | ratio to RLOO [95% CI] "
             "| decoder variance | ms / estimate |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lo, hi = r["encoder_ci"]
        ratio = "—" if r["ratio_to_rloo"] is None else (f"{r['ratio_to_rloo']:.4g} "
                                                         f"[{r['ratio_ci'][0]:.4g}, {r['ratio_ci'][1]:.4g}]")
        name = f"`{r['estimator']}`" + (" (RLOO per data point)" if r["estimator"] == RLOO_PER_POINT.format(
            k=r["evaluations"]) else "")
        lines.append(f"| {name} | {r['evaluations']} | {r['encoder_variance']:.4g} [{lo:.4g}, {hi:.4g}] "
                     f"| {r['variance_x_evaluations']:.4g} | {ratio} | {r['decoder_variance']:.3g} "
                     f"| {r['ms_per_estimate']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default=PROBLEM, help="problem spec (default: the 200-latent MNIST sbn)")
    parser.add_argument("--architecture", default="linear", choices=("linear", "nonlinear"))
    parser.add_argument("--sets", type=int, nargs="+", default=[2, 4], choices=sorted(SETS),
                        help="evaluation budgets to compare (2: K=2 set with DisARM; 4: K=4 set)")
    parser.add_argument("--batches", type=int, default=8, help="independent measurements per estimator")
    parser.add_argument("--samples", type=int, default=64, help="estimates per measurement")
    parser.add_argument("--warmup", type=int, default=100, help="variance-minimising steps of learned controls")
    parser.add_argument("--update-samples", type=int, default=4, help="estimates per learning step")
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the rows and settings here")
    args = parser.parse_args()
    spec = args.problem + (",architecture=nonlinear" if args.architecture == "nonlinear" else "")
    problem = resolve_problem(spec)
    rows: list[dict] = []
    for k in args.sets:
        for name in SETS[k]:
            rows.append(measure_row(problem, name, args))
            print(f"# {name}: {rows[-1]['encoder_variance']:.4g} ({rows[-1]['ms_per_estimate']:.0f} ms/estimate)",
                  flush=True)
        disarm = next((r for r in rows if r["estimator"] == "disarm"), None)
        if k == 4 and disarm is not None:
            rows.append(halved(disarm))
    add_ratios(rows)
    print(f"\n{spec}; {args.batches} x {args.samples} estimates each\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"problem": spec, "settings": vars(args), "rows": rows}, out, indent=1)


if __name__ == "__main__":
    main()

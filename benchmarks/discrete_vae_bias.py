"""Bias of the discrete-latent estimators at 200 latent bits, judged against a high-precision reference gradient.

``sbn:data=mnist,latent=200,batch_size=100`` (the binary VAE of the ARMS, Double CV and RODEO papers, linear
model, 256 MNIST images, minibatches of 100) has 2^200 latent configurations per image: no exact gradient. The
reference is :func:`varbench.reference_gradient` with ``estimator="disarm"`` (full batch: no minibatch noise),
the mean of ``--reference-samples`` estimates with its per-coordinate standard error. Each estimator is then
measured on an independent seed and tested coordinate by coordinate with
``z = (mean − ref) / sqrt(se² + ref_se²)``, Holm-corrected over all 314 784 coordinates
(:func:`varbench.agreement.bias_against_reference`). ``disarm`` and ``rloo`` are controls (unbiased by
construction), ``straight_through`` a negative control (biased: the test must reject it). First, the same code
path is validated where enumeration still gives the truth (``latent=4``, 8 images): the reference against the
exact gradient.

The per-coordinate tests are weak: at the defaults a median coordinate's test detects a bias only of the order of
that coordinate's gradient (the estimates at minibatch 100 are noisy; see the table's "detectable" column), so they
catch gross errors (a wrong sign or factor, NaN, straight-through's bias in its worst coordinate), not a bias of a
few percent; more ``--samples`` (or ``--batch-size 256``, 4x smaller standard errors at about the same cost per
estimate) buy power at a proportional price.

    python benchmarks/discrete_vae_bias.py                  # about 10 minutes on 2 CPU cores shared with other jobs
    python benchmarks/discrete_vae_bias.py --write          # and replace its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

import varbench
from varbench.agreement import bias_against_reference, compare_gradients
from varbench.catalog import resolve_problem
from varbench.engine.harness import exact_objective_and_gradient
from varbench.engine.params import prepare_params

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "## Bias at 200 latent bits: ARMS, Double CV and RODEO against a DisARM reference"
#: The model tested, at minibatch size ``--batch-size`` (the reference always uses the full batch).
PROBLEM = "sbn:data=mnist,latent=200,batch_size={}"
SMALL = "sbn:data=mnist,latent=4,data_subset=8"
#: (spec, warmup, chunk_size): the learned control variates are trained a few steps so that they are active when
#: tested; RODEO evaluates its Stein network at all 200 one-bit neighbours of every sample (about 0.25 GB per
#: estimate), so its chunks are small.
ESTIMATORS = [("arms", 0, None), ("double_cv:alpha=1", 5, None), ("rodeo", 5, 8), ("disarm", 0, None),
              ("rloo", 0, None), ("straight_through", 0, None)]


def _flat(per_param: dict) -> np.ndarray:
    return np.concatenate([np.asarray(v, np.float64).ravel() for v in per_param.values()])


def validate_small(samples: int, alpha: float) -> str:
    """The reference path at 4 latent bits against enumeration: one line for the report."""
    problem = resolve_problem(SMALL)
    _, exact = exact_objective_and_gradient(problem, prepare_params(problem))
    mean, se = varbench.reference_gradient(problem, estimator="disarm", num_samples=samples, seed=3)
    out = compare_gradients(mean, se, exact, {k: np.zeros_like(v) for k, v in exact.items()}, alpha=alpha)
    rel = _flat(se)[_flat(exact) != 0] / np.abs(_flat(exact)[_flat(exact) != 0])
    return (f"`{SMALL}`: DisARM reference of {samples} estimates against the enumerated gradient, "
            f"{out.coordinates} coordinates: max |z| = {out.max_abs_z:.2f}, Holm p = {out.p_value:.3g}, "
            f"{'agrees' if out.passed else 'DISAGREES'} (median se / |∇F| = {np.median(rel):.2e}).")


def reference_summary(mean: dict, se: dict, samples: int, seconds: float, problem: str) -> dict:
    """The reference's precision: median standard error, median |∇F_i|, their ratio over moved coordinates."""
    m, s = np.abs(_flat(mean)), _flat(se)
    moved = s > 0
    return {"problem": problem, "samples": samples, "seconds": seconds, "coordinates": m.size,
            "moved": int(moved.sum()),
            "median_se": float(np.median(s[moved])), "median_abs": float(np.median(m[moved])),
            "median_rel": float(np.median(s[moved] / np.maximum(m[moved], 1e-30))),
            "sd_per_estimate": float(np.median(s[moved]) * np.sqrt(samples))}


def judge_estimator(spec: str, warmup: int, chunk_size: int | None, reference: tuple, *, problem: str, samples: int,
                    seed: int, alpha: float) -> dict:
    """One estimator's z-test against the reference: the row of the report."""
    start = time.perf_counter()
    out, res = bias_against_reference(problem, spec, reference, num_samples=samples, seed=seed, alpha=alpha,
                                      warmup=warmup, chunk_size=chunk_size)
    se = _flat(res.grad_se)
    return {"estimator": spec, "samples": samples, "warmup": warmup, "seconds": time.perf_counter() - start,
            "median_se": float(np.median(se[se > 0])), "max_abs_z": out.max_abs_z, "p_value": out.p_value,
            "rejected": int(sum(np.sum(r) for r in out.rejected.values())), "passed": out.passed,
            "eps": res.estimates_per_second}


def render(small: str, ref: dict, rows: list[dict], alpha: float) -> str:
    """The markdown section."""
    z_crit = sps.norm.isf(alpha / (2 * ref["coordinates"]))
    lines = [TITLE, "", f"`python benchmarks/discrete_vae_bias.py --reference-samples {ref['samples']} --samples "
             f"{rows[0]['samples']} --batch-size {ref['problem'].rsplit('=', 1)[1]} --write` (2 shared CPU cores; "
             "seconds are wall-clock). Same code path first validated where enumeration "
             "works:", "", small, "",
             f"Reference at `{ref['problem']}`'s default point: `varbench.reference_gradient(problem, "
             f"estimator=\"disarm\", num_samples={ref['samples']})`, full batch of 256 images "
             f"({ref['seconds']:.0f} s). Of "
             f"{ref['coordinates']} coordinates {ref['moved']} carry noise (the rest are encoder weights of pixels "
             f"that are 0 in every image: exactly 0 in every estimate); over those, median standard error "
             f"{ref['median_se']:.2e} = {ref['sd_per_estimate']:.4f} / sqrt(N), median |∇F_i| "
             f"{ref['median_abs']:.2e}, median se / |∇F_i| = {ref['median_rel']:.2g}.", "",
             f"Each estimator on an independent seed, on `{ref['problem']}`; per-coordinate z = (mean − ref) / "
             f"sqrt(se² + ref_se²), Holm over all coordinates at family-wise alpha = {alpha:g} (a single coordinate "
             f"is rejected beyond |z| = {z_crit:.2f}); p = the smallest Holm-adjusted p-value; detectable = the bias "
             "that one median coordinate's test detects with probability 0.9, (z_crit + 1.28) · sqrt(se² + "
             "ref_se²) at the median standard errors, over the median |∇F_i|; s = seconds including compilation "
             "and warmup:", "",
             "| estimator | estimates | warmup | median se | max \\|z\\| | Holm p | rejected | verdict | detectable "
             "| s |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    powers = []
    for r in rows:
        verdict = "no bias detected" if r["passed"] else "**biased**"
        detectable = (z_crit + sps.norm.isf(0.1)) * np.hypot(r["median_se"], ref["median_se"]) / ref["median_abs"]
        powers.append(detectable)
        lines.append(f"| `{r['estimator']}` | {r['samples']} | {r['warmup']} | {r['median_se']:.2e} | "
                     f"{r['max_abs_z']:.2f} | {r['p_value']:.3g} | {r['rejected']} | {verdict} | {detectable:.0%} | "
                     f"{r['seconds']:.0f} |")
    plural = lambda n: f"{n} coordinate" + "s" * (n != 1)
    names = lambda ok: ", ".join(f"`{r['estimator']}`" + ("" if ok else f" ({plural(r['rejected'])})")
                                 for r in rows if r["passed"] == ok) or "none"
    lines += ["", "`disarm` and `rloo` are controls (unbiased by construction), `straight_through` a negative control "
              f"(biased). No bias detected: {names(True)}; rejected: {names(False)}. The test is weak at this size: "
              f"a median coordinate's test detects only a bias of {min(powers):.0%} to {max(powers):.0%} of the "
              "median |∇F_i|, so it rules out gross errors (a wrong sign or factor, NaN), not a bias of a few "
              "percent; power grows like sqrt(--samples)."]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), leaving every other section as it is."""
    old = RESULTS.read_text(encoding="utf-8")
    if TITLE in old:
        start = old.index(TITLE)
        end = old.find("\n## ", start + len(TITLE))
        new = old[:start] + text + (old[end + 1:] if end >= 0 else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-samples", type=int, default=3000, help="DisARM estimates in the reference")
    parser.add_argument("--samples", type=int, default=600, help="estimates of each estimator tested")
    parser.add_argument("--small-samples", type=int, default=4000, help="estimates in the latent=4 validation")
    parser.add_argument("--batch-size", type=int, default=100, help="minibatch size of the estimators tested")
    parser.add_argument("--alpha", type=float, default=1e-3, help="family-wise level of each estimator's test")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    small = validate_small(args.small_samples, args.alpha)
    print(small, flush=True)
    start = time.perf_counter()
    problem = PROBLEM.format(args.batch_size)
    reference = varbench.reference_gradient(problem, estimator="disarm", num_samples=args.reference_samples, seed=0)
    ref = reference_summary(*reference, args.reference_samples, time.perf_counter() - start, problem)
    print(ref, flush=True)
    rows = []
    for i, (spec, warmup, chunk_size) in enumerate(ESTIMATORS):
        rows.append(judge_estimator(spec, warmup, chunk_size, reference, problem=problem, samples=args.samples,
                                    seed=1 + i, alpha=args.alpha))
        print(rows[-1], flush=True)
    text = render(small, ref, rows, args.alpha)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()

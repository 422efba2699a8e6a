"""Side-by-side throughput of varbench and its peers on one problem, printed as one table from one run.

Problem: ``gaussian:cost=square`` (f(x) = Σ (x − 1)², q = N(1, 1) per coordinate) at dims 1, 10, 100, 1000, for
the score-function and pathwise estimators, with the same number of estimates for every implementation at a dim:

* **varbench**: ``varbench.measure()`` (run time only; compilation is excluded and reported by asv), with the
  fully optimized kernel that runs of 2^22 estimates and more get (``--optimize auto`` measures the fast-compiling
  kernel that runs of this table's size get by default; see ``varbench.engine.compile_tier``).
* **RNG floor**: the same random numbers alone, drawn exactly as the harness draws them (same PRNG, same
  chunk size, same per-chunk ``fold_in``/``split`` and per-estimate key splits, via ``varbench.core.noise``), summed
  in a jitted loop. On CPU these kernels are bounded by the RNG, so this is the ceiling for varbench.
* **naive loop**: a Python loop over a jitted ``jax.grad`` of the per-sample surrogate, one estimate per call;
  it runs far fewer estimates (``--naive-samples``) and its rate is extrapolated.
* **NumPy**: the estimates written out by hand, vectorized over chunks of the same size
  (``default_rng().standard_normal``), reduced to mean and variance per coordinate.

A last table times ``varbench run`` in fresh processes (import + compile + run of 10⁶ estimates) with an empty
persistent compilation cache and then with the cache it filled (``--no-ttfr`` skips it).
* **optax 0.1.8**: ``optax.monte_carlo.score_function_jacobians`` / ``pathwise_jacobians`` in its own virtual
  environment (``benchmarks/peers/requirements-optax.txt``), results passed back as JSON.
* **Pyro**: ``TraceGraph_ELBO`` with vectorized particles on CPU PyTorch, in its own virtual environment
  (``benchmarks/peers/requirements-pyro.txt``).

The machine may be shared, so every implementation is measured ``--repeats`` times in interleaved rounds and
the best round is kept; compare ratios within one run. A second table shows the effect of ``--prng``.

    python benchmarks/compare.py --setup-peers        # once: creates .peers/optax (with varbench) and .peers/pyro
    python benchmarks/compare.py                      # prints the tables (markdown)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = {"optax 0.1.8": "optax", "Pyro": "pyro"}
ESTIMATORS = ("score_function", "pathwise")
K, MEAN, LOG_SCALE = 1.0, 1.0, 0.0


#: The columns that run varbench's chunked kernel or its RNG floor (at least ``--min-chunks`` chunks each).
KERNEL_COLUMNS = ("varbench", "RNG floor", "RNG floor, chunked")


def kernel_samples(dim: int, n: int, min_chunks: int) -> int:
    """Estimates for the kernel columns: ``n``, or ``min_chunks`` of the backend's automatic chunks if that is more
    (an accelerator's chunk holds up to 2^20 estimates: a few chunks measure a call's fixed cost, not the kernel)."""
    from varbench.engine import harness
    return max(n, min_chunks * harness.auto_chunk_size(dim, 2 * dim))


def samples_for(dim: int, base: int, max_elements: float = 2e7) -> int:
    """Estimates per measurement: the largest power of two ≤ ``base`` and ≤ ``max_elements`` / dim (peers that
    hold every estimate must fit in memory; a GPU needs more work per call to be measured at all). Powers of two
    are whole numbers of varbench's chunks, which are too."""
    return 2 ** int(math.floor(math.log2(min(base, int(max_elements) // dim))))


# --- varbench and the floor ----------------------------------------------------------------------------------

def varbench_rate(estimator: str, dim: int, n: int, seed: int, prng: str = "threefry") -> float:
    import varbench
    return varbench.measure(f"gaussian:cost=square,dim={dim}", estimator, num_samples=n, seed=seed,
                            prng=prng).estimates_per_second


_FLOORS: dict = {}


def floor_rate(estimator: str, dim: int, n: int, seed: int, prng: str = "threefry", chunked: bool = False
               ) -> float:
    """The bulk RNG floor: ``jax.random.normal(key, (n, dim))`` summed, jitted (the noise both estimators need,
    drawn in one call). ``chunked`` (and every ``--prng`` other than threefry) draws the same normals chunk by
    chunk from ``fold_in`` keys, one call per chunk, exactly as the harness does (``sample_noise``: one flat draw
    reshaped, 4.7× faster than a ``(chunk, dim)``-shaped draw at dim 10): on CPU the one-call draw of 10⁷ normals
    materializes them and is slower than the chunked one, so both are shown."""
    if chunked and prng == "threefry":
        prng = "threefry_chunked"
    import jax
    import jax.numpy as jnp

    from varbench.core.estimator import batched_noise
    from varbench.core.noise import Noise, sample_noise
    from varbench.engine import harness
    from varbench.engine.prng import make_key

    chunk = harness.auto_chunk_size(dim, 2 * dim)
    if (dim, n, prng) not in _FLOORS:
        if prng == "threefry":  # the one-call draw
            draws = lambda key: jnp.sum(jax.random.normal(key, (n, dim), jnp.float32))
        else:  # the harness's draw: one flat call per chunk (varbench.core.noise), not (chunk, dim)-shaped
            spec = batched_noise(Noise("normal", (dim,)), chunk)

            def draws(key):
                body = lambda i, acc: acc + jnp.sum(sample_noise(spec, jax.random.fold_in(key, i), jnp.float32))
                return jax.lax.fori_loop(0, max(n // chunk, 1), body, jnp.float32(0))
        impl = prng.replace("_chunked", "")
        _FLOORS[dim, n, prng] = jax.jit(draws).lower(make_key(0, impl)).compile()
    compiled = _FLOORS[dim, n, prng]
    key = jax.random.split(make_key(seed, prng.replace("_chunked", "")))[1]
    start = time.perf_counter()
    jax.block_until_ready(compiled(key))
    return n / (time.perf_counter() - start)


def time_to_first_result(samples: float = 1e6) -> list[tuple[str, float, float, float]]:
    """``varbench run`` (gaussian:cost=square, pathwise) in fresh processes with a new, empty persistent cache
    (cold), then again (warm): (label, wall s, compile_seconds, run_seconds)."""
    import tempfile
    rows = []
    with tempfile.TemporaryDirectory(prefix="varbench-ttfr-") as cache:
        env = dict(os.environ, VARBENCH_CACHE_DIR=cache, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
        env.pop("VARBENCH_OPTIMIZE", None)  # what a user's first `varbench run` gets
        cmd = [sys.executable, "-m", "varbench", "run", "--problem", "gaussian:cost=square", "--estimator",
               "pathwise", "--samples", f"{samples:g}", "--format", "json"]
        for label in ("cold cache", "warm cache"):
            start = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - start
            out = json.loads(proc.stdout)
            rows.append((label, wall, out["compile_seconds"], out["run_seconds"]))
    return rows


# --- naive loop and NumPy ------------------------------------------------------------------------------------

def naive_rate(estimator: str, dim: int, n: int, seed: int) -> float:
    """One jitted ``jax.grad`` call per estimate from a Python loop; moments accumulated on the host."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    def surrogate(params, eps):
        mean, log_scale = params
        if estimator == "pathwise":
            return jnp.sum((mean + jnp.exp(log_scale) * eps - K) ** 2)
        x = jax.lax.stop_gradient(mean + jnp.exp(log_scale) * eps)
        log_q = jnp.sum(-0.5 * ((x - mean) / jnp.exp(log_scale)) ** 2 - log_scale)
        return log_q * jnp.sum((x - K) ** 2)

    grad = jax.jit(jax.grad(surrogate))
    params = (jnp.full(dim, MEAN, jnp.float32), jnp.full(dim, LOG_SCALE, jnp.float32))
    key = jax.random.key(seed)
    jax.block_until_ready(grad(params, jnp.zeros(dim)))
    total = np.zeros(2 * dim)
    total_sq = np.zeros(2 * dim)
    start = time.perf_counter()
    for _ in range(n):
        key, sub = jax.random.split(key)
        g = np.concatenate([np.asarray(x) for x in grad(params, jax.random.normal(sub, (dim,)))])
        total += g
        total_sq += g * g
    return n / (time.perf_counter() - start)


def numpy_rate(estimator: str, dim: int, n: int, seed: int) -> float:
    import numpy as np

    from varbench.engine import harness

    rng = np.random.default_rng(seed)
    chunk = harness.auto_chunk_size(dim, 2 * dim)
    mean = np.full(dim, MEAN, np.float32)
    scale = np.exp(np.full(dim, LOG_SCALE, np.float32))
    total = np.zeros(2 * dim)
    total_sq = np.zeros(2 * dim)
    start = time.perf_counter()
    for lo in range(0, n, chunk):
        eps = rng.standard_normal((min(chunk, n - lo), dim), np.float32)
        x = mean + scale * eps
        if estimator == "pathwise":
            dx = 2 * (x - K)
            g = np.concatenate([dx, dx * scale * eps], 1)
        else:
            f = np.sum((x - K) ** 2, 1, keepdims=True)
            g = np.concatenate([eps / scale * f, (eps * eps - 1) * f], 1)
        total += g.sum(0)
        total_sq += (g * g).sum(0)
    return n / (time.perf_counter() - start)


# --- peers in their own environments -------------------------------------------------------------------------

def peer_python(name: str, args: argparse.Namespace) -> Path:
    override = getattr(args, f"{name}_python")
    return Path(override) if override else args.peers_dir / name / "bin" / "python"


def setup_peers(args: argparse.Namespace) -> None:
    for name in PEERS.values():
        venv = args.peers_dir / name
        print(f"creating {venv} from benchmarks/peers/requirements-{name}.txt", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r",
                        str(HERE / "peers" / f"requirements-{name}.txt")], check=True)
    install_varbench_beside_optax(args.peers_dir / PEERS["optax 0.1.8"])


def install_varbench_beside_optax(venv: Path) -> None:
    """varbench (editable) in the optax 0.1.8 environment, for ``benchmarks/peer_battery.py``: its dependencies
    from pyproject.toml except optax, whose 0.1.8 release (the last with ``optax.monte_carlo``) stays."""
    import tomllib

    root = HERE.parent
    requirements = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    keep = [r for r in requirements if not r.lower().startswith(("optax", "jax"))]
    print(f"installing varbench beside optax 0.1.8 in {venv}", flush=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", *keep], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(root)], check=True)


def peer_rates(name: str, cases: list, args: argparse.Namespace) -> tuple[dict, str]:
    """{(estimator, dim): samples/s} from one run of the peer's runner, and its version string."""
    python = peer_python(name, args)
    if not python.exists():
        return {}, f"not installed ({python} missing: run compare.py --setup-peers)"
    job = dict(k=K, mean=MEAN, log_scale=LOG_SCALE, repeats=1, cases=cases)
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    proc = subprocess.run([str(python), str(HERE / "peers" / f"{name}_runner.py"), json.dumps(job)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {}, f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {(r["estimator"], r["dim"]): r["estimates_per_second"] for r in out["rows"]}, out["version"]


# --- the run -------------------------------------------------------------------------------------------------

def best_of(rates: dict, key: tuple, value: float) -> None:
    rates[key] = max(rates.get(key, 0.0), value)


def fmt(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.3g}"


def machine() -> str:
    import jax
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} cores, {jax.default_backend()} ({jax.devices()[0].device_kind}), "
            f"JAX {jax.__version__}, Python {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--samples", type=float, default=2 ** 18,
                        help="estimates per measurement (rounded down to a power of two; fewer at dim 1000)")
    parser.add_argument("--max-elements", type=float, default=2e7,
                        help="cap on estimates × dim per measurement (peers hold every estimate; raise it on a GPU)")
    parser.add_argument("--naive-samples", type=int, default=300)
    parser.add_argument("--min-chunks", type=int, default=16,
                        help="the varbench and RNG-floor columns run at least this many of the kernel's chunks")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best is kept")
    parser.add_argument("--peer-rounds", type=int, default=1,
                        help="rounds that also run the peers (slow: optax's jacfwd is O(dim²) per estimate)")
    parser.add_argument("--prng-dims", type=int, nargs="*", default=[100])
    parser.add_argument("--peers-dir", type=Path, default=HERE.parent / ".peers")
    parser.add_argument("--optax-python", help="python of an environment with optax 0.1.8 (default .peers/optax)")
    parser.add_argument("--pyro-python", help="python of an environment with pyro-ppl (default .peers/pyro)")
    parser.add_argument("--setup-peers", action="store_true", help="create the peers' environments and exit")
    parser.add_argument("--json", type=Path, help="also write every rate here")
    parser.add_argument("--no-ttfr", action="store_true", help="skip the time-to-first-result table")
    parser.add_argument("--optimize", choices=("auto", "fast", "full"), default="full",
                        help="varbench's compile tier (VARBENCH_OPTIMIZE) for the throughput tables (default: full)")
    args = parser.parse_args()
    os.environ["VARBENCH_OPTIMIZE"] = args.optimize  # read when varbench first compiles, and by the subprocesses
    from varbench.engine import settings
    settings.ensure_configured()  # XLA's flags as varbench's kernels get them, before anything starts JAX's backend
    if args.setup_peers:
        setup_peers(args)
        return

    cases = [(e, d, samples_for(d, int(args.samples), args.max_elements)) for e in ESTIMATORS for d in args.dims]
    chunked_floor = lambda e, d, n, seed: floor_rate(e, d, n, seed, chunked=True)
    local = {"varbench": varbench_rate, "RNG floor": floor_rate, "RNG floor, chunked": chunked_floor,
             "naive loop": naive_rate, "NumPy": numpy_rate}
    rates: dict = {}
    versions: dict = {}
    kernel_n = {d: kernel_samples(d, n, args.min_chunks) for _, d, n in cases}
    count = lambda name, d, n: (args.naive_samples if name == "naive loop" else
                                kernel_n[d] if name in KERNEL_COLUMNS else n)
    for e, d, n in cases:  # compile and warm up everything outside the timed rounds
        varbench_rate(e, d, 1000, 0)
        floor_rate(e, d, kernel_n[d], 0)
        chunked_floor(e, d, kernel_n[d], 0)
        for prng in ("rbg", "unsafe_rbg") if d in args.prng_dims else ():
            varbench_rate(e, d, 1000, 0, prng)
            floor_rate(e, d, kernel_n[d], 0, prng)
    for round_ in range(args.repeats):
        print(f"round {round_ + 1}/{args.repeats}", file=sys.stderr, flush=True)
        for e, d, n in cases:
            for name, fn in local.items():
                best_of(rates, (name, e, d), fn(e, d, count(name, d, n), round_ + 1))
            for prng in ("rbg", "unsafe_rbg") if d in args.prng_dims else ():
                best_of(rates, (f"varbench {prng}", e, d), varbench_rate(e, d, kernel_n[d], round_ + 1, prng))
                best_of(rates, (f"RNG floor {prng}", e, d), floor_rate(e, d, kernel_n[d], round_ + 1, prng))
        for label, name in PEERS.items() if round_ < args.peer_rounds else ():
            peer, versions[label] = peer_rates(name, cases, args)
            for (e, d), r in peer.items():
                best_of(rates, (label, e, d), r)

    columns = list(local) + list(PEERS)
    print(f"Machine: {machine()}")
    print("Peers: " + "; ".join(f"{k}: {v}" for k, v in versions.items()))
    print(f"Best of {args.repeats} interleaved rounds (peers in the first {args.peer_rounds}); estimates per second "
          f"(ratio = varbench / column). Naive loop: {args.naive_samples} estimates, extrapolated. Estimates "
          f"'K / N': K for varbench and the RNG floors (at least {args.min_chunks} chunks), N for the others.\n")
    print("| estimator | dim | estimates | " + " | ".join(columns[:1] + [f"{c} (×)" for c in columns[1:]]) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    for e, d, n in cases:
        ours = rates[("varbench", e, d)]
        cells = [fmt(ours)]
        for c in columns[1:]:
            r = rates.get((c, e, d))
            cells.append("—" if r is None else f"{fmt(r)} ({ours / r:.2g}×)")
        estimates = str(n) if kernel_n[d] == n else f"{kernel_n[d]} / {n}"
        print(f"| {e} | {d} | {estimates} | " + " | ".join(cells) + " |")

    if args.prng_dims:
        print("\nEffect of --prng (varbench and its RNG floor, estimates per second; fraction = varbench / floor):\n")
        print("| estimator | dim | " + " | ".join(f"{p}" for p in ("threefry", "rbg", "unsafe_rbg")) + " |")
        print("|---|---:|---:|---:|---:|")
        for e, d, n in cases:
            if d not in args.prng_dims:
                continue
            cells = []
            for p in ("threefry", "rbg", "unsafe_rbg"):
                suffix = "" if p == "threefry" else f" {p}"
                ours, floor = rates[(f"varbench{suffix}", e, d)], rates[(f"RNG floor{suffix}", e, d)]
                cells.append(f"{fmt(ours)} (floor {fmt(floor)}, {ours / floor:.2f})")
            print(f"| {e} | {d} | " + " | ".join(cells) + " |")
    if not args.no_ttfr:
        print("\nTime to first result: `varbench run --problem gaussian:cost=square --estimator pathwise --samples 1e6` "
              "in a fresh process (seconds):\n")
        print("| persistent cache | wall (import + compile + run) | compile_seconds | run_seconds |")
        print("|---|---:|---:|---:|")
        for label, wall, comp, run in time_to_first_result():
            print(f"| {label} | {wall:.2f} | {comp:.2f} | {run:.3f} |")
    if args.json:
        args.json.write_text(json.dumps([dict(impl=k[0], estimator=k[1], dim=k[2], estimates_per_second=v)
                                         for k, v in rates.items()], indent=1))


if __name__ == "__main__":
    main()

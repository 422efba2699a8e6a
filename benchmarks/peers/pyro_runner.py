"""Throughput of Pyro's TraceGraph_ELBO gradients on CPU PyTorch; run by compare.py with the pyro venv's python.

Reads a JSON job from argv[1] and prints one JSON list of {estimator, dim, num_samples, samples_per_second}.
The guide is q = N(mean, exp(log_scale)) over ``dim`` coordinates and the model scores the same square cost,
``pyro.factor(-Σ (x − k)²)`` under a N(0, 1) prior (coordinates in a plate); ``num_particles`` vectorized particles give one averaged
gradient (Pyro does not return per-sample estimates, so this is a lower bound on its work per sample).
score_function marks the guide's sample as non-reparameterizable, which makes TraceGraph_ELBO use the score
function (with its default baselines off); pathwise uses rsample. Particles go in calls of at most 2^24 / dim
(tensors of 64 MB) until the requested count is reached; best of ``repeats`` timed passes.
"""

import math

import json
import sys
import time

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import TraceGraph_ELBO


def rate(estimator: str, dim: int, n: int, job: dict) -> float:
    k = job["k"]
    chunk = 2 ** int(math.floor(math.log2(max(min(n, 2 ** 24 // dim), 1))))
    calls = max(n // chunk, 1)

    def model():
        with pyro.plate("coordinates", dim):
            x = pyro.sample("x", dist.Normal(torch.zeros(dim), 1.0))
        # Outside the plate, like the plain score function: every coordinate sees the whole cost.
        pyro.factor("cost", -((x - k) ** 2).sum(-1, keepdim=True))

    def guide():
        loc = pyro.param("mean", torch.full((dim,), job["mean"]))
        log_scale = pyro.param("log_scale", torch.full((dim,), job["log_scale"]))
        q = dist.Normal(loc, log_scale.exp())
        if estimator == "score_function":
            q = q.has_rsample_(False)
        with pyro.plate("coordinates", dim):
            pyro.sample("x", q)

    elbo = TraceGraph_ELBO(num_particles=chunk, vectorize_particles=True, max_plate_nesting=1)
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    elbo.loss_and_grads(model, guide)  # warm-up
    best = float("inf")
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        for _ in range(calls):
            for p in pyro.get_param_store().values():
                p.grad = None
            elbo.loss_and_grads(model, guide)
        best = min(best, time.perf_counter() - start)
    return calls * chunk / best


def main() -> None:
    job = json.loads(sys.argv[1])
    rows = [dict(estimator=e, dim=d, num_samples=n, samples_per_second=rate(e, d, n, job))
            for e, d, n in job["cases"]]
    print(json.dumps(dict(version=f"pyro {pyro.__version__}, torch {torch.__version__}", rows=rows)))


if __name__ == "__main__":
    main()

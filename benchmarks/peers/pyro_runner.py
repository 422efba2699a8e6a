"""Throughput of Pyro's TraceGraph_ELBO gradients on CPU PyTorch; run by compare.py with the pyro venv's python.

Reads a JSON job from argv[1] and prints one JSON list of {estimator, dim, num_samples, estimates_per_second}.
The guide is q = N(mean, exp(log_scale)) over ``dim`` coordinates and the model scores the same square cost,
``pyro.factor(-Σ (x − k)²)`` under a N(0, 1) prior (coordinates in a plate); ``num_particles`` vectorized particles give one averaged
gradient (Pyro does not return per-sample estimates, so this is a lower bound on its work per sample).
score_function marks the guide's sample as non-reparameterizable, which makes TraceGraph_ELBO use the score
function (with its default baselines off); pathwise uses rsample. Particles go in calls of at most 2^24 / dim
(tensors of 64 MB) until the requested count is reached; best of ``repeats`` timed passes.
"""


import pyro
import pyro.distributions as dist
import torch
from pyro.infer import TraceGraph_ELBO
from runner_common import best_rate, power_of_two_at_most, run_job


def rate(estimator: str, dim: int, n: int, job: dict) -> float:
    k = job["k"]
    chunk = power_of_two_at_most(min(n, 2 ** 24 // dim))
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

    def one_call(seed):
        for p in pyro.get_param_store().values():
            p.grad = None
        elbo.loss_and_grads(model, guide)

    return best_rate(one_call, calls, chunk, job["repeats"])


if __name__ == "__main__":
    run_job(rate, f"pyro {pyro.__version__}, torch {torch.__version__}")


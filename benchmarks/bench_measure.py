"""asv benchmarks of ``varbench.measure`` (JAX is imported in setup so collection stays cheap)."""


class Measure:
    """Throughput of the streaming harness, blocking on the result."""

    params = (["score_function", "pathwise", "measure_valued"], [1, 100])
    param_names = ["estimator", "dim"]
    version = "2026-11-21"
    timeout = 300
    num_samples = 200_000

    def setup(self, estimator, dim):
        import varbench

        self.varbench = varbench
        self.problem = f"gaussian:cost=square,dim={dim}"
        # Compile outside the timed region.
        self.varbench.measure(self.problem, estimator, num_samples=1000, seed=0)

    def time_measure(self, estimator, dim):
        self.varbench.measure(self.problem, estimator, num_samples=self.num_samples, seed=1)

    def track_samples_per_second(self, estimator, dim):
        return self.varbench.measure(self.problem, estimator, num_samples=self.num_samples, seed=2).samples_per_second

    track_samples_per_second.unit = "estimates/s"

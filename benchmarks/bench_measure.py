"""asv benchmarks of ``varbench.measure`` (history of speed, compile time and memory across commits).

Run from the repository root (results and HTML go to the ignored ``.asv/``):

    asv check --python=same                 # the suite imports and its parameters are valid
    asv run --quick --python=same           # one pass against the current environment
    asv publish && asv preview              # HTML history in .asv/html, served locally

JAX and varbench are imported inside ``setup`` so that asv's discovery stays cheap; seeds are fixed;
combinations that do not apply raise ``NotImplementedError`` in ``setup`` (asv's way of skipping them); bump
``version`` only when a benchmark's meaning changes, so history is kept. ``measure()`` returns host NumPy
results, so every timing below blocks until the device has finished.
"""

PROBLEMS = ["gaussian:cost=square", "gaussian:cost=cos,k=2"]
ESTIMATORS = ["score_function", "pathwise", "measure_valued"]


def _setup(problem, estimator, dim, optimize="auto"):
    import varbench

    # The compile tier (varbench.engine.compile_tier): "auto" is what a run of this size gets by default (the
    # fast-compiling kernel below 2^25 scalar evaluations), "full" the fully optimized kernel of long runs.
    varbench.configure(optimize=optimize)
    from varbench.catalog import resolve_estimator, resolve_problem
    from varbench.core.errors import NotApplicableError

    spec = f"{problem},dim={dim}"
    try:
        resolve_estimator(estimator).check_applies(resolve_problem(spec))
    except NotApplicableError as err:
        raise NotImplementedError(str(err)) from None
    return varbench, spec


class Measure:
    """Run time of ``measure()`` per (problem, estimator, dim, samples), compilation excluded."""

    params = (PROBLEMS, ESTIMATORS, [1, 100], [2 ** 12, 2 ** 16], ["auto", "full"])
    param_names = ["problem", "estimator", "dim", "samples", "optimize"]
    version = "2026-11-26.2"
    timeout = 300
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self, problem, estimator, dim, samples, optimize):
        self.varbench, self.spec = _setup(problem, estimator, dim, optimize)
        # Compile outside the timed region: a new sample count or seed reuses the kernel.
        self.varbench.measure(self.spec, estimator, num_samples=1000, seed=0)

    def time_measure(self, problem, estimator, dim, samples, optimize):
        self.varbench.measure(self.spec, estimator, num_samples=samples, seed=1)

    def track_estimates_per_second(self, problem, estimator, dim, samples, optimize):
        return self.varbench.measure(self.spec, estimator, num_samples=samples, seed=2).estimates_per_second

    track_estimates_per_second.unit = "estimates/s"


class Compile:
    """Seconds to lower and compile the kernel (``Result.compile_seconds``) with varbench's and JAX's in-memory
    caches cleared: ``cold`` with the persistent compilation cache off, ``warm`` reading it from disk (a second
    process's cost)."""

    params = (PROBLEMS, ESTIMATORS, [1, 100], ["cold", "warm"], ["auto", "full"])
    param_names = ["problem", "estimator", "dim", "cache", "optimize"]
    version = "2026-11-26.2"
    timeout = 300

    def setup(self, problem, estimator, dim, cache, optimize):
        import tempfile

        import jax

        from varbench.engine import harness, settings
        self.varbench, self.spec = _setup(problem, estimator, dim, optimize)
        self.cache_dir = tempfile.mkdtemp(prefix="varbench-asv-cache-")
        settings.configure(cache_dir=self.cache_dir if cache == "warm" else None, optimize=optimize)
        if cache == "warm":  # fill the persistent cache once, outside the measurement
            self.varbench.measure(self.spec, estimator, num_samples=1000, seed=0)
        harness.clear_cache()
        jax.clear_caches()  # JAX's in-memory executable caches too, or a repeat measures a cache hit

    def teardown(self, problem, estimator, dim, cache, optimize):
        import shutil

        from varbench.engine import settings
        settings.configure()
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    def track_compile_seconds(self, problem, estimator, dim, cache, optimize):
        return self.varbench.measure(self.spec, estimator, num_samples=1000, seed=0).compile_seconds

    track_compile_seconds.unit = "seconds"


class Memory:
    """Peak resident memory of a process running ``measure()``: must not grow with the number of estimates."""

    params = ([100], [2 ** 16, 2 ** 20])
    param_names = ["dim", "samples"]
    version = "2026-11-21.1"
    timeout = 300

    def setup(self, dim, samples):
        self.varbench, self.spec = _setup("gaussian:cost=square", "score_function", dim)
        self.varbench.measure(self.spec, "score_function", num_samples=1000, seed=0)

    def peakmem_measure(self, dim, samples):
        self.varbench.measure(self.spec, "score_function", num_samples=samples, seed=3)

"""Test plugin: estimators that break the estimator contract, each in one way a researcher's code can.

Each is the plain score function except for its defect; the engine refuses every one before compiling, with one line
naming the estimator (tests/varbench/test_broken_plugins.py). ``broken_raise:fixed=PATH`` stops raising once
``PATH`` exists, as a plugin does once its author has fixed it, so a resumed suite can measure the cell again.
"""

import os

import jax
import jax.numpy as jnp

import varbench


def _score(problem, params, noise):
    x = problem.latent(params, noise)
    return jax.grad(lambda p: problem.log_prob(p, x) * problem.cost(params, x))(params)


class _Broken(varbench.Estimator):
    """The plain score function; subclasses plant one defect."""

    def evaluations_per_estimate(self, problem):
        return 1

    def noise(self, problem, params):
        return problem.latent_noise(params)

    def estimate_from_noise(self, problem, params, state, noise):
        return _score(problem, params, noise)


@varbench.register_estimator
@varbench.pytree_dataclass
class BrokenShape(_Broken):
    """Its estimate has three coordinates whatever the params' shape."""

    name = "broken_shape"

    def estimate_from_noise(self, problem, params, state, noise):
        return {k: jnp.zeros(3) for k in params}


@varbench.register_estimator
@varbench.pytree_dataclass
class BrokenCount(_Broken):
    """Its evaluation count is a string."""

    name = "broken_count"

    def evaluations_per_estimate(self, problem):
        return "two"


@varbench.register_estimator
@varbench.pytree_dataclass
class BrokenRaise(_Broken):
    """Raises ValueError while traced, unless the file ``fixed`` exists."""

    name = "broken_raise"
    fixed: str = varbench.option("", "file whose existence stops the estimator from raising", kind=str)

    def estimate_from_noise(self, problem, params, state, noise):
        if not (self.fixed and os.path.exists(self.fixed)):
            raise ValueError("boom")
        return _score(problem, params, noise)


@varbench.register_estimator
@varbench.pytree_dataclass
class BrokenDivide(_Broken):
    """Divides by a Python zero while traced."""

    name = "broken_divide"

    def estimate_from_noise(self, problem, params, state, noise):
        scale = 1 / len(())
        return {k: v * scale for k, v in _score(problem, params, noise).items()}


@varbench.register_estimator
@varbench.pytree_dataclass
class BrokenComplex(_Broken):
    """Returns a complex estimate (whose imaginary part a float32 accumulator would drop silently)."""

    name = "broken_complex"

    def estimate_from_noise(self, problem, params, state, noise):
        return {k: v.astype(jnp.complex64) + 1j for k, v in _score(problem, params, noise).items()}

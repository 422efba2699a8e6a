import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from varbench.core.noise import (
    Bernoulli,
    Noise,
    noise_dimension,
    sample_noise,
)
from varbench.core.quadrature import gauss_rule, piecewise_uniform_rule


# Raw moments E[X^p] of each kind, from their densities (independent of the rules under test).
def _moment(kind, p):
    if kind == "normal":
        return 0.0 if p % 2 else float(special.factorial2(p - 1)) if p else 1.0
    if kind == "uniform":
        return 1.0 / (p + 1)
    if kind == "rayleigh":
        return 2 ** (p / 2) * special.gamma(1 + p / 2)
    if kind == "double_sided_maxwell":
        return 0.0 if p % 2 else integrate.quad(lambda m: m ** (p + 2) * np.exp(-m * m / 2), -np.inf, np.inf)[0] / np.sqrt(2 * np.pi)
    raise AssertionError


@pytest.mark.parametrize("kind", ["normal", "uniform", "rayleigh", "double_sided_maxwell"])
@pytest.mark.parametrize("n", [3, 8, 40])
def test_gauss_rules_are_exact_for_polynomials_up_to_degree_2n_minus_1(kind, n):
    x, w = gauss_rule(kind, n)
    assert w.sum() == pytest.approx(1.0, abs=1e-13)
    for p in range(0, min(2 * n, 12)):
        assert np.sum(w * x ** p) == pytest.approx(_moment(kind, p), rel=1e-9, abs=1e-12 * np.sqrt(_moment(kind, 2 * p))), p


@pytest.mark.parametrize("kind", ["normal", "uniform", "rayleigh", "double_sided_maxwell"])
def test_samplers_are_finite_and_match_moments(kind):
    x = np.asarray(Noise(kind, (400_000,)).sample(jax.random.key(3)), np.float64)
    assert np.all(np.isfinite(x))
    for p in (1, 2, 3, 4):
        m = _moment(kind, p)
        sd = np.sqrt(_moment(kind, 2 * p) - m * m)
        assert abs(x.__pow__(p).mean() - m) < 5 * sd / np.sqrt(x.size), p


def test_sample_noise_uses_independent_keys_per_leaf():
    spec = {"a": Noise("normal", (1000,)), "b": Noise("normal", (1000,))}
    draw = sample_noise(spec, jax.random.key(0))
    assert draw["a"].shape == (1000,) and abs(np.corrcoef(draw["a"], draw["b"])[0, 1]) < 0.15
    assert noise_dimension(spec) == 2000


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="valid kinds"):
        Noise("cauchy", (1,))


def test_bernoulli_block_samples_and_enumerates():
    from varbench.core.noise import Bernoulli
    probs = np.array([0.2, 0.7, 0.5])
    block = Bernoulli(jax.numpy.asarray(probs))
    values, weights = block.enumerate()
    assert values.shape == (8, 3) and block.num_configurations == 8
    assert weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sum(weights[:, None] * values, 0), probs)
    draws = np.asarray(block.sample(jax.random.key(0)))
    assert set(np.unique(draws)) <= {0.0, 1.0}
    many = np.asarray(jax.vmap(block.sample)(jax.random.split(jax.random.key(1), 100_000)))
    np.testing.assert_allclose(many.mean(0), probs, atol=0.01)
    twice = block.repeated(2)
    assert twice.shape == (2, 3) and twice.num_configurations == 64


def test_categorical_block_samples_and_enumerates():
    from varbench.core.noise import Categorical
    logits = np.log(np.array([[0.1, 0.3, 0.6], [0.5, 0.25, 0.25]]))
    block = Categorical(jax.numpy.asarray(logits))
    values, weights = block.enumerate()
    assert values.shape == (9, 2, 3) and weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sum(weights[:, None, None] * values, 0), np.exp(logits))
    many = np.asarray(jax.vmap(block.sample)(jax.random.split(jax.random.key(2), 100_000)))
    np.testing.assert_allclose(many.mean(0), np.exp(logits), atol=0.01)


def test_piecewise_uniform_rule_is_exact_for_step_functions():
    x, w = piecewise_uniform_rule(np.array([0.3, 0.8]), 12)
    step = lambda u: np.where(u < 0.3, 1.0, 0.0) + np.where(u > 0.8, u ** 3, 0.0)
    assert np.sum(w * step(x)) == pytest.approx(0.3 + (1 - 0.8 ** 4) / 4, rel=1e-12)
    block = Noise("uniform", (2,), breakpoints=np.array([[0.3], [0.6]]))
    values, weights = block.table(10)
    assert values.shape[1:] == (2,) and weights.sum() == pytest.approx(1.0)


def test_repeated_block_of_a_discrete_block():
    from varbench.core.noise import Bernoulli, Repeated
    rep = Repeated(Bernoulli(jax.numpy.asarray([0.25])), 3)
    values, weights = rep.table(1)
    assert values.shape == (8, 3, 1) and weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(np.sum(weights[:, None, None] * values, 0), 0.25)
    assert rep.sample(jax.random.key(0)).shape == (3, 1)


def test_uniform_samples_lie_in_the_open_interval():
    # Zero would make log u = -inf in the relaxations (REBAR, RELAX, Gumbel-softmax); one would break log(1 - u).
    u = np.asarray(Noise("uniform", (4_000_000,)).sample(jax.random.key(7)))
    assert u.min() > 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)


@pytest.mark.parametrize("kind", ["normal", "uniform", "rayleigh", "double_sided_maxwell"])
def test_flat_draws_are_the_shaped_draws_of_the_default_generator(kind):
    # Noise is drawn as one flat vector and reshaped (CPU vectorizes the generator along the last axis only);
    # with threefry that must be exactly the draw of the shape itself, so measurements are unchanged by it.
    key, shape = jax.random.key(7), (300, 7, 3)
    shaped = {"normal": lambda: jax.random.normal(key, shape),
              "uniform": lambda: jax.random.uniform(key, shape) + 0.5 * jnp.finfo(jnp.float32).eps,
              "rayleigh": lambda: jnp.sqrt(2.0 * jax.random.exponential(key, shape)),
              "double_sided_maxwell": lambda: jax.random.double_sided_maxwell(key, 0.0, 1.0, shape)}[kind]()
    np.testing.assert_array_equal(Noise(kind, shape).sample(key), shaped)
    probs = jnp.linspace(0.05, 0.95, 21).reshape(7, 3)
    np.testing.assert_array_equal(Bernoulli(probs).sample(key), (jax.random.uniform(key, (7, 3)) < probs) * 1.0)


def test_repeated_discrete_blocks_broadcast_their_one_array():
    from varbench.core.noise import Categorical
    logits = jnp.arange(6.0).reshape(2, 3)
    rep = Categorical(logits).repeated(4)
    assert isinstance(rep, Categorical) and rep.shape == (4, 2, 3) and bool(jnp.all(rep.logits[3] == logits))
    assert Bernoulli(jnp.full(2, 0.3)).repeated(3).shape == (3, 2)

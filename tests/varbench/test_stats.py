import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

from varbench.engine import stats


def _moments_numpy(x):
    m = x.mean(0)
    d = x - m
    return len(x), m, (d ** 2).sum(0), (d ** 3).sum(0), (d ** 4).sum(0)


def test_chunk_merge_equals_direct_moments():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, size=(1000, 3)) * 5 + 100  # skewed, offset: a test of the numerics
    acc = stats.empty_moments(jnp.zeros(3, jnp.float32))
    for start in range(0, 1000, 128):
        block = np.zeros((128, 3), np.float32)
        part = x[start:start + 128]
        block[:len(part)] = part
        valid = jnp.arange(128) < len(part)
        acc = stats.merge(acc, stats.chunk_moments(jnp.asarray(block), valid))
    n, m, m2, m3, m4 = _moments_numpy(x)
    assert float(acc.count) == n
    np.testing.assert_allclose(acc.mean, m, rtol=1e-6)
    np.testing.assert_allclose(acc.m2, m2, rtol=1e-4)
    np.testing.assert_allclose(acc.m3, m3, rtol=1e-3)
    np.testing.assert_allclose(acc.m4, m4, rtol=1e-3)


def test_nonfinite_values_are_counted_not_mixed_in():
    v = jnp.asarray([[1.0], [np.nan], [3.0], [np.inf]])
    m = stats.chunk_moments(v, jnp.asarray([True, True, True, False]))
    assert int(m.nonfinite[0]) == 1 and float(m.mean[0]) == 2.0


def test_summary_fields():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, size=(20000, 1))
    n, m, m2, m3, m4 = _moments_numpy(x)
    s = stats.summarize(stats.Moments(np.float64(n), m, m2, m3, m4, np.zeros(1, int)))
    assert s.variance[0] == pytest.approx(x.var(ddof=1))
    assert s.se[0] == pytest.approx(np.sqrt(x.var(ddof=1) / n))
    assert s.kurtosis[0] == pytest.approx(3.0, abs=0.15)
    assert s.variance_lo[0] < 4.0 < s.variance_hi[0]


@pytest.mark.parametrize("dist", ["normal", "student5", "exponential"])
def test_variance_interval_covers_at_its_nominal_rate(dist):
    # Coverage of the kurtosis-aware 95% interval over many replicates, for light- and heavy-tailed data.
    rng = np.random.default_rng(2)
    reps, n = 2000, 2000
    if dist == "normal":
        x, true = rng.normal(size=(reps, n)), 1.0
    elif dist == "student5":
        x, true = rng.standard_t(5, size=(reps, n)), 5 / 3
    else:
        x, true = rng.exponential(size=(reps, n)), 1.0
    d = x - x.mean(1, keepdims=True)
    m2, m4 = (d ** 2).sum(1), (d ** 4).sum(1)
    var = m2 / (n - 1)
    lo, hi = stats.variance_interval(var, n * m4 / m2 ** 2, n)
    coverage = np.mean((lo <= true) & (true <= hi))
    assert 0.90 <= coverage <= 0.98, coverage
    # The naive normal-theory interval under-covers heavy tails; ours must do clearly better there.
    if dist != "normal":
        chi_lo, chi_hi = (n - 1) * var / sps.chi2.ppf(0.975, n - 1), (n - 1) * var / sps.chi2.ppf(0.025, n - 1)
        assert coverage > np.mean((chi_lo <= true) & (true <= chi_hi)) + 0.05

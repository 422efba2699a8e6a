import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

from varbench.engine import stats


def _moments_numpy(x):
    m = x.mean(0)
    d = x - m
    return len(x), m, (d ** 2).sum(0), (d ** 3).sum(0), (d ** 4).sum(0)


def test_streamed_power_sums_equal_direct_moments():
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, size=(1000, 3)) * 5 + 100  # skewed, offset: a test of the numerics
    acc = stats.empty_power_sums(jnp.zeros(3, jnp.float32))
    step, merged = jax.jit(stats.accumulate), None
    for start in range(0, 1000, 128):
        block = np.zeros((128, 3), np.float32)
        part = x[start:start + 128]
        block[:len(part)] = part
        valid = jnp.arange(128) < len(part)
        acc = step(acc, jnp.asarray(block), valid, jnp.asarray(start == 0))
        chunk = stats.chunk_moments(jnp.asarray(block), valid)  # the host-side merge of chunk moments agrees
        merged = chunk if merged is None else stats.merge(merged, chunk)
    n, m, m2, m3, m4 = _moments_numpy(x.astype(np.float32).astype(np.float64))
    for got in (stats.to_moments(acc), merged):
        assert float(got.count) == n
        np.testing.assert_allclose(got.mean, m, rtol=1e-7)
        np.testing.assert_allclose(got.m2, m2, rtol=1e-5)
        np.testing.assert_allclose(got.m3, m3, rtol=1e-4)
        np.testing.assert_allclose(got.m4, m4, rtol=1e-4)


def test_power_sums_neither_drift_nor_overflow():
    # 4096 chunks of 4096 float32 values around 1e5 with spread 1: a float32 running mean gets stuck within a
    # few ulps (0.008) of 1e5; the compensated, shifted sums must recover the mean to ~1e-6 and the variance.
    # Then values ~1e11 (whose fourth powers overflow float32): the scaled sums stay finite.
    chunks, size = 4096, 4096
    offsets = np.linspace(-0.5, 0.5, size, dtype=np.float32)  # mean 0, variance (size+1)/(12(size-1))
    step = jax.jit(lambda acc, v, first: stats.accumulate(acc, v[:, None], jnp.ones(size, bool), first))
    for centre in (1e5 + 0.3, 3e11):
        values = jnp.asarray(np.float32(centre) + offsets * np.float32(centre * 1e-5))
        acc = stats.empty_power_sums(jnp.zeros(1, jnp.float32))
        for i in range(chunks):
            acc = step(acc, values, jnp.asarray(i == 0))
        got = stats.to_moments(acc)
        exact = np.asarray(values, np.float64)
        assert float(got.count) == chunks * size
        assert got.mean[0] == pytest.approx(exact.mean(), rel=1e-12, abs=0)
        assert got.m2[0] / chunks == pytest.approx(((exact - exact.mean()) ** 2).sum(), rel=1e-5)
        assert np.isfinite(got.m4[0]) and got.m4[0] > 0


def test_nonfinite_estimates_are_counted_not_mixed_in():
    # An estimate with ANY non-finite coordinate is excluded whole and counted once (not once per coordinate).
    v = jnp.asarray([[1.0, 1.0], [np.nan, np.inf], [3.0, 3.0], [np.inf, 0.0], [5.0, np.nan]])
    m = stats.chunk_moments(v, jnp.asarray([True, True, True, False, True]))
    assert int(m.nonfinite) == 2 and float(m.count) == 2 and list(m.mean) == [2.0, 2.0]


def test_every_layout_and_pass_gives_the_same_sums():
    # fallback=False (used off CPU) always sums once with masks; the CPU path sums unmasked and redoes a chunk
    # with masks only when it holds a NaN/inf. axis=-1 takes each chunk transposed, as (coordinates, rows): the
    # CPU layout for few coordinates. Same rows, same sums: clean full chunks, a chunk with non-finite
    # estimates, and a partial last chunk.
    rng = np.random.default_rng(2)
    chunks = [rng.normal(50.0, 3.0, size=(64, 4)).astype(np.float32) for _ in range(3)]
    chunks[1][[3, 7], [0, 2]] = [np.nan, np.inf]
    valid = [np.ones(64, bool), np.ones(64, bool), np.arange(64) < 40]
    got = {}
    for fallback, axis in [(True, 0), (False, 0), (True, -1), (False, -1)]:
        step = jax.jit(lambda acc, v, ok, first, full, fb=fallback, ax=axis: stats.accumulate(
            acc, v, ok, first, full, fallback=fb, axis=ax))
        acc = stats.empty_power_sums(jnp.zeros(4, jnp.float32))
        for i, (c, ok) in enumerate(zip(chunks, valid)):
            block = c if axis == 0 else np.ascontiguousarray(c.T)
            acc = step(acc, jnp.asarray(block), jnp.asarray(ok), jnp.asarray(i == 0), jnp.asarray(bool(ok.all())))
        got[fallback, axis] = stats.to_moments(acc)
    reference = got[True, 0]
    assert int(reference.nonfinite) == 2 and float(reference.count) == 64 + 62 + 40
    for other in got.values():
        assert int(other.nonfinite) == 2 and float(other.count) == float(reference.count)
        for a, b in zip(reference[1:5], other[1:5]):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="axis must be 0 or -1"):
        stats.accumulate(stats.empty_power_sums(jnp.zeros(4)), jnp.zeros((4, 8)), jnp.ones(8, bool), True, axis=1)


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


@pytest.mark.parametrize("block", [0, stats.SUM_BLOCK])
@pytest.mark.parametrize("shape,axis", [((65536, 20), 0), ((20, 65536), -1), ((4096, 200), 0), ((1000, 3), 0)])
def test_one_chunks_power_sums_are_float32_accurate_in_both_layouts(shape, axis, block):
    # Within a chunk XLA sums as a tree, so its float32 error stays near float32's epsilon, and so do 32-sample
    # blocks summed first (block=SUM_BLOCK; 1000 rows are not whole blocks and take the plain sums). A sequential
    # sum (what one variadic lax.reduce over the whole axis compiles to on CPU) is off by up to 4e-5 here.
    rng = np.random.default_rng(3)
    values = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    coords = shape[1] if axis == 0 else shape[0]
    shift, scale = np.full(coords, 0.9, np.float32), np.full(coords, 4.0, np.float32)
    got = np.asarray(jax.jit(lambda v: stats.chunk_power_sums(v, None, jnp.asarray(shift), jnp.asarray(scale),
                                                              axis, block))(jnp.asarray(values)))
    u = (values.astype(np.float64) - 0.9) / 4.0
    along = 0 if axis == 0 else 1
    for p in range(1, 5):
        error = np.abs(got[p] - np.sum(u ** p, along)) / np.sum(np.abs(u) ** p, along)
        assert error.max() < 1e-6, (p, error.max())
    assert np.all(got[0] == values.shape[axis])

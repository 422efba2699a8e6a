"""The ratio of two estimators' total variances, measured on common random numbers (a *paired* measurement).

When two estimators consume the same noise (equal noise specs: :func:`same_noise`), one kernel draws each sample's
noise once and evaluates both on it, so their estimates ``a_i`` and ``b_i`` are correlated; the ratio
``R = Var_total(a) / Var_total(b)`` (variances summed over the gradient's coordinates) is then known far more
precisely than from two independent measurements. Per sample the kernel forms the squared distances to pilot
means, ``A_i = ‖a_i − p_a‖²`` and ``B_i = ‖b_i − p_b‖²`` (``p`` the first chunk's mean, as the Monte Carlo kernel's
pilot), and accumulates the sums of ``A, B, A², B², AB`` (themselves centred on the first chunk's means of A and B)
and of ``a − p_a``, ``b − p_b`` (which correct the pilot centring: ``Σ‖a_i − ā‖² = Σ A_i − n‖ā − p_a‖²``), in
compensated float32 on the device and float64 on the host, as :class:`varbench.engine.stats.PowerSums` does.

The interval is the delta method on ``log R``,
``Var(log R̂) ≈ [Var(A)/V_a² + Var(B)/V_b² − 2 Cov(A, B)/(V_a V_b)] / n``, which holds for any joint law of ``(a_i, b_i)`` with finite fourth moments (the kurtosis of each estimate enters
through Var(A)). The centring on the pilot instead of the final mean changes Var(A) by a relative
O(1/chunk) term (none at all when every sample fits in one chunk), which is neglected. Two independent measurements
give the *unpaired* ratio instead (:mod:`varbench.reports.ratios`, from the two Results' rows).

A stateful estimator's state is prepared (``init``, then ``warmup`` updates, independently for the two estimators)
and frozen, as :func:`varbench.engine.harness.measure` does. Samples run on the first local device only.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as sps

from varbench.core.errors import NonFiniteEstimateError, VarbenchError
from varbench.core.estimator import Estimator, State, batched_noise
from varbench.core.naming import spec_of
from varbench.core.noise import noise_dimension, sample_noise
from varbench.core.problem import Params, Problem
from varbench.engine import _checks, columns, exported_kernels, settings, stats
from varbench.engine._chunks import memory_guard, plan
from varbench.engine._kernels import COMPILED, kernel_subject
from varbench.engine._pairing import keyed as _keyed
from varbench.engine._pairing import same_noise
from varbench.engine._state import prepare_state
from varbench.engine.params import prepare_params
from varbench.engine.prng import DEFAULT_PRNG, make_key
from varbench.engine.subject import Subject

__all__ = ["LEVEL", "Ratio", "measure_ratio", "measure_ratio_batch", "same_noise"]

#: Coverage of the ratio's interval.
LEVEL = 0.95
#: Scalar sums carried before the per-coordinate ones: count, ΣA', ΣB', ΣA'², ΣB'², ΣA'B' (A' = A − pilot mean).
_SCALARS = 6


@dataclasses.dataclass(frozen=True)
class Ratio:
    """``Var_total(estimator) / Var_total(reference)`` with its 95% interval.

    Attributes:
      ratio: the ratio of the total variances (sums over coordinates) of one estimate of each.
      lo: lower end of the 95% interval (delta method on the log of the ratio).
      hi: upper end.
      paired: True: measured on common random numbers (one draw of noise per sample, both estimators evaluated).
      n: samples (pairs of estimates) used.
      variance: the estimator's total variance.
      reference_variance: the reference's total variance.
      compile_seconds: seconds spent compiling the kernel (0 if it was cached).
      run_seconds: seconds spent running it.
    """

    ratio: float
    lo: float
    hi: float
    paired: bool
    n: int
    variance: float
    reference_variance: float
    compile_seconds: float = 0.0
    run_seconds: float = 0.0


class _Pair(NamedTuple):
    """What a paired kernel measures (a pytree, as :class:`Subject`)."""

    problem: Problem
    estimator: Estimator
    reference: Estimator
    params: Params
    state: State = ()
    reference_state: State = ()


class _PairSums(NamedTuple):
    """The paired kernel's loop carry: pilots fixed by the first chunk, and compensated sums ``hi + lo`` of
    ``[count, ΣA', ΣB', ΣA'², ΣB'², ΣA'B', Σu_a (per coordinate), Σu_b (per coordinate)]`` with
    ``u = (g − shift) / scale`` and ``A = ‖u_a‖²``, ``A' = A − centre_a``."""

    shift_a: jax.Array
    shift_b: jax.Array
    scale_a: jax.Array      # () a power of two: A stays far from float32's range whatever the estimates' size
    scale_b: jax.Array
    centre_a: jax.Array     # () the first chunk's mean of A
    centre_b: jax.Array
    hi: jax.Array
    lo: jax.Array
    nonfinite: jax.Array


def _pair_draw(pair: _Pair, chunk_size: int) -> Callable[[jax.Array], tuple[Any, Any]]:
    """A function ``key -> (estimates, reference estimates)`` of one chunk, both from the same noise."""
    problem, est, ref, params, state, ref_state = pair
    if _keyed(est):  # both draw from keys (same_noise): one key per sample, given to both
        one = lambda k: (est.estimate(problem, params, state, k), ref.estimate(problem, params, ref_state, k))
        return lambda key: jax.vmap(one)(jax.random.split(key, chunk_size))
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    spec = batched_noise(est.noise(problem, params), chunk_size)
    both = jax.vmap(lambda n: (est.estimate_from_noise(problem, params, state, n),
                               ref.estimate_from_noise(problem, params, ref_state, n)))
    return lambda key: both(sample_noise(spec, key, dtype))


def _pilot(values: jax.Array, rows: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Shift (the used rows' mean per coordinate) and one scale (a power of two ≥ their largest deviation)."""
    shift, scale = stats._pilot(values, rows, 0)  # pylint: disable=protected-access
    return shift, jnp.max(scale)


def _centred(values: jax.Array, rows: jax.Array, shift: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``u = (g − shift) / scale`` (0 on unused rows) and ``A = ‖u‖²`` per row."""
    u = jnp.where(rows[:, None], (values - shift) * (1 / scale), 0)
    return u, jnp.sum(u * u, axis=1)


def _chunk_step(acc: _PairSums, a: jax.Array, b: jax.Array, valid: jax.Array, first: jax.Array) -> _PairSums:
    """Add one chunk of paired estimates ``(chunk, coordinates)`` to the sums; the first chunk fixes the pilots."""
    finite = jnp.all(jnp.isfinite(a), axis=1) & jnp.all(jnp.isfinite(b), axis=1)
    rows = valid & finite
    count = jnp.sum(rows).astype(a.dtype)
    pilots = jax.lax.cond(first, lambda: (*_pilot(a, rows), *_pilot(b, rows)),
                          lambda: (acc.shift_a, acc.scale_a, acc.shift_b, acc.scale_b))
    ua, big_a = _centred(a, rows, pilots[0], pilots[1])
    ub, big_b = _centred(b, rows, pilots[2], pilots[3])
    # Centre A and B too, so that Var(A) = mean(A'^2) - mean(A')^2 loses nothing to cancellation.
    centres = jax.lax.cond(first, lambda: (jnp.sum(big_a) / jnp.maximum(count, 1), jnp.sum(big_b) / jnp.maximum(
        count, 1)), lambda: (acc.centre_a, acc.centre_b))
    da = jnp.where(rows, big_a - centres[0], 0)
    db = jnp.where(rows, big_b - centres[1], 0)
    scalars = jnp.stack([count, jnp.sum(da), jnp.sum(db), jnp.sum(da * da), jnp.sum(db * db), jnp.sum(da * db)])
    sums = jnp.concatenate([scalars, jnp.sum(ua, axis=0), jnp.sum(ub, axis=0)])
    hi, lo = stats._compensated_add(acc.hi, acc.lo, sums)
    nonfinite = acc.nonfinite + jnp.sum(valid & ~finite).astype(jnp.int32)
    return _PairSums(pilots[0], pilots[2], pilots[1], pilots[3], centres[0], centres[1], hi, lo, nonfinite)


def _kernel(pair: _Pair, key: jax.Array, num_full: jax.Array, remainder: jax.Array, *, chunk_size: int) -> _PairSums:
    """Paired sums of ``num_full`` full chunks and one of ``remainder`` samples (chunk i from ``fold_in(key, i)``)."""
    draw = _pair_draw(pair, chunk_size)
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(pair.params))
    ca = cb = columns.count(pair.params)
    num_chunks = num_full + (remainder > 0).astype(num_full.dtype)

    def body(i: jax.Array, acc: _PairSums) -> _PairSums:
        a, b = draw(jax.random.fold_in(key, i))
        valid = jnp.arange(chunk_size) < jnp.where(i < num_full, chunk_size, remainder)
        return _chunk_step(acc, columns.as_columns(a, chunk_size, dtype), columns.as_columns(b, chunk_size, dtype),
                           valid, i == 0)

    zeros = jnp.zeros(_SCALARS + ca + cb, dtype)
    one, zero = jnp.ones((), dtype), jnp.zeros((), dtype)
    empty = _PairSums(jnp.zeros(ca, dtype), jnp.zeros(cb, dtype), one, one, zero, zero, zeros, zeros,
                      jnp.zeros((), jnp.int32))
    return jax.lax.fori_loop(0, num_chunks, body, empty)


_jitted = jax.jit(_kernel, static_argnames=("chunk_size",))


def _batched_kernel(pairs: _Pair, keys: jax.Array, num_full: jax.Array, remainder: jax.Array, *,
                    chunk_size: int) -> _PairSums:
    """:func:`_kernel` vmapped over grid points that differ only in values (every field but the estimators
    carries a leading grid axis, as does ``keys``)."""
    def one(problem: Problem, params: Params, state: State, ref_state: State, key: jax.Array) -> _PairSums:
        return _kernel(_Pair(problem, pairs.estimator, pairs.reference, params, state, ref_state), key, num_full,
                       remainder, chunk_size=chunk_size)
    return jax.vmap(one)(pairs.problem, pairs.params, pairs.state, pairs.reference_state, keys)


_jitted_batched = jax.jit(_batched_kernel, static_argnames=("chunk_size",))
#: Both kernels' result: one _PairSums of arrays (a grid axis only changes their shapes).
_SUMS_TREE = jax.tree_util.tree_structure(_PairSums(*[0] * len(_PairSums._fields)))


def _run(pair: _Pair, keys: jax.Array, num_samples: int, chunk_size: int, work: int,
         batched: bool) -> tuple[Any, float, float]:
    """Run the (batched) paired kernel, compiled once per argument structure; sums on the host."""
    num_full, remainder = divmod(num_samples, chunk_size)
    if num_full >= 2 ** 31:
        raise VarbenchError("num_samples / chunk_size must be below 2^31; use a larger chunk_size")
    name = "paired_batched_kernel" if batched else "paired_kernel"
    compiled, compile_seconds = exported_kernels.compile_cached(
        COMPILED, name, _jitted_batched if batched else _jitted, (pair, keys, np.int32(0), np.int32(0)),
        {"chunk_size": chunk_size}, _SUMS_TREE, work)
    start = time.perf_counter()
    out = jax.device_get(jax.block_until_ready(compiled(pair, keys, np.int32(num_full), np.int32(remainder))))
    return out, compile_seconds, time.perf_counter() - start


def _ratio(sums: _PairSums, names: str) -> tuple[float, float, float, int, float, float]:
    """``(ratio, lo, hi, n, V_a, V_b)`` from one point's sums, in float64 on the host."""
    f = lambda x: np.asarray(x, np.float64)
    total = f(sums.hi) + f(sums.lo)
    n, s_a, s_b, s_aa, s_bb, s_ab = total[:_SCALARS]
    split = _SCALARS + (len(total) - _SCALARS) // 2
    if int(sums.nonfinite):
        raise NonFiniteEstimateError(f"{names} produced NaN/inf in {int(sums.nonfinite)} of "
                                     f"{int(sums.nonfinite) + int(n)} paired estimates at these params")
    if n < 2:
        raise VarbenchError("a variance ratio needs at least 2 samples")
    d_a, d_b = total[_SCALARS:split] / n, total[split:] / n
    # Σ‖a_i − ā‖² = Σ A_i − n‖ā − p‖², in units of scale²; Var(A'), Cov(A', B') are unchanged by the centring.
    v_a = (n * f(sums.centre_a) + s_a - n * np.dot(d_a, d_a)) / (n - 1)
    v_b = (n * f(sums.centre_b) + s_b - n * np.dot(d_b, d_b)) / (n - 1)
    var_a, var_b = (s_aa - s_a * s_a / n) / (n - 1), (s_bb - s_b * s_b / n) / (n - 1)
    cov = (s_ab - s_a * s_b / n) / (n - 1)
    variance = v_a * f(sums.scale_a) ** 2
    reference = v_b * f(sums.scale_b) ** 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = variance / reference
        log_var = (var_a / v_a ** 2 + var_b / v_b ** 2 - 2 * cov / (v_a * v_b)) / n
        half = sps.norm.ppf(0.5 + LEVEL / 2) * math.sqrt(max(log_var, 0.0)) if np.isfinite(log_var) else np.nan
        lo, hi = (ratio * math.exp(-half), ratio * math.exp(half)) if v_a > 0 and v_b > 0 else (ratio, ratio)
    if not all(np.isfinite(x) for x in (variance, reference, var_a, var_b, cov)):
        raise NonFiniteEstimateError(f"{names}: the paired sums overflowed float32 (estimates too large or too "
                                     "heavy-tailed at these params)")
    return float(ratio), float(lo), float(hi), int(n), float(variance), float(reference)


def _prepared(problems: Sequence[Problem], estimator: Estimator, reference: Estimator,
              params: Sequence[Mapping[str, Any] | None]) -> list[_Pair]:
    """Each grid point as a kernel's pair (no state yet), after every check a measurement makes."""
    for who in (estimator, reference):
        _checks.check_objects(problems, who)
    _checks.check_grid_size(problems, params)
    _checks.check_grid_structure(problems)
    for problem in problems:
        estimator.check_applies(problem)
        reference.check_applies(problem)
    params_np = [prepare_params(p, q) for p, q in zip(problems, params)]
    mine = [kernel_subject(p, estimator, q) for p, q in zip(problems, params_np)]
    theirs = [kernel_subject(p, reference, q) for p, q in zip(problems, params_np)]
    pairs = [_Pair(a.problem, a.estimator, b.estimator, a.params) for a, b in zip(mine, theirs)]
    for pair in pairs:  # before the contract's traces: a pair that cannot be paired is refused at once
        if not same_noise(pair.problem, pair.estimator, pair.reference, pair.params):
            raise VarbenchError(f"estimators {spec_of(estimator)!r} and {spec_of(reference)!r} consume different "
                                "noise, so they cannot be measured on common random numbers; compare two "
                                "independent measurements instead (varbench.reports.ratios.unpaired_ratio)")
    _checks.check_contract(mine)
    _checks.check_contract(theirs)
    return pairs


def _warm(pair: _Pair, key: jax.Array, warmup: int) -> _Pair:
    """The pair with both states prepared (``init`` and ``warmup`` updates, from independent keys), then frozen."""
    one = lambda est, k: prepare_state(Subject(pair.problem, est, pair.params, None), k, warmup)
    return pair._replace(state=one(pair.estimator, jax.random.fold_in(key, 0)),
                         reference_state=one(pair.reference, jax.random.fold_in(key, 1)))


def measure_ratio_batch(problems: Sequence[Problem], estimator: Estimator, reference: Estimator, *,
                        params: Sequence[Mapping[str, Any] | None], num_samples: int, seed: int = 0,
                        chunk_size: int | None = None, warmup: int = 0, prng: str = DEFAULT_PRNG) -> list[Ratio]:
    """Paired variance ratios at many grid points in one compiled kernel (vmapped over the points).

    Grid points may differ only in values (option leaves, params), as for
    :func:`varbench.engine.harness.measure_batch`; point ``i`` uses keys folded from ``seed`` and ``i``, so
    points are independent. A single point runs unbatched, with the keys of point 0.

    Args:
      problems: one problem per grid point, all with the same static options.
      estimator: the estimator whose variance is the numerator.
      reference: the estimator whose variance is the denominator; it must consume the same noise
        (:func:`same_noise`) at every point.
      params: per point, ``{name: value}`` or None for the problem's defaults.
      num_samples: pairs of estimates at each point.
      seed: the PRNG seed.
      chunk_size: samples per chunk (by default from the problem's size times the number of points).
      warmup: updates of a stateful estimator's state before measuring (each estimator from its own key).
      prng: the random number generator (see :func:`varbench.engine.harness.measure`).

    Returns:
      One :class:`Ratio` per point; its seconds are the batch's divided by the number of points.

    Raises:
      VarbenchError: bad input, or estimators that consume different noise (one line).
      NonFiniteEstimateError: an estimate with NaN or inf, or sums that overflowed.
    """
    settings.ensure_configured()
    problems = list(problems)
    _checks.check_run("mc", seed, warmup, prng)
    num_samples = _checks.check_samples(num_samples)
    pairs = _prepared(problems, estimator, reference, params)
    n = len(pairs)
    key_state, key_measure = jax.random.split(make_key(seed, prng))
    point_keys = lambda key: jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    first = pairs[0]
    noise = noise_dimension(first.estimator.noise(first.problem, first.params))
    chunks = plan(noise, 2 * columns.count(first.params), chunk_size, points=n)
    work = num_samples * n * chunks.scalars
    names = f"estimator {spec_of(estimator)!r} or reference {spec_of(reference)!r}"
    with memory_guard(chunks):
        if n == 1:
            pair = _warm(first, point_keys(key_state)[0], int(warmup))
            out, compile_s, run_s = _run(pair, point_keys(key_measure)[0], num_samples, chunks.size, work, False)
            sums = [out]
        else:
            stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])
            batch = _Pair(jax.tree_util.tree_map(stack, *[p.problem for p in pairs]), first.estimator,
                          first.reference, jax.tree_util.tree_map(stack, *[p.params for p in pairs]))
            warm = lambda pr, pa, k: tuple(_warm(batch._replace(problem=pr, params=pa), k, int(warmup))[4:])
            states = jax.vmap(warm)(batch.problem, batch.params, point_keys(key_state))
            batch = batch._replace(state=states[0], reference_state=states[1])
            out, compile_s, run_s = _run(batch, point_keys(key_measure), num_samples, chunks.size, work, True)
            sums = [jax.tree_util.tree_map(lambda x: x[i], out) for i in range(n)]
    ratios = [_ratio(s, names) for s in sums]
    return [Ratio(r, lo, hi, True, count, v, v_ref, compile_s / n, run_s / n) for r, lo, hi, count, v, v_ref in ratios]


def measure_ratio(problem: Problem, estimator: Estimator, reference: Estimator, *,
                  params: Mapping[str, Any] | None = None, num_samples: int, seed: int = 0,
                  chunk_size: int | None = None, warmup: int = 0, prng: str = DEFAULT_PRNG) -> Ratio:
    """``Var_total(estimator) / Var_total(reference)`` measured on common random numbers, with its 95% interval.

    Each sample's noise is drawn once and both estimators are evaluated on it (they must consume the same noise:
    :func:`same_noise`); see the module docstring for the statistic and its interval.

    Args:
      problem: the problem.
      estimator: the estimator whose variance is the numerator.
      reference: the estimator whose variance is the denominator.
      params: the point θ, ``{name: value}`` (missing names take the problem's defaults).
      num_samples: pairs of estimates.
      seed: the PRNG seed.
      chunk_size: samples per chunk (by default from the problem's size).
      warmup: updates of a stateful estimator's state before measuring (each estimator from its own key).
      prng: the random number generator.

    Returns:
      The :class:`Ratio` (``paired=True``).

    Example:
      >>> from varbench.estimators import Pathwise, ScoreFunction
      >>> from varbench.problems import Gaussian
      >>> r = measure_ratio(Gaussian(cost_name="cos"), ScoreFunction(), Pathwise(), num_samples=20_000)
      >>> r.lo < 2.0151 < r.hi   # the exact ratio at N(1, 1), k = 1
      True
    """
    return measure_ratio_batch([problem], estimator, reference, params=[params], num_samples=num_samples, seed=seed,
                               chunk_size=chunk_size, warmup=warmup, prng=prng)[0]

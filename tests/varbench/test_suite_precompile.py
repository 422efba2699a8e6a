"""Compiling the next cell's kernels in the background (varbench.suite._precompile): same numbers, same counts,
errors there never reach the suite."""

import json
import textwrap
import threading

import jax
import numpy as np
import pandas as pd
import pytest

from varbench.core.errors import VarbenchError
from varbench.engine import compile_tier, harness, kernel_cache
from varbench.reports import store
from varbench.suite import _precompile, run_suite

# Three cells: score_function (the reference), pathwise (its kernel and its paired kernel can compile ahead), an
# exact cell (never compiled ahead).
THREE = textwrap.dedent("""
    [[block]]
    name = "pre"
    problem = "gaussian:dim=1,cost=cos"
    estimators = ["score_function", "pathwise"]
    num_samples = 3000
    seeds = [0]
    grid = { k = [0.5, 1.5] }

    [[block]]
    name = "pre_exact"
    problem = "gaussian:dim=1,cost=cos"
    estimators = ["pathwise"]
    method = "exact"
    grid = { k = [1.0] }
""")
# What differs between two runs of the same cells: timings, provenance, counts of compiled kernels.
VARYING = ("seconds", "estimates_per_second", "prov_", "provenance")


def _suite(tmp_path, name, monkeypatch, precompile):
    monkeypatch.setenv(_precompile.ENV, precompile)
    harness.clear_cache()  # every run compiles its kernels (the persistent cache is off in the tests)
    jax.clear_caches()
    out = tmp_path / name
    manifest = run_suite(tmp_path / "three.toml", out, report=False, progress=lambda line: None)
    cells = {path.stem: pd.read_parquet(path) for path in sorted((out / store.CELLS).glob("*.parquet"))}
    return manifest, cells


def _same_values(a, b):
    assert sorted(a) == sorted(b) and len(a) == 3
    for key in a:
        x, y = a[key], b[key]
        assert list(x.columns) == list(y.columns)
        for column in x.columns:
            if any(v in column for v in VARYING):
                continue
            u, v = x[column].to_numpy(), y[column].to_numpy()
            if u.dtype.kind in "fc":
                assert np.array_equal(u, v, equal_nan=True), (key, column)
            else:
                assert [json.dumps(p, default=str) for p in u] == [json.dumps(q, default=str) for q in v], (key, column)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The three cells measured without compiling ahead."""
    tmp_path = tmp_path_factory.mktemp("precompile")
    (tmp_path / "three.toml").write_text(THREE)
    with pytest.MonkeyPatch.context() as monkeypatch:
        return tmp_path, *_suite(tmp_path, "off", monkeypatch, "off")


def test_cells_compiled_ahead_give_identical_cells_and_counts(plain, monkeypatch):
    tmp_path, manifest_off, cells_off = plain
    ready = []
    real, real_call = _precompile.precompile_cell, _precompile.ratio_call

    def spy(cell):
        ready.append((cell.block.name, cell.estimator.label, real(cell), threading.current_thread().name))
        return ready[-1][2]

    def paired_breaks(cell, problems):  # an error while compiling ahead: the cell compiles that kernel itself
        call = real_call(cell, problems)
        return call and (lambda: (_ for _ in ()).throw(RuntimeError("no compiler today")))

    compiled_in, options = [], compile_tier.compiler_options

    def compiling(which):  # called once per kernel compiled by compile_cached
        compiled_in.append(threading.current_thread().name)
        return options(which)

    monkeypatch.setattr(_precompile, "precompile_cell", spy)
    monkeypatch.setattr(_precompile, "ratio_call", paired_breaks)
    monkeypatch.setattr(compile_tier, "compiler_options", compiling)
    manifest_on, cells_on = _suite(tmp_path, "on", monkeypatch, "on")
    # Cell 2 had its kernel compiled in the background thread (its paired kernel failed there); cell 3 is exact.
    assert [r[:3] for r in ready] == [("pre", "pathwise", 1), ("pre_exact", "pathwise", 0)]
    assert all(r[3].startswith("varbench-precompile") for r in ready)
    assert manifest_on.cells_done == 3 and not manifest_on.cells_failed
    _same_values(cells_off, cells_on)
    # Each kernel counts for the cell that uses it (compiled ahead or by itself), with its compile seconds.
    assert manifest_on.compile_counts == manifest_off.compile_counts
    # ... and the cell ran the executables compiled ahead: every compilation counted once, none compiled twice.
    assert sum(name.startswith("varbench-precompile") for name in compiled_in) == 1
    assert len(compiled_in) == sum(manifest_on.compile_counts.values())
    pathwise = next(c for c in cells_on.values() if c["block"].iloc[0] == "pre" and c["estimator"].iloc[0] ==
                    "pathwise")
    assert (pathwise["compile_seconds"] > 0).all()


def test_whatever_compiling_ahead_raises_stays_in_the_background(plain, monkeypatch):
    from varbench.suite import cells_of, load_config, parse_config

    tmp_path = plain[0]
    cell = cells_of(parse_config(load_config(tmp_path / "three.toml"))[0])[1]
    monkeypatch.setattr(_precompile, "measure_call", lambda cell, problems: (_ for _ in ()).throw(MemoryError()))
    assert _precompile.precompile_cell(cell) == 0
    monkeypatch.setattr(_precompile, "ratio_call", lambda cell, problems: lambda: 1 / 0)
    monkeypatch.setattr(_precompile, "measure_call", lambda cell, problems: lambda: [][1])
    assert _precompile.precompile_cell(cell) == 0


def test_a_kernel_compiled_ahead_is_the_one_used_and_counts_once():
    cache = kernel_cache.KernelCache()
    jitted = jax.jit(lambda x: jnp_sin(x) * 2)
    lower = lambda: jitted.lower(np.float32(1.0))

    def ahead():
        with compile_tier.compile_ahead():
            compile_tier.compile_cached(cache, "sig", lower, 1)

    with pytest.raises(compile_tier.CompiledAhead):
        ahead()
    assert len(cache) == 1 and cache.compiled == 0  # kept, not counted yet
    with pytest.raises(compile_tier.CompiledAhead):  # already there: nothing compiled, still stops
        ahead()
    kept = next(iter(cache.entries.values()))
    executable, seconds = compile_tier.compile_cached(cache, "sig", lambda: pytest.fail("compiled again"), 1)
    assert executable is kept and seconds > 0 and cache.compiled == 1
    assert compile_tier.compile_cached(cache, "sig", lower, 1) == (kept, 0.0) and cache.compiled == 1


def jnp_sin(x):
    return jax.numpy.sin(x)


def test_the_switch_is_off_by_default_and_takes_on_or_a_number_of_threads(monkeypatch):
    monkeypatch.delenv(_precompile.ENV, raising=False)
    assert _precompile.threads() == 0
    for value, expected in (("on", 1), (" OFF ", 0), ("3", 3)):
        monkeypatch.setenv(_precompile.ENV, value)
        assert _precompile.threads() == expected


def test_a_bad_switch_is_refused_before_anything_is_created(tmp_path, monkeypatch):
    (tmp_path / "three.toml").write_text(THREE)
    monkeypatch.setenv(_precompile.ENV, "sometimes")
    with pytest.raises(VarbenchError, match=r"VARBENCH_PRECOMPILE must be on, off or a number of threads from 1 to 64; got 'sometimes'"):
        run_suite(tmp_path / "three.toml", tmp_path / "out", report=False)
    assert not (tmp_path / "out").exists()

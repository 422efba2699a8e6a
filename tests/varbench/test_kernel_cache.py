import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.engine import _kernels, compile_tier, harness, kernel_cache

needs_proc = pytest.mark.skipif(kernel_cache.mappings() is None or kernel_cache.mappings_limit() is None,
                                reason="the system does not report memory mappings (no /proc)")


def test_eviction_starts_past_the_fraction_of_the_limit_and_never_where_the_count_is_unknown(monkeypatch):
    evicted = []
    monkeypatch.setattr(kernel_cache, "evict_all", lambda: evicted.append(True))
    monkeypatch.setattr(kernel_cache, "mappings_limit", lambda: 1000)
    monkeypatch.setattr(kernel_cache, "mappings", lambda: int(kernel_cache.EVICT_FRACTION * 1000))
    assert not kernel_cache.make_room() and not evicted
    monkeypatch.setattr(kernel_cache, "mappings", lambda: int(kernel_cache.EVICT_FRACTION * 1000) + 1)
    assert kernel_cache.make_room() and evicted == [True]
    monkeypatch.setattr(kernel_cache, "mappings", lambda: None)
    assert not kernel_cache.make_room()
    monkeypatch.setattr(kernel_cache, "mappings", lambda: 10 ** 6)
    monkeypatch.setattr(kernel_cache, "mappings_limit", lambda: None)
    assert not kernel_cache.make_room() and evicted == [True]


@needs_proc
def test_the_process_reports_its_mappings_and_their_limit():
    held, limit = kernel_cache.mappings(), kernel_cache.mappings_limit()
    assert 0 < held < limit


@needs_proc
def test_evicting_unmaps_the_compiled_code():
    cache = kernel_cache.KernelCache()
    for size in range(1, 41):  # forty distinct executables, each mapping its own code
        compile_tier.compile_cached(cache, size, lambda size=size: jax.jit(
            lambda x: jnp.cumsum(jnp.sin(x)) * jnp.tanh(x)).lower(jnp.ones(size)), work=1)
    assert len(cache) == cache.compiled == 40
    held = kernel_cache.mappings()
    before = kernel_cache.evictions()
    kernel_cache.evict_all()
    assert len(cache) == 0 and cache.compiled == 40 and kernel_cache.evictions() == before + 1
    assert kernel_cache.mappings() < held - 40


def test_near_the_mapping_limit_kernels_are_dropped_and_measurements_go_on_unchanged(monkeypatch):
    harness.clear_cache()
    first = varbench.measure("gaussian:cost=cos,k=2", "pathwise", num_samples=4096, chunk_size=1024)
    assert harness.compile_count() == 1 and len(_kernels.COMPILED) == 1
    before = kernel_cache.evictions()
    monkeypatch.setattr(kernel_cache, "mappings", lambda: 10 ** 6)  # as if the process were at its limit
    monkeypatch.setattr(kernel_cache, "mappings_limit", lambda: 10 ** 6)
    varbench.measure("gaussian:cost=cos,k=2", "score_function", num_samples=4096, chunk_size=1024)
    assert kernel_cache.evictions() == before + 1
    assert len(_kernels.COMPILED) == 1 and harness.compile_count() == 2  # the first kernel was dropped, still counted
    monkeypatch.undo()
    again = varbench.measure("gaussian:cost=cos,k=2", "pathwise", num_samples=4096, chunk_size=1024)
    assert again.compile_seconds > 0 and harness.compile_count() == 3  # compiled (or read from disk) once more
    for name in ("mean", "log_scale"):
        np.testing.assert_array_equal(again.grad_mean[name], first.grad_mean[name])
        np.testing.assert_array_equal(again.variance[name], first.variance[name])


def test_info_shows_the_mappings_against_their_limit(capsys, monkeypatch):
    import json

    from varbench.cli import main

    monkeypatch.setattr(kernel_cache, "mappings", lambda: 1234)
    monkeypatch.setattr(kernel_cache, "mappings_limit", lambda: 65530)
    assert main(["info", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)["memory_maps"]
    assert shown.startswith("1234 of 65530 (in-memory kernels dropped past 75%")
    monkeypatch.setattr(kernel_cache, "mappings", lambda: None)
    assert "not reported" in kernel_cache.info()["memory_maps"]

"""The automatic chunk shrinks for estimators whose intermediates, not their noise or gradient, fill memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from varbench.catalog import resolve_estimator, resolve_problem
from varbench.engine import _chunks, _working_memory, harness
from varbench.engine._kernels import kernel_subject
from varbench.engine.params import prepare_params


def _subject(problem: str, estimator: str):
    p = resolve_problem(problem)
    return kernel_subject(p, resolve_estimator(estimator), prepare_params(p, None, np.float32))


def test_largest_intermediate_sees_inside_loops_and_ignores_keys():
    def f(key, x):
        big = jax.lax.fori_loop(0, 2, lambda i, a: a + jnp.outer(x, x), jnp.zeros((300, 300)))
        return jax.random.normal(key, (3,)).sum() + big.sum()
    closed = jax.make_jaxpr(f)(jax.random.key(0), jnp.ones(300))
    assert _working_memory.largest_intermediate(closed.jaxpr) == 300 * 300 * 4


def test_automatic_chunk_lowered_to_fit_the_working_arrays(monkeypatch):
    # gaussian dim 20000: 60000 noise + gradient scalars per estimate, so the element rule gives its floor, 256.
    subject = _subject("gaussian:dim=20000", "score_function")
    working = _working_memory.working_bytes(subject)
    assert working >= _working_memory.WORKING_COPIES * 20000 * 4
    memory = int(working * 10.5 / _working_memory.WORKING_FRACTION)  # room for 10 estimates' working arrays
    monkeypatch.setattr(_working_memory, "device_memory_bytes", lambda: (memory, "host"))
    assert harness._chunks_of(subject, None).size == 8  # the largest power of two <= 10
    assert harness._chunks_of(subject, 64).size == 64  # a caller's chunk is the caller's
    assert harness._chunks_of(subject, None, points=20).size == 1  # never below one estimate


def test_small_problems_keep_the_element_rule(monkeypatch):
    monkeypatch.setattr(_working_memory, "device_memory_bytes", lambda: (1, "host"))
    subject = _subject("gaussian:dim=100", "score_function")
    assert harness._chunks_of(subject, None).size == _chunks.auto_chunk_size(100, 200) > _chunks.MIN_CHUNK


def test_rodeo_on_the_200_latent_vae_gets_a_chunk_that_fits(monkeypatch):
    # RODEO decodes 200 neighbouring configurations per data point: ~61 MiB of logits per estimate at batch 100, so
    # the floor of 256 estimates asked for more than 60 GB; on a 16 GiB machine the rule gives 16 estimates.
    monkeypatch.setattr(_working_memory, "device_memory_bytes", lambda: (16 * 2 ** 30, "host"))
    subject = _subject("sbn:data=mnist,latent=200,batch_size=100,binarization=dynamic", "rodeo")
    assert harness._chunks_of(subject, None).size == 16

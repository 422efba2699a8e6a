"""Lowered kernels kept on disk (varbench.engine.exported_kernels): read back with the same numbers as a traced
kernel, keyed on everything that decides the program, never kept for code varbench cannot hash, and a damaged
entry only costs a trace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import varbench
from varbench.engine import compile_cache, exported_kernels, harness
from varbench.engine.paired import measure_ratio
from varbench.estimators import Pathwise, ScoreFunction
from varbench.problems import Gaussian

PROBLEM = Gaussian(cost_name="cos", dim=2)
PARAMS = {"mean": np.array([0.7, -0.3], np.float32), "log_scale": np.array([-0.2, 0.1], np.float32)}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A kernel store in ``tmp_path`` (the test suite runs with the compilation cache off), with fresh counters and
    no executable held in this process from before."""
    monkeypatch.setattr(compile_cache, "directory", lambda: tmp_path)
    monkeypatch.setattr(exported_kernels, "counts", {"stored": 0, "loaded": 0})
    harness.clear_cache()
    yield tmp_path / exported_kernels.FOLDER
    harness.clear_cache()


def _entries(folder):
    return sorted(p.name for p in folder.glob("*" + exported_kernels._SUFFIX)) if folder.exists() else []


def _measure(estimator, method="mc"):
    harness.clear_cache()  # a new process, as far as compiled kernels go
    kwargs = {"num_samples": 3000, "chunk_size": 512} if method == "mc" else {"method": "exact"}
    return harness.measure(PROBLEM, estimator, params=PARAMS, seed=3, **kwargs)


def _same(a, b):
    for field in ("grad_mean", "variance", "variance_ci"):
        jax.tree_util.tree_map(np.testing.assert_array_equal, getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("method", ["mc", "exact"])
def test_a_kept_kernel_is_read_back_and_gives_the_traced_kernels_numbers(store, monkeypatch, method):
    first = _measure(ScoreFunction(), method)
    kept = _entries(store)
    assert kept and exported_kernels.counts == {"stored": len(kept), "loaded": 0}
    again = _measure(ScoreFunction(), method)
    assert _entries(store) == kept and exported_kernels.counts == {"stored": len(kept), "loaded": len(kept)}
    monkeypatch.setattr(compile_cache, "directory", lambda: None)  # cache off: traced as before the store
    traced = _measure(ScoreFunction(), method)
    _same(first, again)
    _same(first, traced)


def test_the_paired_kernel_is_kept_too(store):
    def ratio():
        harness.clear_cache()
        return measure_ratio(PROBLEM, ScoreFunction(), Pathwise(), params=PARAMS, num_samples=2000, seed=1)

    first = ratio()
    assert exported_kernels.counts["stored"] >= 1
    again = ratio()
    assert exported_kernels.counts["loaded"] == exported_kernels.counts["stored"]
    assert (first.ratio, first.lo, first.hi) == (again.ratio, again.lo, again.hi)


@varbench.pytree_dataclass
class OutsideScore(ScoreFunction):
    """The score function as a class of a plugin's module (this test's), not registered."""


def test_a_plugins_estimator_is_traced_every_time(store):
    # Its source is outside the hashed packages: an edit to it must never meet a program kept from before.
    _measure(OutsideScore())
    assert _entries(store) == [] and exported_kernels.counts == {"stored": 0, "loaded": 0}


def test_a_new_environment_or_source_is_a_new_entry(store, monkeypatch):
    _measure(Pathwise())
    before = _entries(store)
    environment = exported_kernels._environment()
    monkeypatch.setattr(exported_kernels, "_environment", lambda: (environment[0] + "edited",) + environment[1:])
    _measure(Pathwise())
    after = _entries(store)
    assert len(after) == 2 * len(before) and set(before) < set(after)
    assert exported_kernels.counts["loaded"] == 0


def test_the_environment_holds_the_source_digest_versions_and_the_flags_in_force():
    source, versions, backend, _, flags = exported_kernels._environment()
    assert len(source) == 64 and versions[0] == jax.__version__ and backend == jax.default_backend()
    with jax.enable_x64(not jax.config.jax_enable_x64):  # a block that changes a flag changes the key
        inside = exported_kernels._environment()
    assert dict(inside[-1])["jax_enable_x64"] != dict(flags)["jax_enable_x64"] and inside[:-1] == (source, versions,
                                                                                                   backend, _)
    assert exported_kernels._environment()[-1] == flags


def test_a_damaged_entry_is_written_again_and_the_numbers_hold(store):
    first = _measure(Pathwise())
    for path in store.iterdir():
        path.write_bytes(b"not a kernel")
    again = _measure(Pathwise())
    assert exported_kernels.counts["loaded"] == 0 and exported_kernels.counts["stored"] == 2 * len(_entries(store))
    _same(first, again)
    assert all(p.read_bytes() != b"not a kernel" for p in store.iterdir())


def test_what_cannot_be_keyed_or_is_shaped_otherwise_is_not_kept(store):
    def kernel(x, *, power):
        return {"y": jnp.sum(x ** power)}

    x = jnp.ones(3)
    out = jax.tree_util.tree_structure({"y": 0})
    assert exported_kernels.lower("k", kernel, (x,), {"power": lambda: 2}, out) is None  # a callable option
    assert exported_kernels.lower("k", kernel, (x,), {"power": 2}, jax.tree_util.tree_structure((0, 0))) is None
    assert _entries(store) == []
    lowered = exported_kernels.lower("k", kernel, (x,), {"power": 2}, out)
    assert lowered.compile()(x) == {"y": 3.0} and len(_entries(store)) == 1

    class Local(tuple):  # a pytree node from outside varbench's packages
        pass

    jax.tree_util.register_pytree_node(Local, lambda t: (tuple(t), None), lambda _, c: Local(c))
    assert exported_kernels.lower("k", lambda t, power: t[0] ** power, (Local((x,)),), {"power": 2},
                                  jax.tree_util.tree_structure(0)) is None


def test_without_a_cache_nothing_is_kept(monkeypatch):
    monkeypatch.setattr(compile_cache, "directory", lambda: None)
    assert exported_kernels.lower("k", lambda x: x, (jnp.ones(2),), {}, jax.tree_util.tree_structure(0)) is None

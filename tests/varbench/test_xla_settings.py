"""Importing varbench leaves XLA_FLAGS alone; configuring (the CLI first thing, the engine before it first touches
JAX) turns XLA's multi-threaded Eigen pool off (it wedged mid-suite), unless the user chose."""

import os
import subprocess
import sys

IMPORT = "import os, varbench; print(os.environ.get('XLA_FLAGS', ''))"
CONFIGURE = "import os, varbench; varbench.configure({}); print(os.environ.get('XLA_FLAGS', ''))"
EIGEN = "--xla_cpu_multi_thread_eigen=false"
YNN = "--xla_cpu_experimental_ynn_fusion_type=-LIBRARY_FUSION_TYPE_REDUCE"


def flags(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "VARBENCH_XLA_MULTI_THREAD_EIGEN")}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_varbench_changes_nothing():
    assert flags(IMPORT) == ""
    assert flags(IMPORT, XLA_FLAGS="--xla_dump_to=/nowhere") == "--xla_dump_to=/nowhere"


def test_single_threaded_eigen_is_the_default_and_other_flags_are_kept():
    assert flags(CONFIGURE.format("")) == f"{EIGEN} {YNN}"
    assert flags(CONFIGURE.format(""), XLA_FLAGS="--xla_dump_to=/nowhere") == f"--xla_dump_to=/nowhere {EIGEN} {YNN}"
    # Configured twice (the CLI, then a worker's setup): the flag is added once.
    assert flags("import os, varbench; varbench.configure(); varbench.configure(); "
                 "print(os.environ['XLA_FLAGS'])") == f"{EIGEN} {YNN}"


def test_the_users_choice_wins():
    assert flags(CONFIGURE.format(""), XLA_FLAGS="--xla_cpu_multi_thread_eigen=true") == \
        f"--xla_cpu_multi_thread_eigen=true {YNN}"
    assert flags(CONFIGURE.format(""), VARBENCH_XLA_MULTI_THREAD_EIGEN="1") == YNN
    assert flags(CONFIGURE.format("xla_multi_thread_eigen=True")) == YNN
    ynn_on = "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_REDUCE"
    assert flags(CONFIGURE.format(""), XLA_FLAGS=ynn_on) == f"{ynn_on} {EIGEN}"
    # Switched back on before JAX starts: the flag varbench added is taken back, the user's others stay.
    assert flags("import os, varbench; varbench.configure(); varbench.configure(xla_multi_thread_eigen=True); "
                 "print(os.environ['XLA_FLAGS'])", XLA_FLAGS="--xla_dump_to=/nowhere") == f"--xla_dump_to=/nowhere {YNN}"


def test_measuring_configures_before_jax_starts():
    code = ("import os, varbench; varbench.measure('gaussian', 'pathwise', num_samples=10); "
            "print(os.environ.get('XLA_FLAGS', ''))")
    assert flags(code) == f"{EIGEN} {YNN}"


# A reduction and a contraction with a broadcast scalar, which XLA's CPU backend (jaxlib 0.10) fuses into one YNNPACK
# "reduce" fusion that reads uninitialised memory (NaN and values near 1e37) unless that fusion is off.
FUSED = ("import numpy as np, varbench; varbench.configure(); import jax, jax.numpy as jnp; "
         "f = jax.jit(lambda a, c, w: c @ jnp.broadcast_to(w, (4, 784)) + a.sum((1, 2))); "
         "rng = np.random.default_rng(0); a = rng.normal(size=(784, 3, 5)).astype('f4'); "
         "c = rng.normal(size=(16, 4)).astype('f4'); "
         "print(float(np.max(np.abs(np.asarray(f(a, c, np.float32(0))) - a.sum((1, 2))))))")


def test_the_miscompiled_fusion_is_off():
    assert float(flags(FUSED, JAX_PLATFORMS="cpu")) < 1e-4

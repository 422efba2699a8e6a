"""Importing varbench leaves XLA_FLAGS alone; configuring (the CLI first thing, the engine before it first touches
JAX) turns XLA's multi-threaded Eigen pool off (it wedged mid-suite), unless the user chose."""

import os
import subprocess
import sys

IMPORT = "import os, varbench; print(os.environ.get('XLA_FLAGS', ''))"
CONFIGURE = "import os, varbench; varbench.configure({}); print(os.environ.get('XLA_FLAGS', ''))"


def flags(code: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "VARBENCH_XLA_MULTI_THREAD_EIGEN")}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_varbench_changes_nothing():
    assert flags(IMPORT) == ""
    assert flags(IMPORT, XLA_FLAGS="--xla_dump_to=/nowhere") == "--xla_dump_to=/nowhere"


def test_single_threaded_eigen_is_the_default_and_other_flags_are_kept():
    assert flags(CONFIGURE.format("")) == "--xla_cpu_multi_thread_eigen=false"
    assert flags(CONFIGURE.format(""), XLA_FLAGS="--xla_dump_to=/nowhere") == \
        "--xla_dump_to=/nowhere --xla_cpu_multi_thread_eigen=false"
    # Configured twice (the CLI, then a worker's setup): the flag is added once.
    assert flags("import os, varbench; varbench.configure(); varbench.configure(); "
                 "print(os.environ['XLA_FLAGS'])") == "--xla_cpu_multi_thread_eigen=false"


def test_the_users_choice_wins():
    assert flags(CONFIGURE.format(""), XLA_FLAGS="--xla_cpu_multi_thread_eigen=true") == \
        "--xla_cpu_multi_thread_eigen=true"
    assert flags(CONFIGURE.format(""), VARBENCH_XLA_MULTI_THREAD_EIGEN="1") == ""
    assert flags(CONFIGURE.format("xla_multi_thread_eigen=True")) == ""
    # Switched back on before JAX starts: the flag varbench added is taken back, the user's others stay.
    assert flags("import os, varbench; varbench.configure(); varbench.configure(xla_multi_thread_eigen=True); "
                 "print(os.environ['XLA_FLAGS'])", XLA_FLAGS="--xla_dump_to=/nowhere") == "--xla_dump_to=/nowhere"


def test_measuring_configures_before_jax_starts():
    code = ("import os, varbench; varbench.measure('gaussian', 'pathwise', num_samples=10); "
            "print(os.environ.get('XLA_FLAGS', ''))")
    assert flags(code) == "--xla_cpu_multi_thread_eigen=false"

"""varbench turns XLA's multi-threaded Eigen pool off on import (it wedged mid-suite), unless the user chose."""

import os
import subprocess
import sys

CODE = "import os, varbench; print(os.environ.get('XLA_FLAGS', ''))"


def flags(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "VARBENCH_XLA_MULTI_THREAD_EIGEN")}
    return subprocess.run([sys.executable, "-c", CODE], env={**base, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_single_threaded_eigen_is_the_default_and_other_flags_are_kept():
    assert flags() == "--xla_cpu_multi_thread_eigen=false"
    assert flags(XLA_FLAGS="--xla_dump_to=/nowhere") == "--xla_dump_to=/nowhere --xla_cpu_multi_thread_eigen=false"


def test_the_users_choice_wins():
    assert flags(XLA_FLAGS="--xla_cpu_multi_thread_eigen=true") == "--xla_cpu_multi_thread_eigen=true"
    assert flags(VARBENCH_XLA_MULTI_THREAD_EIGEN="1") == ""

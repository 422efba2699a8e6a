"""Where and when a measurement was made: the one place that looks up versions, devices, host and git commit.

Used by the suite (each cell's ``prov_*`` columns and the manifest's runs), by ``varbench trace`` and by
``varbench check`` (its store's manifest), so that every store records its provenance the same way.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

#: the longest command line a manifest records (longer ones are cut with "...")
MAX_COMMAND_CHARS = 300

_process: dict[str, Any] = {}


def git_commit() -> str | None:
    """The commit of the checkout varbench runs from, or None (an installed copy, no git)."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    """The current time in UTC, ISO 8601 to the second (the manifest's and the cells' time stamps)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    """This process's command line as a manifest records it (at most :data:`MAX_COMMAND_CHARS` characters)."""
    text = " ".join(sys.argv) if sys.argv and sys.argv[0] else "python"
    return text if len(text) <= MAX_COMMAND_CHARS else text[:MAX_COMMAND_CHARS - 3] + "..."


def environment() -> dict[str, Any]:
    """Versions (varbench, JAX, NumPy, Python), platform, JAX backend and devices, and the git commit."""
    from varbench.engine import settings

    settings.ensure_configured()  # asking for the devices starts JAX's backend: apply XLA's flags first
    import jax
    import numpy as np

    from varbench import __version__
    return dict(varbench_version=__version__, jax_version=jax.__version__, numpy_version=np.__version__,
                python=sys.version.split()[0], platform=platform.platform(), backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()], git_commit=git_commit())


def process_provenance() -> dict[str, Any]:
    """Where this process computes: git commit, varbench and JAX versions, backend, devices, host and pid (looked up
    once per process), and the Dask worker's address when it is one."""
    if not _process:
        env = environment()
        _process.update(git_commit=env["git_commit"], varbench_version=env["varbench_version"],
                        jax_version=env["jax_version"], backend=env["backend"], devices=", ".join(env["devices"]),
                        host=socket.gethostname(), pid=os.getpid())
    worker = None
    if "distributed" in sys.modules:  # only a Dask worker has one
        try:
            from distributed import get_worker
            worker = get_worker().address
        except (ImportError, ValueError):
            worker = None
    return dict(_process, worker=worker)

"""A trace's saved checkpoints: where each is written, how it is written, and the spec that measures at one."""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from varbench.catalog import resolve_problem, spec_of
from varbench.core.errors import VarbenchError
from varbench.core.params_file import save_params_file
from varbench.core.pytree import options_of
from varbench.reports.store import atomic_write
from varbench.spec import format_spec, parse_spec


def checkpoint_path(folder: str | os.PathLike, step: int) -> str:
    """Where ``trace(..., save_params=folder)`` writes the params of checkpoint ``step``.

    Args:
      folder: the trace's ``save_params`` directory.
      step: the optimisation step of the checkpoint.

    Returns:
      ``folder/step_{step:06d}.npz``.
    """
    return os.path.join(os.fspath(folder), f"step_{int(step):06d}.npz")


def params_file_spec(problem: Any, path: str | os.PathLike) -> str | None:
    """The spec of ``problem`` with its params read from ``path``.

    Args:
      problem: a problem spec or object.
      path: a saved checkpoint (:func:`checkpoint_path`).

    Returns:
      The spec with every option explicit, as in records, and ``params_file=path``; ``None`` if the problem has
      no ``params_file`` option (pass its values with ``--param`` instead).

    Example: ``params_file_spec("linear_vae", "run/step_000100.npz")`` →
    ``"linear_vae:data_subset=256,...,params_file=run/step_000100.npz"``.
    """
    problem = resolve_problem(problem)
    if "params_file" not in options_of(type(problem)):
        return None
    name, options = parse_spec(spec_of(problem))
    return format_spec(name, {**options, "params_file": os.fspath(path)})


def save_checkpoint(folder: str | os.PathLike, step: int, params: Mapping[str, Any]) -> str:
    """Write ``params`` to :func:`checkpoint_path` atomically.

    Written with :func:`varbench.reports.store.atomic_write`, so a killed trace never leaves a truncated file under a
    checkpoint's name, and writing the same step again simply replaces it. The format is
    :func:`varbench.core.params_file.save_params_file`'s (what ``params_file`` loads).

    Args:
      folder: an existing, writable directory.
      step: the optimisation step of the checkpoint.
      params: ``{name: array}``.

    Returns:
      The path written.
    """
    path = checkpoint_path(folder, step)
    arrays = {k: np.asarray(v) for k, v in params.items()}
    try:
        atomic_write(path, lambda tmp: save_params_file(tmp, arrays), suffix=".tmp.npz")
    except OSError as err:
        raise VarbenchError(f"cannot write params to {path!r}: {err.strerror or err}") from None
    return path


def writable_folder(path: Any) -> str:
    """``path`` as a created, writable directory, checked before any work so a bad path fails in a second."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise VarbenchError(f"save_params must be a directory path; got {path!r}")
    folder = os.fspath(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise VarbenchError(f"save_params {folder!r} is not a usable directory ({err.strerror or err}); give a "
                            f"directory that exists or can be created") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VarbenchError(f"save_params {folder!r} is not writable; give a writable directory")
    return folder

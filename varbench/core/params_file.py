"""Params as files: an ``.npz`` archive keyed by parameter name (written by ``varbench trace --save-params``, read
by the amortized problems' ``params_file`` option). NumPy only, so every layer may use it."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from varbench.core.errors import VarbenchError


def load_params_file(path: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Parameters from an ``.npz`` archive keyed by parameter name (the format written by ``varbench trace``)."""
    if not os.path.isfile(path):
        raise VarbenchError(f"params_file {path!r} does not exist; give an .npz file with keys {', '.join(shapes)}")
    with np.load(path) as archive:
        missing = [k for k in shapes if k not in archive.files]
        if missing:
            raise VarbenchError(f"params_file {path!r} lacks {', '.join(missing)}; valid keys: {', '.join(shapes)}")
        out = {k: np.asarray(archive[k], np.float32) for k in shapes}
    for k, shape in shapes.items():
        if out[k].shape != tuple(shape):
            raise VarbenchError(f"params_file {path!r}: {k!r} has shape {out[k].shape}, expected {tuple(shape)}")
    return out


def save_params_file(path: str, params: dict[str, Any]) -> None:
    """Write params in the format :func:`load_params_file` reads."""
    np.savez(path, **{k: np.asarray(v) for k, v in params.items()})

"""Params as files: an ``.npz`` archive keyed by parameter name (written by ``varbench trace --save-params``, read
by the amortized problems' ``params_file`` option). NumPy only, so every layer may use it."""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np

from varbench.core.errors import VarbenchError


def load_params_file(path: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Parameters from an ``.npz`` archive keyed by parameter name (the format written by ``varbench trace``)."""
    if not os.path.isfile(path):
        raise VarbenchError(f"params_file {path!r} does not exist; give an .npz file with keys {', '.join(shapes)}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # not a NumPy file at all (random bytes, empty, a pickle)
        raise VarbenchError(f"params_file {path!r} is not an .npz archive of arrays ({type(err).__name__}); give one "
                            f"with keys {', '.join(shapes)}, as written by 'varbench trace --save-params'") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a single .npy array has no parameter names
        raise VarbenchError(f"params_file {path!r} is a single array, not an .npz archive with keys "
                            f"{', '.join(shapes)}")
    with archive:
        missing = [k for k in shapes if k not in archive.files]
        if missing:
            raise VarbenchError(f"params_file {path!r} lacks {', '.join(missing)}; valid keys: {', '.join(shapes)}")
        out = {}
        for k in shapes:
            try:
                value = archive[k]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # corrupt member, object array
                raise VarbenchError(f"params_file {path!r}: {k!r} is not a readable array ({type(err).__name__})"
                                    ) from None
            if value.dtype.kind not in "iuf":
                raise VarbenchError(f"params_file {path!r}: {k!r} must hold real numbers; got dtype {value.dtype}")
            out[k] = np.asarray(value, np.float32)
    for k, shape in shapes.items():
        if out[k].shape != tuple(shape):
            raise VarbenchError(f"params_file {path!r}: {k!r} has shape {out[k].shape}, expected {tuple(shape)}")
    return out


def save_params_file(path: str, params: dict[str, Any]) -> None:
    """Write params in the format :func:`load_params_file` reads."""
    np.savez(path, **{k: np.asarray(v) for k, v in params.items()})

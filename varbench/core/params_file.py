"""Params as files: an ``.npz`` archive keyed by parameter name (written by ``varbench trace --save-params``, read
by the amortized problems' ``params_file`` option). NumPy only, so every layer may use it.

A file is untrusted input: each member's header (shape and dtype) is checked against the parameter it fills before
its data is read, so a header that declares 10^12 numbers is refused rather than allocated, and the values must be
finite and within float32's range (Monte Carlo's dtype) before they are converted.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO, Any

import numpy as np

from varbench.core.errors import VarbenchError
from varbench.core.options import FLOAT32_MAX

_NPY_MAGIC = b"\x93NUMPY"
# What unreadable files and members raise (RuntimeError: an encrypted member; NotImplementedError: a compression
# method zipfile lacks).
_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, NotImplementedError)


def load_params_file(path: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Parameters from an ``.npz`` archive keyed by parameter name (the format written by ``varbench trace``).

    Args:
      path: the file.
      shapes: ``{name: shape}`` of the params it must hold.

    Returns:
      ``{name: float32 array}`` in the order of ``shapes``.

    Raises:
      VarbenchError: one line naming the file, and the key, the expected shape or the valid keys: a missing or
        unreadable file, a single ``.npy`` array, a missing key, an array of another shape or of non-real dtype,
        or values that are NaN, infinite or beyond float32's range.
    """
    keys = ", ".join(shapes)
    if not os.path.isfile(path):
        raise VarbenchError(f"params_file {path!r} does not exist; give an .npz file with keys {keys}")
    magic = b""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
        archive = zipfile.ZipFile(path)
    except _ERRORS as err:  # not a NumPy file at all (random bytes, empty, a pickle), or unreadable
        if magic == _NPY_MAGIC:  # a single .npy array has no parameter names
            raise VarbenchError(f"params_file {path!r} is a single array, not an .npz archive with keys {keys}"
                                ) from None
        raise VarbenchError(f"params_file {path!r} is not an .npz archive of arrays ({type(err).__name__}); give one "
                            f"with keys {keys}, as written by 'varbench trace --save-params'") from None
    with archive:
        members = {name.removesuffix(".npy"): name for name in archive.namelist()}
        missing = [k for k in shapes if k not in members]
        if missing:
            raise VarbenchError(f"params_file {path!r} lacks {', '.join(missing)}; valid keys: {keys}")
        out = {}
        for k, shape in shapes.items():
            try:
                with archive.open(members[k]) as member:
                    value = _read_member(path, k, tuple(shape), member)
            except VarbenchError:  # (a ValueError too) the header's own one-line refusal
                raise
            except _ERRORS as err:  # a corrupt member or header
                raise VarbenchError(f"params_file {path!r}: {k!r} is not a readable array ({type(err).__name__})"
                                    ) from None
            out[k] = _as_float32(path, k, value)
    return out


def _read_member(path: str, key: str, shape: tuple[int, ...], member: IO[bytes]) -> np.ndarray:
    """The array of one member, read only once its header declares a real dtype and the expected shape."""
    version = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    declared, _, dtype = read_header(member)
    if dtype.hasobject:  # reading it would need pickle, which a params file never uses
        raise VarbenchError(f"params_file {path!r}: {key!r} is not a readable array (dtype {dtype} holds Python "
                            "objects); it must hold real numbers")
    if dtype.kind not in "iuf":
        raise VarbenchError(f"params_file {path!r}: {key!r} must hold real numbers; got dtype {dtype}")
    if tuple(declared) != shape:
        raise VarbenchError(f"params_file {path!r}: {key!r} has shape {tuple(declared)}, expected {shape}")
    member.seek(0)
    return np.lib.format.read_array(member, allow_pickle=False)


def _as_float32(path: str, key: str, value: np.ndarray) -> np.ndarray:
    """``value`` in float32, refused in one line if it holds NaN, inf or a magnitude float32 cannot hold."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(value) | (np.abs(value) > FLOAT32_MAX) if value.dtype.kind == "f" else None
    if bad is not None and bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f" at index {index}" if index else ""
        raise VarbenchError(f"params_file {path!r}: {key!r} holds {value[index]}{at}; params must be finite and "
                            f"within float32's range (|x| <= {FLOAT32_MAX:.4g})")
    return np.asarray(value, np.float32)


def save_params_file(path: str, params: dict[str, Any]) -> None:
    """Write params in the format :func:`load_params_file` reads.

    Args:
      path: the file to write.
      params: ``{name: array}``.
    """
    np.savez(path, **{k: np.asarray(v) for k, v in params.items()})

"""Files of a result store written atomically, and the error for a directory that is not a readable store.

The lowest layer of the store: :mod:`varbench.reports.manifest` writes ``manifest.json`` with it and
:mod:`varbench.reports.store` its cell files, so neither needs the other for that. Needs no JAX.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable


#: Characters a file name or an HTML anchor derived from store text may keep; every other run becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: Longest stem kept (file systems allow 255 bytes; a hash suffix follows a shortened or changed name).
MAX_STEM = 80


def safe_stem(name: str) -> str:
    """A file name stem (and HTML anchor) derived from ``name``, text that comes from a store or a config: only
    letters, digits, ``_``, ``.`` and ``-``, no leading dot, at most :data:`MAX_STEM` characters, so that a block named
    ``../escaped`` or ``/etc/x`` writes inside the report folder and nowhere else. A name that had to change gets a
    short hash of the original, so two names never map to one file. Valid block names (letters, digits, ``-``,
    ``_``) come back unchanged.

    Args:
      name: the text to derive a stem from.

    Returns:
      The stem.
    """
    stem = _UNSAFE.sub("_", str(name)).lstrip(".-_")[:MAX_STEM] or "section"
    if stem != name:
        stem = f"{stem}-{hashlib.sha256(str(name).encode()).hexdigest()[:10]}"
    return stem


class StoreError(ValueError):
    """A directory is not a readable result store (reported to people as one line)."""


class StoreAccessError(StoreError):
    """The operating system refused a store's file (no permission, a full disk): a fault of the environment, not
    bad input, so the command line exits with status 1 (one line naming the path and the OS error)."""

    @classmethod
    def of(cls, err: OSError, doing: str, path: str | os.PathLike) -> StoreAccessError:
        """The error for an operating-system error.

        Args:
          err: the error.
          doing: what was being done to ``path`` (``"write the cell file"``).
          path: the file.

        Returns:
          The error, its message one line: ``cannot <doing> '<path>': <reason> [<errno name>]``.
        """
        reason = err.strerror or (str(err).splitlines() or [type(err).__name__])[0]
        code = f" [{errno.errorcode.get(err.errno, err.errno)}]" if err.errno else ""
        return cls(f"cannot {doing} {str(path)!r}: {reason}{code}")


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a fresh file beside ``path``, then move it into place with ``os.replace``.

    A killed or failing writer never leaves a truncated file under ``path``, and writing again replaces it. The
    temporary name is hidden, unique and in the same directory (so the move is atomic) and ends in ``suffix``
    (writers such as ``np.savez`` append an extension unless the name already has it). It is created with
    ``O_EXCL`` and mode 0o666, so the umask applies as for any file (``tempfile.mkstemp``'s 0o600 would hide
    results from co-workers).

    Args:
      path: the file's final name.
      write: writes the content to the temporary file whose name it is given.
      suffix: the end of the temporary name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{uuid.uuid4().hex}{suffix}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

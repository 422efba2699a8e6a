"""One writer per result store: an exclusive lock file ``DIR/.lock``.

Two processes that write the same store interleave their cells and manifests: one run's cells replace the other's,
and a different config's cells end up in a store whose manifest does not describe them. :class:`StoreLock` makes
the writer exclusive. The lock is a small JSON file ``{pid, host, started, command, token}`` created atomically
(written under a temporary name, then hard-linked to ``.lock``, which fails if the name exists; where the file
system has no hard links, ``O_CREAT | O_EXCL``), so a lock file always holds its whole content and exactly one
process creates it.

A lock that cannot be taken is:

- held by a live process on this host: refused, naming its pid and command (or, with ``wait``, polled until it is
  released);
- held by a process on this host that no longer exists (killed, crashed): *stale*; it is taken over with a
  warning. The take-over is serialized with ``flock`` on the store's directory, so that two processes that find
  the same stale lock do not both take it;
- held by another host: refused, naming host and pid; its liveness cannot be checked from here, so the message says
  to delete the file if that host is known to be down.

Only writers lock: reading a store (``results``, ``report``, ``store verify``) needs no lock, because every file is
replaced atomically (:func:`varbench.reports.store.atomic_write`). This module needs no JAX.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable

from varbench.reports.store import LOCK, StoreError, describe_holder, read_lock

__all__ = ["LOCK", "POLL_SECONDS", "StaleLockWarning", "StoreLock", "StoreLockedError", "describe_holder",
           "host_name", "pid_alive", "read_lock"]

#: Seconds between two looks at a busy lock while waiting.
POLL_SECONDS = 0.5


class StoreLockedError(StoreError):
    """The store is locked by another writer (reported to people as one line)."""


class StaleLockWarning(UserWarning):
    """A lock left by a process that no longer exists was taken over."""


def host_name() -> str:
    """This host's name, as a lock records it.

    Returns:
      The host name.
    """
    return socket.gethostname()


def pid_alive(pid: object) -> bool:
    """Whether a process exists on this host.

    Args:
      pid: the process id (anything else, such as a lock's unreadable field, is no process).

    Returns:
      True when it exists and is not a zombie.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StoreLock:
    """An exclusive lock on the result store at ``root`` (a context manager).

    Args:
      root: the store's directory; created (with its parents) if missing, and removed again on release if the lock
        was all it ever held, so a refused command leaves nothing behind.
      command: what holds the lock, as shown to a refused writer.
      wait: poll until the lock is free instead of refusing.
      timeout: with ``wait``, give up (refuse) after this many seconds; None waits for ever.
      on_wait: called once with a line saying what is waited for.
      poll: with ``wait``, seconds between two looks at the lock.

    Raises:
      StoreLockedError: the lock is held (and ``wait`` is False, or the timeout passed).
    """

    def __init__(self, root: str | os.PathLike, *, command: str = "", wait: bool = False,
                 timeout: float | None = None, on_wait: Callable[[str], None] | None = None,
                 poll: float = POLL_SECONDS) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK
        self.command, self.wait, self.timeout, self.on_wait, self.poll = command, wait, timeout, on_wait, poll
        self.token = uuid.uuid4().hex
        self.held = False
        self.created: list[Path] = []  # directories this lock created, deepest first
        self.took_over: dict[str, Any] | None = None

    # --- taking and releasing ---------------------------------------------------------------------------------
    def acquire(self) -> StoreLock:
        """Take the lock (creating the store's directory), waiting if asked to; a stale lock is taken over.

        Returns:
          This lock, held.

        Raises:
          StoreLockedError: another writer holds it (and ``wait`` is False, or the timeout passed).
          StoreError: the store's directory cannot be created.
        """
        missing = self.root
        while not missing.exists() and missing != missing.parent:
            self.created.append(missing)
            missing = missing.parent
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            self.created = []
            raise StoreError(f"cannot create the result store {str(self.root)!r}: {err.strerror or err}") from None
        start, told = time.monotonic(), False
        try:
            while True:
                holder = read_lock(self.root)  # looked at first: a refusal writes nothing
                if holder is None:
                    if self._try_create():
                        self.held = True
                        return self
                    continue  # another writer created it between our look and our attempt
                if self._stale(holder) and self._take_over(holder):
                    self.held = True
                    return self
                if not self.wait or (self.timeout is not None and time.monotonic() - start > self.timeout):
                    raise StoreLockedError(self._refusal(holder))
                if not told and self.on_wait is not None:
                    self.on_wait(f"waiting for the result store {str(self.root)!r}: locked by "
                                 f"{describe_holder(holder)}")
                    told = True
                time.sleep(self.poll)
        except BaseException:
            self._remove_created_root()
            raise

    def check(self) -> None:
        """Refuse now (:class:`StoreLockedError`) if a live writer holds the lock; writes nothing. A stale lock, or
        none, passes (``acquire`` then takes it)."""
        holder = read_lock(self.root)
        if holder is not None and not self._stale(holder):
            raise StoreLockedError(self._refusal(holder))

    def release(self) -> None:
        """Remove the lock if it is still ours (never another writer's); idempotent."""
        if self.held:
            holder = read_lock(self.root)
            if holder is not None and holder.get("token") == self.token:
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
            self.held = False
        self._remove_created_root()

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # --- internals ----------------------------------------------------------------------------------------------
    def _content(self) -> str:
        return json.dumps(dict(pid=os.getpid(), host=host_name(), started=_now(), command=self.command,
                               token=self.token))

    def _try_create(self) -> bool:
        """Create the lock file with its whole content in one step; False if it exists."""
        tmp = self.root / f".lock.{self.token}.tmp"
        tmp.write_text(self._content(), encoding="utf-8")
        try:
            os.link(tmp, self.path)  # atomic, and fails if the name exists (also on NFS)
            return True
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            return self._try_create_excl()  # a file system without hard links
        finally:
            tmp.unlink(missing_ok=True)

    def _try_create_excl(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self._content())
        return True

    def _stale(self, holder: dict[str, Any]) -> bool:
        return bool(holder) and holder.get("host") == host_name() and not pid_alive(holder.get("pid"))

    def _take_over(self, holder: dict[str, Any]) -> bool:
        """Replace a stale lock by ours, serialized with other processes that found it stale too."""
        import fcntl

        guard = os.open(self.root, os.O_RDONLY)  # the directory itself: no extra file in the store
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)
            if read_lock(self.root) != holder:  # someone else took it over (or it was released) meanwhile
                return False
            self.path.unlink(missing_ok=True)
            if not self._try_create():
                return False
        finally:
            os.close(guard)  # releases the flock
        self.took_over = holder
        warnings.warn(StaleLockWarning(
            f"took over the lock of {str(self.root)!r} left by {describe_holder(holder)}, a process that no longer "
            "exists (killed or crashed); its finished cells are kept"), stacklevel=3)
        return True

    def _refusal(self, holder: dict[str, Any]) -> str:
        where = f"the result store {str(self.root)!r} is locked by {describe_holder(holder)}"
        if holder and holder.get("host") != host_name():
            return (f"{where}, another host; if that host is known to be down, delete {str(self.path)!r}; or choose "
                    "another --out, or wait for it with --wait")
        if not holder:
            return (f"{where}; if no varbench process writes there, delete {str(self.path)!r}; or choose another "
                    "--out, or wait with --wait")
        return f"{where}, which is still running; choose another --out, or wait for it with --wait"

    def _remove_created_root(self) -> None:
        """Directories this lock created that hold nothing else are removed again (a refused command leaves
        nothing)."""
        if self.held:
            return
        for folder in self.created:
            try:
                folder.rmdir()
            except OSError:  # not empty: the store was written
                break
        self.created = []

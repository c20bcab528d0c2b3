"""One gwa-train process per workdir: an exclusive ``fcntl.flock`` on ``WORKDIR/.gwa-train.lock``.

The kernel releases the lock whenever the holder ends (exit, exception, SIGKILL), so a
stale lock file never blocks a restart. The file holds the holder's PID for the error line.

``gwa-train`` takes the lock in its first second, before JAX loads (:func:`acquire`, from
:func:`gwa_jax.run.run_guard.lock_early`), and :func:`workdir_lock` later takes that held lock
over instead of locking a second time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gwa_jax.run.workdir import LOCK_FILE

# Locks taken ahead of :func:`workdir_lock` in this process: real path of the workdir -> fd.
_held: dict[str, int] = {}


class WorkdirBusyError(Exception):
    """Another process holds the workdir's lock; the message is one line naming its PID."""


def _key(workdir: str | os.PathLike) -> str:
    return os.path.realpath(workdir)


def _lock(workdir: str | os.PathLike) -> int:
    """Takes the lock; returns the open descriptor that holds it."""
    path = Path(workdir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise WorkdirBusyError(
                f"workdir {workdir} is in use by another gwa-train (PID {holder}); wait for "
                f"it to end or stop it, or choose another --workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)  # Closing the descriptor releases the lock.
        raise
    return fd


def acquire(workdir: str | os.PathLike) -> None:
    """Takes the workdir's lock now and keeps it for a later :func:`workdir_lock` of the same
    workdir in this process; creates the workdir when missing.

    Raises:
      WorkdirBusyError: another process holds the lock.
      OSError: the workdir cannot be created or written.
    """
    fd = _lock(workdir)
    _held[_key(workdir)] = fd


def release(workdir: str | os.PathLike) -> None:
    """Gives up a lock taken by :func:`acquire` and not yet taken over (no-op otherwise)."""
    fd = _held.pop(_key(workdir), None)
    if fd is not None:
        os.close(fd)


def is_held(workdir: str | os.PathLike) -> bool:
    """Whether this process holds the lock taken by :func:`acquire` for ``workdir``."""
    return _key(workdir) in _held


@contextlib.contextmanager
def workdir_lock(workdir: str | os.PathLike) -> Iterator[Path]:
    """Holds the workdir's lock for the ``with`` block; creates the workdir when missing.

    A lock this process took earlier with :func:`acquire` is taken over, not taken again.

    Raises:
      WorkdirBusyError: another process holds the lock.
      OSError: the workdir cannot be created or written (e.g. a file, or read-only).
    """
    path = Path(workdir) / LOCK_FILE
    fd = _held.pop(_key(workdir), None) if os.path.isdir(workdir) else None
    if fd is None:
        fd = _lock(workdir)
    try:
        yield path
    finally:
        os.close(fd)  # Closing the descriptor releases the lock.

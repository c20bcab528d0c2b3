"""One gwa-train process per workdir: an exclusive ``fcntl.flock`` on ``WORKDIR/.gwa-train.lock``.

The kernel releases the lock whenever the holder ends (exit, exception, SIGKILL), so a
stale lock file never blocks a restart. The file holds the holder's PID for the error line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from gwa_jax.workdir import LOCK_FILE


class WorkdirBusyError(Exception):
    """Another process holds the workdir's lock; the message is one line naming its PID."""


@contextlib.contextmanager
def workdir_lock(workdir: str | os.PathLike) -> Iterator[Path]:
    """Holds the workdir's lock for the ``with`` block; creates the workdir when missing.

    Raises:
      WorkdirBusyError: another process holds the lock.
      OSError: the workdir cannot be created or written (e.g. a file, or read-only).
    """
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
        yield path
    finally:
        os.close(fd)  # Closing the descriptor releases the lock.

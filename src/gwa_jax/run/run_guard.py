"""What surrounds one gwa-train run: the workdir lock, stray temporary files, a failed start
undone, and every way a run can end turned into one ``gwa-train: error: ...`` line.

:func:`guarded` is what the CLI calls; the training itself is
:func:`gwa_jax.train.trainer.train_and_evaluate`. :func:`lock_early` takes the workdir's lock from
a scan of the command line before JAX loads (a second gwa-train in the same workdir is refused
within a second, not after the start-up), and :func:`guarded` takes that lock over.
"""

from __future__ import annotations

import contextlib
import errno
import logging as std_logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from absl import logging

from gwa_jax.run.workdir import LOCK_FILE, _is_run_entry
from gwa_jax.run.workdir_lock import WorkdirBusyError, acquire, is_held, release, workdir_lock

#: Exit statuses of every command: bad input (a usage or config problem) and a failed run.
USAGE_EXIT, RUNTIME_EXIT = 2, 1
# Multi-host runs (see gwa_jax.train.sharding) lock in guarded(), once jax knows the process index.
DISTRIBUTED_VARS = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS", "GWA_DISTRIBUTED")
# Commands that take no lock: help, version, --print_config (cli.run handles them).
NO_LOCK_FLAGS = ("-h", "--help", "--helpshort", "--helpfull", "--version", "--print_config",
                 "--dry_run")
_FULL = ("No space left on device", "RESOURCE_EXHAUSTED", "Disk quota exceeded")


class RunError(Exception):
    """A run ended early; ``message`` is the one line to print and ``code`` the exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def remove_stray_temporaries(workdir: str | os.PathLike) -> list[str]:
    """Deletes ``.NAME.*.tmp`` files a killed atomic write left in the workdir and in
    ``alignment/``; returns their names."""
    removed = []
    for folder in (Path(workdir), Path(workdir) / "alignment"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if (entry.name.startswith(".") and entry.name.endswith(".tmp")
                    and entry.is_file()):
                entry.unlink()
                removed.append(str(entry))
    if removed:
        logging.info("Removed %d temporary file(s) left by an interrupted write", len(removed))
    return removed


def _disk_full(err: BaseException) -> str | None:
    """The path of a full-disk error anywhere in ``err``'s chain (or '' when unnamed)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return err.filename or ""
        text = str(err)
        if any(k in text for k in _FULL):
            found = re.search(r'"(/[^"]+)"', text) or re.search(r"(/[^\s'\",:]+)", text)
            # Name the checkpoint step being written, not a file deep inside orbax's layout.
            return found.group(1).split(".orbax-checkpoint-tmp")[0] if found else ""
        err = err.__cause__ or err.__context__
    return None


# Also the shutdown echo of a background checkpoint write still in flight when the process
# exits after reporting the failure (its thread pool is already shut down).
# Python's thread pools say "... after shutdown" or "... after interpreter shutdown".
_ECHOES = (*_FULL, "Event loop is closed", "Future exception was never retrieved",
           "cannot schedule new futures after")


def _is_echo(text: str) -> bool:
    return any(k in text for k in _ECHOES)


class _DropEchoes(std_logging.Filter):
    """Drops the library log records that repeat a failure the run reports in one line."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += str(record.exc_info[1])
        return record.levelno < std_logging.ERROR or not _is_echo(text)


def silence_echoes() -> None:
    """Background writers (orbax, tensorstore, asyncio) report a full disk from every thread,
    hundreds of tracebacks; the main thread's error names it once, so those echoes are dropped
    (from logging and from the thread/unraisable/except hooks). Other errors still print."""
    drop = _DropEchoes()
    for logger in (std_logging.getLogger(), std_logging.getLogger("asyncio"),
                   std_logging.getLogger("absl")):
        logger.addFilter(drop)
        for handler in logger.handlers:
            handler.addFilter(drop)
    old_thread, old_unraisable, old_except = (threading.excepthook, sys.unraisablehook,
                                              sys.excepthook)

    def thread_hook(args):
        if not _is_echo(str(args.exc_value)):
            old_thread(args)

    def unraisable_hook(args):
        if not _is_echo(str(args.exc_value)):
            old_unraisable(args)

    def except_hook(kind, value, tb):
        if not _is_echo(str(value)):
            old_except(kind, value, tb)

    threading.excepthook, sys.unraisablehook, sys.excepthook = (thread_hook, unraisable_hook,
                                                                except_hook)


class _Undo:
    """Remembers what a workdir held so a failed fresh start can leave it as it was."""

    def __init__(self, workdir: str):
        path = Path(os.path.abspath(workdir))
        self.created = path
        while not self.created.parent.exists():  # The outermost directory we will create.
            self.created = self.created.parent
        self.created = None if path.exists() else self.created
        self.path = path
        self.before = set(os.listdir(path)) if path.is_dir() else set()

    def undo(self) -> None:
        if not self.path.is_dir():
            return
        for name in set(os.listdir(self.path)) - self.before:
            entry = self.path / name
            if _is_run_entry(name) or name == LOCK_FILE:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if self.created is not None:
            for d in [self.path, *self.path.parents]:
                if not os.listdir(d):
                    d.rmdir()
                if d == self.created:
                    break


# The lock lock_early() took and guarded() has not taken over: {"workdir", "undo"}.
_early: dict[str, Any] = {}


def workdir_from_argv(argv: list[str]) -> str | None:
    """The ``--workdir DIR`` / ``--workdir=DIR`` absl will parse from ``argv`` (the last one
    wins), or None when there is none or a ``--flagfile`` could name another."""
    found = None
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":  # absl reads no flags after it.
            break
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "flagfile":
            return None
        if name == "workdir":
            if not eq:
                if i >= len(args):
                    return None
                value, i = args[i], i + 1
            found = value
    return found or None


def lock_early(argv: list[str]) -> None:
    """Takes the lock of the command line's workdir, before anything heavy is imported.

    A workdir held by another process ends the command here: one ``gwa-train: error: ...``
    line naming the holder's PID, exit 2. Anything else that stops the lock now (a workdir
    that is a file or cannot be written, no ``--workdir``, a multi-host run) is left to
    :func:`guarded`, which reports it with its usual line. A start that ends before
    :func:`guarded` (bad input) calls :func:`undo_early_start`.
    """
    if any(a in NO_LOCK_FLAGS for a in argv[1:]) or any(os.environ.get(v)
                                                        for v in DISTRIBUTED_VARS):
        return
    workdir = workdir_from_argv(argv)
    if workdir is None or (os.path.exists(workdir) and not os.path.isdir(workdir)):
        return
    undo = _Undo(workdir)
    try:
        acquire(workdir)
    except WorkdirBusyError as err:
        print(f"gwa-train: error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except OSError:
        undo.undo()
        return
    _early.update(workdir=workdir, undo=undo)


def undo_early_start() -> None:
    """Releases a lock :func:`lock_early` took that no run took over, and leaves the workdir
    as the command found it (the lock file and directories it created are removed)."""
    if not _early:
        return
    workdir, undo = _early.pop("workdir"), _early.pop("undo")
    try:
        undo.undo()
    finally:
        release(workdir)


def _take_over_early_lock(workdir: str) -> _Undo | None:
    """The start-of-command snapshot of ``workdir`` when :func:`lock_early` holds its lock."""
    if not _early:
        return None
    if (os.path.realpath(_early["workdir"]) == os.path.realpath(workdir)
            and is_held(workdir)):
        _early.pop("workdir")
        return _early.pop("undo")
    undo_early_start()  # Locked another directory than the one parsed: give it back.
    return None


def guarded(config: Any, workdir: str, overwrite: bool,
            body: Callable[[str], int]) -> int:
    """Runs ``body(state)`` (state: fresh/resume/finished) holding the workdir's lock.

    Raises:
      RunError: with one line and the exit status for every expected way to fail.
    """
    # A deliberate late import to keep start-up light: the lock is taken before these (and JAX)
    # load.
    from gwa_jax.config_check import ConfigError
    from gwa_jax.data import DatasetNotFoundError
    from gwa_jax.run.checkpoints import DamagedCheckpointError
    from gwa_jax.run.interrupt import Interrupted
    from gwa_jax.run.workdir import prepare_workdir

    early = _take_over_early_lock(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise RunError(f"--workdir {workdir} is a file, not a directory; choose another "
                       f"--workdir", USAGE_EXIT)
    undo = early or _Undo(workdir)  # As the command found it, before its lock was taken.
    state = None
    silence_echoes()
    # A deliberate late import to keep start-up light: the lock is taken before these (and JAX)
    # load.
    import jax

    # Multi-host: every process shares the workdir; the first one holds the lock for all.
    lock = workdir_lock(workdir) if jax.process_index() == 0 else contextlib.nullcontext()
    try:
        with lock:
            try:
                state = prepare_workdir(config, workdir, overwrite)
                remove_stray_temporaries(workdir)
                return body(state)
            except (ConfigError, DatasetNotFoundError):
                undo.undo()  # Raised before training starts: leave the workdir as it was.
                raise
    except WorkdirBusyError as err:
        raise RunError(str(err), USAGE_EXIT) from None
    except (ConfigError, DatasetNotFoundError) as err:
        raise RunError(str(err), USAGE_EXIT) from None
    except DamagedCheckpointError as err:
        raise RunError(str(err), RUNTIME_EXIT) from None
    except Interrupted as err:
        raise RunError(str(err), err.exit_code) from None
    except Exception as err:  # noqa: BLE001 - sorted below; anything else is a real bug.
        full = _disk_full(err)
        if full is not None:
            raise RunError(f"no space left on the device writing {full or workdir}; earlier "
                           f"files are intact, free some space and rerun the same command to "
                           f"resume", RUNTIME_EXIT) from None
        if isinstance(err, OSError) and state is None:
            reason = err.strerror or type(err).__name__
            raise RunError(f"cannot create or write --workdir {workdir} ({reason}); choose "
                           f"another --workdir", USAGE_EXIT) from None
        raise

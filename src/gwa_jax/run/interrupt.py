"""SIGINT / SIGTERM for gwa-train: stop after the current step with a checkpoint, no traceback.

:func:`install` blocks both signals in every thread and waits for them in one daemon thread,
so a signal is seen at once even while the main thread is inside XLA (compiling, or a long
device call); it imports nothing but the standard library, and the ``gwa-train`` entry point
(:mod:`gwa_jax.cli.train`) calls it on its first line, before JAX or TensorFlow load. Before
:func:`defer` (imports, data loading, compiling and running the first train step) a signal
ends the process at once with one line: nothing has been trained yet that a checkpoint could
keep, and every file written so far is complete (writes are atomic). Once the first step is
done, the first signal only sets a flag that the loop checks after every step (it then saves
a mid-epoch checkpoint and raises :class:`Interrupted`); a second signal ends the process at
once, leaving the last checkpoint.
"""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_lock = threading.Lock()
_state: dict = {"signum": None, "deferred": False, "installed": False}


class Interrupted(Exception):
    """The run stopped on a signal; the message is one line saying how to resume."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


def _say(text: str) -> None:
    os.write(2, f"gwa-train: {text}\n".encode())


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def _on_signal(signum: int) -> None:
    with _lock:
        if _state["signum"] is None and _state["deferred"]:
            _state["signum"] = signum
            return
        first = _state["signum"] is None
    if first:
        _say(f"interrupted by {_name(signum)} before training started; rerun the same "
             f"command to start (or resume) the run")
    else:
        _say(f"interrupted again by {_name(signum)}; exited without saving, rerun the same "
             f"command to resume from the last checkpoint")
    os._exit(128 + signum)


def _wait_loop() -> None:
    while True:
        _on_signal(signal.sigwait(SIGNALS))


def install() -> None:
    """Routes SIGINT/SIGTERM to a watcher thread; call first in the main thread, before any
    other thread starts (threads inherit the blocked mask)."""
    if _state["installed"]:
        return
    for sig in SIGNALS:  # For a thread started before this call, whose mask lets them in.
        signal.signal(sig, lambda signum, _frame: _on_signal(signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    threading.Thread(target=_wait_loop, name="gwa-train-signals", daemon=True).start()
    _state["installed"] = True


def defer() -> None:
    """From now on the first signal is a request to stop after the current step."""
    with _lock:
        _state["deferred"] = True


def requested() -> int | None:
    """The signal number of a pending stop request, or None."""
    return _state["signum"]


def signal_name() -> str:
    """The pending signal's name (e.g. SIGINT), for messages."""
    return _name(_state["signum"]) if _state["signum"] is not None else "a signal"

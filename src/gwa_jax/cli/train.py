"""The ``gwa-train`` console script (and ``python -m gwa_jax``), light on purpose.

Importing JAX, TensorFlow and the models takes seconds (a minute on a loaded machine). This
module imports only the standard library and :mod:`gwa_jax.run.interrupt`, so that the first
thing the command does is install its SIGINT/SIGTERM handling (a signal at any moment gives
one line and exit status 130/143, never a traceback), and the second is to take the
workdir's lock (a second command in the same workdir exits 2 within a second). Only then does
:func:`gwa_jax.cli.train_run.run` import the rest.
"""

from __future__ import annotations

import sys

from gwa_jax.run import interrupt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point of ``gwa-train``."""
    interrupt.install()  # First: SIGINT/SIGTERM never raise a traceback (or a segfault).
    argv = list(sys.argv if argv is None else argv)
    # A deliberate late import to keep start-up light: it loads ml_collections and numpy,
    # after the signal handling is installed.
    from gwa_jax.run import run_guard

    run_guard.lock_early(argv)  # Exits 2 here when another gwa-train holds the workdir.
    try:
        # A deliberate late import to keep start-up light: JAX, TensorFlow, absl's app.
        from gwa_jax.cli.train_run import run

        run(argv)
    finally:
        run_guard.undo_early_start()  # Only when the command ended before the run began.


if __name__ == "__main__":
    main()

"""The console scripts, one module per command: ``gwa-train`` (:mod:`~gwa_jax.cli.train`, the
light entry point, then :mod:`~gwa_jax.cli.train_run` and :mod:`~gwa_jax.cli.train_config`),
``gwa-sweep`` (:mod:`~gwa_jax.cli.sweep`), ``gwa-report`` (:mod:`~gwa_jax.cli.report`) and
``gwa-inspect`` (:mod:`~gwa_jax.cli.inspect`).

Imports nothing, so that ``gwa-train`` installs its signal handling before JAX loads.
``gwa_jax.cli`` was the ``gwa-train`` module (today's :mod:`gwa_jax.cli.train_run`); its
names still resolve here, with a ``DeprecationWarning``, for one release.
"""

import importlib as _importlib
import warnings as _warnings

_OLD_NAMES = ("USAGE_EXIT", "UsageError", "make_flag_values", "parse_command_line", "run")


def __getattr__(name: str) -> object:
    if name not in _OLD_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _warnings.warn(f"gwa_jax.cli.{name} moved to gwa_jax.cli.train_run.{name}",
                   DeprecationWarning, stacklevel=2)
    # A deliberate late import to keep start-up light: JAX loads with the old module's names.
    return getattr(_importlib.import_module(f"{__name__}.train_run"), name)

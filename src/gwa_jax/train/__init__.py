"""Training: the jitted step and its state (:mod:`~gwa_jax.train.step`), the epoch loop
(:mod:`~gwa_jax.train.trainer`), optimizers and schedules (:mod:`~gwa_jax.train.optim`),
gradient accumulation (:mod:`~gwa_jax.train.grad_accum`), data parallelism
(:mod:`~gwa_jax.train.sharding`) and initialising from pretrained weights
(:mod:`~gwa_jax.train.init_from`).

``gwa_jax.train`` was one module (today's :mod:`gwa_jax.train.step`); its names still resolve
here, with a ``DeprecationWarning``, for one release.
"""

import importlib as _importlib
import warnings as _warnings


def __getattr__(name: str) -> object:
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # A deliberate late import: the old flat module's names, forwarded on first use.
    step = _importlib.import_module(f"{__name__}.step")
    if not hasattr(step, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _warnings.warn(f"gwa_jax.train.{name} moved to gwa_jax.train.step.{name}",
                   DeprecationWarning, stacklevel=2)
    return getattr(step, name)
